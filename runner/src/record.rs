//! `rlx record RUN_DIR`: a GIF of the trained agent playing, as `rlx eval` plays (same envs, same actions), with
//! the episode number and its running return written in a band under each frame.
//!
//! Frames come from the env's `render()` (Atari: ALE's RGB screen; classic control: drawn as Gymnasium draws
//! it) and are encoded with the `gif` crate: one after the reset, then one after each step. The vector env resets
//! an episode on the step that ends it (SB3's autoreset), so the frame after an episode's last step is already the
//! next episode's first: each episode shows its `length` frames, from its first state to the one before its end,
//! and a video of N episodes has exactly the sum of their lengths.

use crate::eval::{self, EvalArgs};
use anyhow::{bail, Context, Result};
use font8x8::UnicodeFonts;
use rlx_envs::render::RgbFrame;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Height in pixels of one text line at scale 1 (8-pixel glyphs and a margin).
const LINE: usize = 12;

pub fn run(run_dir: &Path, out: Option<PathBuf>, args: &EvalArgs) -> Result<()> {
    let out = out.unwrap_or_else(|| run_dir.join("video.gif"));
    match out.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("gif") => {}
        _ => bail!(
            "--out {}: rlx writes GIF videos (.gif); no pure-Rust crate encodes H.264, so for an .mp4 convert the \
             GIF (ffmpeg -i video.gif video.mp4)",
            out.display()
        ),
    }
    // Written beside the target and renamed at the end, so an error or Ctrl-C never leaves half a video.
    let tmp = out.with_extension("gif.tmp");
    let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let mut recorder = Recorder::new(BufWriter::new(file), args.episodes);
    let result = eval::play_run(run_dir, args, Some(&mut recorder)).and_then(|played| {
        let frames = recorder.finish()?;
        Ok((played.returns, frames))
    });
    let (returns, frames) = match result {
        Ok(done) => done,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &out).with_context(|| format!("cannot write {}", out.display()))?;
    let shown: Vec<String> = returns.iter().map(|r| format!("{r}")).collect();
    println!("episodes {} (returns {})", returns.len(), shown.join(", "));
    println!("frames {frames}");
    println!("video {}", out.display());
    Ok(())
}

/// Encodes frames into a GIF as they come, with the label band drawn in.
pub struct Recorder {
    writer: Option<BufWriter<File>>,
    encoder: Option<gif::Encoder<BufWriter<File>>>,
    episodes: usize,
    episode: usize,
    episode_return: f64,
    frames: usize,
}

impl Recorder {
    fn new(writer: BufWriter<File>, episodes: usize) -> Self {
        Recorder { writer: Some(writer), encoder: None, episodes, episode: 1, episode_return: 0.0, frames: 0 }
    }

    /// Adds `frame`, shown `1 / fps` seconds. `reward` is the raw reward of the step that led to it, `episode_end`
    /// says that step finished an episode (the frame then shows the next episode's start).
    pub fn push(&mut self, frame: RgbFrame, fps: u32, reward: f64, episode_end: bool) -> Result<()> {
        if episode_end {
            (self.episode, self.episode_return) = (self.episode + 1, 0.0);
        } else {
            self.episode_return += reward;
        }
        if self.episode > self.episodes {
            // The reset after the last episode: nothing of it belongs to the video.
            return Ok(());
        }
        // The episode counter goes where the frame is wide enough (Atari screens are 160 pixels: 20 glyphs).
        let score = format!("return {}", show(self.episode_return));
        let full = format!("ep {}/{} {score}", self.episode, self.episodes);
        let labelled = with_label(&frame, if fits(&frame, &full) { &full } else { &score });
        let (width, height) = (labelled.width as u16, labelled.height as u16);
        if self.encoder.is_none() {
            let writer = self.writer.take().expect("the writer until the first frame");
            let mut encoder = gif::Encoder::new(writer, width, height, &[]).context("cannot start the GIF")?;
            encoder.set_repeat(gif::Repeat::Infinite).context("cannot write the GIF")?;
            self.encoder = Some(encoder);
        }
        // At most 256 colours per GIF frame: Atari screens have fewer and keep them exactly; anti-aliased
        // classic-control frames are reduced by NeuQuant (speed 10, the crate's suggested trade-off).
        let mut gif_frame = gif::Frame::from_rgb_speed(width, height, &labelled.pixels, 10);
        gif_frame.delay = (100.0 / fps.max(1) as f64).round() as u16; // hundredths of a second
        self.encoder.as_mut().unwrap().write_frame(&gif_frame).context("cannot write the GIF")?;
        self.frames += 1;
        Ok(())
    }

