//! RGB to grayscale as OpenCV's `cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)` computes it for 8-bit images (what SB3's
//! `WarpFrame` calls): the BT.601 luma weights 0.299, 0.587, 0.114 in 15-bit fixed point, rounded half up. The
//! weights sum to exactly 2^15, so white stays 255. (OpenCV's older 14-bit weights 4899/9617/1868 differ from
//! OpenCV 4.13's output on 43,864 of the 2^24 colours; these 15-bit ones on none.) `envs/tests/atari_sb3_parity.py` checks the formula against
//! OpenCV on all 2^24 colours before the frame comparison.

/// OpenCV's 8-bit `RGB2Gray` weights, `round(w * 2^15)` for w = 0.299, 0.587, 0.114, and their shift.
const R_WEIGHT: u32 = 9798;
const G_WEIGHT: u32 = 19235;
const B_WEIGHT: u32 = 3735;
const SHIFT: u32 = 15;

/// The grey level of one RGB pixel.
#[inline(always)]
pub fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((r as u32 * R_WEIGHT + g as u32 * G_WEIGHT + b as u32 * B_WEIGHT + (1 << (SHIFT - 1))) >> SHIFT) as u8
}

/// `rgb` (`[n * 3]`, interleaved) to grey levels (`[n]`).
pub fn rgb_to_gray(rgb: &[u8], gray: &mut [u8]) {
    for (out, px) in gray.iter_mut().zip(rgb.chunks_exact(3)) {
        *out = luma(px[0], px[1], px[2]);
    }
}

/// SB3's `MaxAndSkipEnv` then `WarpFrame` in one pass: the channel-wise max of two RGB frames (`[n * 3]` each),
/// converted to grey levels (`[n]`). Fusing them reads each frame once and writes no pooled RGB frame.
pub fn max_rgb_to_gray(a: &[u8], b: &[u8], gray: &mut [u8]) {
    for ((out, x), y) in gray.iter_mut().zip(a.chunks_exact(3)).zip(b.chunks_exact(3)) {
        *out = luma(x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2]));
    }
}

/// SB3's frame pipeline on palette indices: ALE draws each frame as indices into a 256-colour palette, so the
/// luma of the channel-wise max of two frames is a function of the two indices alone. A 64 KB table of it turns
/// the pipeline into one copy of each screen (`Emulator::indices`) and one lookup per pixel, instead of two RGB
/// conversions and a pass over 200 KB of RGB.
///
/// ALE 0.6's C API does not expose the palette, so it is learned: a screen with a colour not seen yet is fetched
/// once more as RGB and its colours recorded (a game shows its colours in its first frames; after that, never).
/// Every lookup is of a known colour, so the result is exactly [`max_rgb_to_gray`] on the RGB screens.
#[derive(Clone)]
pub struct PaletteLuma {
    /// RGB of each palette index seen so far.
    rgb: [[u8; 3]; 256],
    /// 1 for indices not seen yet.
    unknown: [u8; 256],
    /// `[a * 256 + b]` = luma of the channel-wise max of colours a and b; valid where both are known.
    max_luma: Vec<u8>,
}

impl Default for PaletteLuma {
    fn default() -> Self {
        PaletteLuma { rgb: [[0; 3]; 256], unknown: [1; 256], max_luma: vec![0; 256 * 256] }
    }
}

impl PaletteLuma {
    /// Whether every index of `frame` has a known colour.
    #[inline]
    pub fn covers(&self, frame: &[u8]) -> bool {
        frame.iter().fold(0, |miss, &i| miss | self.unknown[i as usize]) == 0
    }

    /// Records the colours of a screen given both as indices (`[n]`) and as RGB (`[n * 3]`).
    pub fn learn(&mut self, indices: &[u8], rgb: &[u8]) {
        let mut new = Vec::new();
        for (&i, px) in indices.iter().zip(rgb.chunks_exact(3)) {
            if self.unknown[i as usize] == 1 {
                self.unknown[i as usize] = 0;
                self.rgb[i as usize] = [px[0], px[1], px[2]];
                new.push(i as usize);
            }
        }
        for a in new {
            for b in 0..256 {
                let (x, y) = (self.rgb[a], self.rgb[b]);
                let value = luma(x[0].max(y[0]), x[1].max(y[1]), x[2].max(y[2]));
                self.max_luma[a * 256 + b] = value;
                self.max_luma[b * 256 + a] = value;
            }
        }
    }

    /// [`max_rgb_to_gray`] of two index frames (`[n]` each, both covered).
    #[inline]
    pub fn max_to_gray(&self, a: &[u8], b: &[u8], gray: &mut [u8]) {
        for ((out, &x), &y) in gray.iter_mut().zip(a).zip(b) {
            *out = self.max_luma[(x as usize) << 8 | y as usize];
        }
    }

    /// [`rgb_to_gray`] of one index frame (`[n]`, covered).
    #[inline]
    pub fn to_gray(&self, frame: &[u8], gray: &mut [u8]) {
        self.max_to_gray(frame, frame, gray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luma_matches_hand_worked_values() {
        assert_eq!(luma(0, 0, 0), 0);
        assert_eq!(luma(255, 255, 255), 255);
        // (255 * 9798 + 16384) >> 15 = 2514874 >> 15 = 76 (76.75).
        assert_eq!(luma(255, 0, 0), 76);
        // Pong's background (144, 72, 17): 144*9798 + 72*19235 + 17*3735 + 16384 = 2875711 -> 87 (87.76).
        assert_eq!(luma(144, 72, 17), 87);
    }

    #[test]
    fn the_fused_pass_is_max_then_luma() {
        let a = [10, 200, 30, 255, 0, 0];
        let b = [20, 100, 40, 0, 0, 255];
        let mut fused = [0u8; 2];
        max_rgb_to_gray(&a, &b, &mut fused);
        assert_eq!(fused, [luma(20, 200, 40), luma(255, 0, 255)]);
        let mut single = [0u8; 2];
        rgb_to_gray(&a, &mut single);
        assert_eq!(single, [luma(10, 200, 30), luma(255, 0, 0)]);
    }

    #[test]
    fn the_learned_palette_gives_the_rgb_results() {
        // Two "screens" of 3 pixels as palette indices, with their colours.
        let colours = [[10, 200, 30], [255, 0, 0], [0, 0, 255], [20, 100, 40]];
        let (a, b) = ([0u8, 2, 4], [6u8, 2, 0]);
        let rgb = |idx: &[u8]| -> Vec<u8> { idx.iter().flat_map(|&i| colours[i as usize / 2]).collect() };
        let mut palette = PaletteLuma::default();
        assert!(!palette.covers(&a));
        palette.learn(&a, &rgb(&a));
        assert!(palette.covers(&a) && !palette.covers(&b));
        palette.learn(&b, &rgb(&b));
        assert!(palette.covers(&b));
        let (mut fast, mut slow) = ([0u8; 3], [0u8; 3]);
        palette.max_to_gray(&a, &b, &mut fast);
        max_rgb_to_gray(&rgb(&a), &rgb(&b), &mut slow);
        assert_eq!(fast, slow);
        palette.to_gray(&b, &mut fast);
        rgb_to_gray(&rgb(&b), &mut slow);
        assert_eq!(fast, slow);
    }
}
