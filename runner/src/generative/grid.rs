//! Sample grids as PNG: generated (or real) grey images side by side, so a run's progress can be seen.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Pixels between images, and how many screen pixels one image pixel becomes.
const GAP: usize = 2;
const SCALE: usize = 2;

/// `path` must be a `.png` in a folder that exists: checked before any work, so a bad `--out` fails at once.
pub fn check_png_path(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()).map(|e| e.eq_ignore_ascii_case("png")) != Some(true) {
        bail!("{}: the grid is written as PNG; give a path ending in .png", path.display());
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("{}: folder {} does not exist", path.display(), parent.display());
    }
    Ok(())
}

/// Writes `images` (N, 1, H, W) with values in [0, 1] as a grid of `columns` columns (rows as needed) on a white
/// background, each pixel drawn `SCALE` x `SCALE`.
pub fn write_grid(path: &Path, images: &Tensor, columns: usize) -> Result<()> {
    let size = images.size();
    let (n, h, w) = (size[0] as usize, size[2] as usize, size[3] as usize);
    let columns = columns.clamp(1, n.max(1));
    let rows = n.div_ceil(columns);
    let bytes: Vec<u8> = Vec::try_from(
        (images.to_device(Device::Cpu).to_kind(Kind::Float).clamp(0.0, 1.0) * 255.0)
            .round()
            .to_kind(Kind::Uint8)
            .reshape([-1]),
    )?;
    let (cell_w, cell_h) = (w * SCALE + GAP, h * SCALE + GAP);
    let (width, height) = (columns * cell_w + GAP, rows * cell_h + GAP);
    let mut pixels = vec![255u8; width * height];
    for k in 0..n {
        let (x0, y0) = (GAP + (k % columns) * cell_w, GAP + (k / columns) * cell_h);
        for y in 0..h * SCALE {
            for x in 0..w * SCALE {
                pixels[(y0 + y) * width + x0 + x] = bytes[k * h * w + (y / SCALE) * w + x / SCALE];
            }
        }
    }
    let file = std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().with_context(|| format!("cannot write {}", path.display()))?;
    writer.write_image_data(&pixels).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_has_the_expected_size_and_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // Three 2x2 images: black, white, grey 0.5, in two columns.
        let images =
            Tensor::from_slice(&[0.0f32, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]).reshape([3, 1, 2, 2]);
        write_grid(&path, &images, 2).unwrap();
        let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buffer).unwrap();
        let cell = 2 * SCALE + GAP;
        assert_eq!((info.width as usize, info.height as usize), (2 * cell + GAP, 2 * cell + GAP));
        let at = |x: usize, y: usize| buffer[y * info.width as usize + x];
        assert_eq!(at(GAP, GAP), 0); // first image: black
        assert_eq!(at(GAP + cell, GAP), 255); // second: white
        assert_eq!(at(GAP, GAP + cell), 128); // third: grey, 0.5 * 255 rounded
        assert_eq!(at(GAP + cell, GAP + cell), 255); // no fourth image: background
    }

    #[test]
    fn bad_output_paths_are_refused() {
        assert!(check_png_path(Path::new("grid.jpg")).unwrap_err().to_string().contains("PNG"));
        assert!(check_png_path(Path::new("/no/such/folder/grid.png"))
            .unwrap_err()
            .to_string()
            .contains("does not exist"));
        assert!(check_png_path(Path::new("grid.png")).is_ok());
    }
}
