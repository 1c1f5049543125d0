//! The attention map of one translation as a PNG, like the "visualizing attention" figures of Bahdanau et al.
//! 2015 and Vaswani et al. 2017: source characters along the top, output characters (and EOS) down the left, each
//! cell's darkness the weight the decoder gave that source character when it wrote that output character.

use crate::record::draw_text;
use anyhow::{Context, Result};
use std::path::Path;

/// Cell size and the margin for the labels, in pixels.
const CELL: usize = 28;
const MARGIN: usize = 48;

/// `attention[output step][source position]` (rows summing to 1) for `source` -> `output`.
pub fn write_png(path: &Path, source: &str, output: &str, attention: &[Vec<f32>]) -> Result<()> {
    let columns: Vec<char> = source.chars().collect();
    let mut rows: Vec<String> = output.chars().map(|c| c.to_string()).collect();
    rows.push("EOS".into());
    rows.truncate(attention.len());
    let (width, height) = (MARGIN + CELL * columns.len() + 8, MARGIN + CELL * rows.len() + 8);
    let mut pixels = vec![255u8; width * height * 3];
    for (r, weights) in attention.iter().take(rows.len()).enumerate() {
        for (c, &w) in weights.iter().take(columns.len()).enumerate() {
            let shade = (255.0 * (1.0 - w.clamp(0.0, 1.0))) as u8;
            for y in MARGIN + r * CELL..MARGIN + (r + 1) * CELL - 1 {
                for x in MARGIN + c * CELL..MARGIN + (c + 1) * CELL - 1 {
                    pixels[3 * (y * width + x)..3 * (y * width + x) + 3].copy_from_slice(&[shade, shade, shade]);
                }
            }
        }
    }
    let black = [0, 0, 0];
    for (c, ch) in columns.iter().enumerate() {
        draw_text(&mut pixels, width, MARGIN + c * CELL + CELL / 2 - 8, MARGIN - 22, &ch.to_string(), 2, black);
    }
    for (r, label) in rows.iter().enumerate() {
        let scale = if label.len() > 1 { 1 } else { 2 };
        draw_text(&mut pixels, width, 6, MARGIN + r * CELL + CELL / 2 - 4 * scale, label, scale, black);
    }
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(|| format!("cannot write {}", path.display()))?;
    writer.write_image_data(&pixels).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
