//! Rendering: what Gymnasium's `render()` returns in `rgb_array` mode, for episode videos (`rlx record`).
//!
//! Atari envs hand out ALE's RGB screen. The classic-control envs draw themselves as Gymnasium's pygame code does
//! (same canvas size, shapes, colours and coordinates: drawn with y up, then flipped), rasterized by `tiny-skia`, a
//! well-kept pure-Rust 2D renderer, with anti-aliased edges like pygame's `aapolygon`/`aacircle`.

use crate::error::{EnvError, Result};
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Stroke, Transform};

/// One rendered frame: `pixels` is `[height, width, 3]` RGB, row-major, top row first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbFrame {
    /// A frame from `[height * width * 3]` RGB bytes.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Self {
        assert_eq!(pixels.len(), width * height * 3, "RGB frame size");
        RgbFrame { width, height, pixels }
    }

    /// The `[r, g, b]` of pixel `(x, y)`, `y = 0` at the top.
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = 3 * (y * self.width + x);
        [self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]]
    }
}

pub(crate) type Rgb = (u8, u8, u8);

/// pygame's coordinate `(x, y)` names the pixel whose centre is at `(x + 0.5, y + 0.5)` in tiny-skia's continuous
/// plane: without this half-pixel shift a one-pixel line would straddle two rows at half intensity.
fn pixel_centres() -> Transform {
    Transform::from_translate(0.5, 0.5)
}
pub(crate) const BLACK: Rgb = (0, 0, 0);

/// A white canvas drawn in pygame's coordinates before Gymnasium's final vertical flip (origin top-left of the
/// unflipped surface, so y grows upwards in the finished frame).
pub(crate) struct Canvas {
    pixmap: Pixmap,
}

impl Canvas {
    pub fn new(width: u32, height: u32) -> Self {
        let mut pixmap = Pixmap::new(width, height).expect("a non-empty canvas");
        pixmap.fill(Color::WHITE);
        Canvas { pixmap }
    }

    fn paint(color: Rgb, anti_alias: bool) -> Paint<'static> {
        let mut paint = Paint::default();
        paint.set_color_rgba8(color.0, color.1, color.2, 255);
        paint.anti_alias = anti_alias;
        paint
    }

    fn path(points: &[(f64, f64)], close: bool) -> Option<tiny_skia::Path> {
        let mut path = PathBuilder::new();
        path.move_to(points[0].0 as f32, points[0].1 as f32);
        for &(x, y) in &points[1..] {
            path.line_to(x as f32, y as f32);
        }
        if close {
            path.close();
        }
        path.finish()
    }

    /// `gfxdraw.aapolygon` + `filled_polygon`: SDL_gfx truncates the vertices to whole pixels.
    pub fn polygon(&mut self, points: &[(f64, f64)], color: Rgb) {
        let points: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x.trunc(), y.trunc())).collect();
        if let Some(path) = Self::path(&points, true) {
            self.pixmap.fill_path(&path, &Self::paint(color, true), FillRule::Winding, pixel_centres(), None);
        }
    }

    /// `gfxdraw.aacircle` + `filled_circle` at a whole-pixel centre and radius: the filled disc reaches the pixels
    /// within `radius` of the centre pixel, half a pixel further than a disc of that radius.
    pub fn circle(&mut self, center: (f64, f64), radius: f64, color: Rgb) {
        let (x, y, r) = (center.0.trunc() as f32, center.1.trunc() as f32, radius.trunc() as f32 + 0.5);
        if let Some(path) = PathBuilder::from_circle(x, y, r) {
            self.pixmap.fill_path(&path, &Self::paint(color, true), FillRule::Winding, pixel_centres(), None);
        }
    }

    /// `pygame.draw.line`, `gfxdraw.hline` and `vline`: one-pixel lines between whole pixels, not anti-aliased.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), color: Rgb) {
        if let Some(path) = Self::path(&[(from.0.trunc(), from.1.trunc()), (to.0.trunc(), to.1.trunc())], false) {
            let stroke = Stroke { width: 1.0, ..Stroke::default() };
            self.pixmap.stroke_path(&path, &Self::paint(color, false), &stroke, pixel_centres(), None);
        }
    }

    /// `pygame.draw.aalines`: an anti-aliased one-pixel polyline through float points.
    pub fn aalines(&mut self, points: &[(f64, f64)], color: Rgb) {
        if let Some(path) = Self::path(points, false) {
            let stroke = Stroke { width: 1.0, ..Stroke::default() };
            self.pixmap.stroke_path(&path, &Self::paint(color, true), &stroke, pixel_centres(), None);
        }
    }

    /// The finished frame, flipped vertically as Gymnasium does (`pygame.transform.flip(surf, False, True)`).
    pub fn into_frame(self) -> RgbFrame {
        let (width, height) = (self.pixmap.width() as usize, self.pixmap.height() as usize);
        let rgba = self.pixmap.data(); // premultiplied RGBA; every pixel is opaque, so it equals plain RGBA
        let mut pixels = Vec::with_capacity(width * height * 3);
        for row in (0..height).rev() {
            for px in rgba[row * width * 4..(row + 1) * width * 4].chunks_exact(4) {
                pixels.extend_from_slice(&px[..3]);
            }
        }
        RgbFrame::new(width, height, pixels)
    }
}

/// `pygame.math.Vector2(p).rotate_rad(angle)`: counter-clockwise in the unflipped surface's coordinates.
pub(crate) fn rotate((x, y): (f64, f64), angle: f64) -> (f64, f64) {
    let (sin, cos) = angle.sin_cos();
    (x * cos - y * sin, x * sin + y * cos)
}

/// The error of an env that has nothing to draw yet.
pub(crate) fn not_reset(env: &str) -> EnvError {
    EnvError::Unsupported(format!("{env} cannot render before its first reset"))
}

/// The error of an env without a renderer.
pub(crate) fn unsupported() -> Result<RgbFrame> {
    Err(EnvError::Unsupported("this environment cannot render".into()))
}