    /// Flushes the file; returns the number of frames written.
    fn finish(&mut self) -> Result<usize> {
        let encoder = self.encoder.take().context("no frame was recorded")?;
        let file = encoder.into_inner().context("cannot write the GIF")?;
        file.into_inner().map_err(|e| e.into_error()).context("cannot write the GIF")?.sync_all()?;
        Ok(self.frames)
    }
}

/// A return as a score board shows it: whole numbers without decimals, others with two.
fn show(value: f64) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Glyphs are scaled by 2 on frames 400+ pixels wide (classic control), by 1 on smaller ones (Atari).
fn glyph_scale(frame: &RgbFrame) -> usize {
    if frame.width >= 400 {
        2
    } else {
        1
    }
}

/// Whether `text` fits in the band under `frame` (2-pixel margins).
fn fits(frame: &RgbFrame, text: &str) -> bool {
    (4 + 8 * text.chars().count()) * glyph_scale(frame) <= frame.width
}

/// Draws `text` into an RGB image `width` pixels wide with its top-left corner at (`x`, `y`): font8x8's glyphs,
/// each pixel `scale` x `scale`, in `color`; what falls outside the image is cut.
pub fn draw_text(pixels: &mut [u8], width: usize, x: usize, y: usize, text: &str, scale: usize, color: [u8; 3]) {
    let height = pixels.len() / (3 * width);
    for (i, c) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(c).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8 {
                if bits & (1 << col) == 0 {
                    continue; // bit 0 is the glyph's leftmost pixel
                }
                for (dy, dx) in (0..scale).flat_map(|dy| (0..scale).map(move |dx| (dy, dx))) {
                    let (px, py) = (x + (i * 8 + col) * scale + dx, y + row * scale + dy);
                    if px < width && py < height {
                        pixels[3 * (py * width + px)..3 * (py * width + px) + 3].copy_from_slice(&color);
                    }
                }
            }
        }
    }
}

/// `frame` with a black band under it holding `text` in white (font8x8's glyphs; what does not fit is cut).
fn with_label(frame: &RgbFrame, text: &str) -> RgbFrame {
    let scale = glyph_scale(frame);
    let band = LINE * scale;
    let (width, height) = (frame.width, frame.height + band);
    let mut pixels = frame.pixels.clone();
    pixels.resize(width * height * 3, 0);
    let top = frame.height + (band - 8 * scale) / 2;
    draw_text(&mut pixels, width, 2 * scale, top, text, scale, [255, 255, 255]);
    RgbFrame::new(width, height, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_band_keeps_the_frame_and_writes_white_text_below_it() {
        let frame = RgbFrame::new(160, 210, vec![7; 160 * 210 * 3]);
        let labelled = with_label(&frame, "1");
        let glyph: u32 = font8x8::BASIC_FONTS.get('1').unwrap().iter().map(|row| row.count_ones()).sum();
        assert_eq!((labelled.width, labelled.height), (160, 210 + LINE));
        assert_eq!(&labelled.pixels[..frame.pixels.len()], &frame.pixels[..]);
        let white = (210..210 + LINE).flat_map(|y| (0..160).map(move |x| (x, y)));
        let lit = white.filter(|&(x, y)| labelled.pixel(x, y) == [255, 255, 255]).count();
        assert!(glyph > 0);
        assert_eq!(lit, glyph as usize);
    }
}
