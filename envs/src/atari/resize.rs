//! Area-interpolation downscaling of a grayscale frame, as OpenCV's `cv2.resize(..., interpolation=INTER_AREA)`
//! computes it for non-integer scales (`computeResizeAreaTab` + `ResizeArea_Invoker`): each output pixel is the
//! average of the source pixels its cell covers, weighted by the covered fraction, rounded to nearest.

/// One source-to-destination contribution along an axis.
#[derive(Debug, Clone, Copy)]
struct Tap {
    dst: usize,
    src: usize,
    weight: f32,
}

/// OpenCV's `computeResizeAreaTab` for one axis.
fn area_taps(src_size: usize, dst_size: usize) -> Vec<Tap> {
    let scale = src_size as f64 / dst_size as f64;
    let mut taps = Vec::new();
    for dx in 0..dst_size {
        let fsx1 = dx as f64 * scale;
        let fsx2 = fsx1 + scale;
        let cell = scale.min(src_size as f64 - fsx1);
        let mut sx1 = fsx1.ceil() as usize;
        let sx2 = (fsx2.floor() as usize).min(src_size - 1);
        sx1 = sx1.min(sx2);
        if sx1 as f64 - fsx1 > 1e-3 {
            taps.push(Tap { dst: dx, src: sx1 - 1, weight: ((sx1 as f64 - fsx1) / cell) as f32 });
        }
        for sx in sx1..sx2 {
            taps.push(Tap { dst: dx, src: sx, weight: (1.0 / cell) as f32 });
        }
        if fsx2 - sx2 as f64 > 1e-3 {
            taps.push(Tap { dst: dx, src: sx2, weight: ((fsx2 - sx2 as f64).min(1.0).min(cell) / cell) as f32 });
        }
    }
    taps
}

/// Most source pixels one output pixel reads along an axis: scale <= 3 (every Atari screen to 84 or more) gives at
/// most 4 taps (a partial cell, two whole ones and a partial one).
const MAX_TAPS: usize = 4;

/// The taps of each output pixel along one axis, padded to `MAX_TAPS` with zero-weight taps on its last source
/// index (so every tap stays within the pixel's source range), stored tap-major (`src[k][d]`) so the loops below run across output pixels and vectorize. Padding is exact:
/// `x + s * 0.0 == x` for the finite, non-negative sums here, so the grouped loops compute the same floats, in the
/// same order, as OpenCV's tap-by-tap loop.
#[derive(Debug, Clone)]
struct GroupedTaps {
    src: Vec<Vec<usize>>,
    weight: Vec<Vec<f32>>,
}

impl GroupedTaps {
    fn new(src_size: usize, dst_size: usize) -> Option<Self> {
        let mut src: [Vec<usize>; MAX_TAPS] = std::array::from_fn(|_| vec![0; dst_size]);
        let mut weight: [Vec<f32>; MAX_TAPS] = std::array::from_fn(|_| vec![0.0; dst_size]);
        let mut used = vec![0; dst_size];
        for tap in area_taps(src_size, dst_size) {
            let k = used[tap.dst];
            if k == MAX_TAPS {
                return None;
            }
            (src[k][tap.dst], weight[k][tap.dst]) = (tap.src, tap.weight);
            used[tap.dst] += 1;
        }
        for d in 0..dst_size {
            for k in used[d]..MAX_TAPS {
                src[k][d] = src[used[d].max(1) - 1][d];
            }
        }
        // Keep only the tap slots some output pixel uses (3 for 210x160 -> 84x84), so no pass is all padding.
        let slots = used.iter().copied().max().unwrap_or(0);
        Some(GroupedTaps { src: src[..slots].to_vec(), weight: weight[..slots].to_vec() })
    }
}

/// A precomputed `(src_h, src_w) -> (dst_h, dst_w)` area resize with reusable scratch buffers.
///
/// Same arithmetic as OpenCV (and as [`AreaResize::apply_reference`], its line-by-line port), organised for speed:
/// each source row's horizontal pass is computed once, when the first output row reads it, into a ring of
/// `MAX_TAPS` rows (1.3 KB instead of a whole `[src_h, dst_w]` buffer: less cache per env in a pool), taps are
/// grouped per output pixel, and rounding avoids a libm call. A downscale by more than 3 falls back to the reference loop.
#[derive(Debug, Clone)]
pub struct AreaResize {
    src_h: usize,
    src_w: usize,
    dst_w: usize,
    dst_h: usize,
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    /// `None` when a scale is above `MAX_TAPS - 1`.
    grouped: Option<(GroupedTaps, GroupedTaps)>,
    /// `[MAX_TAPS, dst_w]`: horizontal pass of the last source rows; source row `sy` sits in slot `sy % MAX_TAPS`.
    rows: Vec<f32>,
    /// `[src_w]`: one source row as floats.
    line: Vec<f32>,
    row: Vec<f32>,
    sum: Vec<f32>,
}

impl AreaResize {
    pub fn new(src_h: usize, src_w: usize, dst_h: usize, dst_w: usize) -> Self {
        let grouped = GroupedTaps::new(src_w, dst_w).zip(GroupedTaps::new(src_h, dst_h));
        AreaResize {
            src_h,
            src_w,
            dst_w,
            dst_h,
            x_taps: area_taps(src_w, dst_w),
            y_taps: area_taps(src_h, dst_h),
            grouped,
            rows: vec![0.0; MAX_TAPS * dst_w],
            line: vec![0.0; src_w],
            row: vec![0.0; dst_w],
            sum: vec![0.0; dst_w],
        }
    }

    /// `src`: `[src_h * src_w]`, `dst`: `[dst_h * dst_w]`.
    pub fn apply(&mut self, src: &[u8], dst: &mut [u8]) {
        let Some((x, y)) = &self.grouped else {
            return self.apply_reference(src, dst);
        };
        assert_eq!(src.len(), self.src_h * self.src_w, "source frame size");
        assert_eq!(dst.len(), self.dst_h * self.dst_w, "destination frame size");
        // Output row dy reads source rows y.src[k][dy], k in tap order; they increase with dy and span at most
        // MAX_TAPS rows, so each is computed once, just before its first reader, into the ring.
        let mut next_row = 0;
        let sum = &mut self.sum;
        for (dy, out) in dst.chunks_exact_mut(self.dst_w).enumerate() {
            let last = y.src.iter().map(|taps| taps[dy]).max().unwrap_or(0);
            while next_row <= last {
                // Horizontal pass: row[dx] = sum over k of src[sy][x.src[k][dx]] * x.weight[k][dx], k in tap order.
                let src_row = &src[next_row * self.src_w..][..self.src_w];
                for (l, &p) in self.line.iter_mut().zip(src_row) {
                    *l = p as f32;
                }
                let row = &mut self.rows[(next_row % MAX_TAPS) * self.dst_w..][..self.dst_w];
                row.fill(0.0);
                for (taps, weights) in x.src.iter().zip(&x.weight) {
                    for ((o, &tap), &w) in row.iter_mut().zip(taps).zip(weights) {
                        // SAFETY: every tap index is below src_w (area_taps clamps to src_size - 1) = line.len().
                        *o += unsafe { *self.line.get_unchecked(tap) } * w;
                    }
                }
                next_row += 1;
            }
            // Vertical pass: dst[dy][dx] = round(sum over k of y.weight[k][dy] * row(y.src[k][dy])[dx]).
            sum.fill(0.0);
            for (taps, weights) in y.src.iter().zip(&y.weight) {
                let (row, w) = (&self.rows[(taps[dy] % MAX_TAPS) * self.dst_w..][..self.dst_w], weights[dy]);
                for (s, &r) in sum.iter_mut().zip(row) {
                    *s += w * r;
                }
            }
            for (o, &s) in out.iter_mut().zip(sum.iter()) {
                *o = round_to_u8(s);
            }
        }
    }

    /// OpenCV's `ResizeArea_Invoker` tap by tap; the specification `apply` is tested against.
    pub fn apply_reference(&mut self, src: &[u8], dst: &mut [u8]) {
        let mut taps = self.y_taps.iter().peekable();
        for dy in 0..self.dst_h {
            self.sum.fill(0.0);
            while let Some(ty) = taps.next_if(|t| t.dst == dy) {
                // Horizontal pass over source row `ty.src`, then accumulate with the vertical weight.
                self.row.fill(0.0);
                let src_row = &src[ty.src * self.src_w..(ty.src + 1) * self.src_w];
                for tx in &self.x_taps {
                    self.row[tx.dst] += src_row[tx.src] as f32 * tx.weight;
                }
                for (s, r) in self.sum.iter_mut().zip(&self.row) {
                    *s += ty.weight * r;
                }
            }
            for (d, s) in dst[dy * self.dst_w..(dy + 1) * self.dst_w].iter_mut().zip(&self.sum) {
                *d = s.round_ties_even().clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// OpenCV's `saturate_cast<uchar>(float)`: round half to even, then clamp. Adding and subtracting 1.5 * 2^23 rounds
/// a float below 2^22 to an integer in the current (nearest-even) mode without calling `rintf`.
#[inline]
fn round_to_u8(v: f32) -> u8 {
    const MAGIC: f32 = 12_582_912.0;
    ((v.clamp(0.0, 255.0) + MAGIC) - MAGIC) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_frames_stay_uniform_and_weights_sum_to_one() {
        let mut resize = AreaResize::new(210, 160, 84, 84);
        let mut out = vec![0u8; 84 * 84];
        resize.apply(&vec![77u8; 210 * 160], &mut out);
        assert!(out.iter().all(|&v| v == 77));
        for taps in [area_taps(160, 84), area_taps(210, 84)] {
            let n = taps.iter().map(|t| t.dst).max().unwrap() + 1;
            for d in 0..n {
                let total: f32 = taps.iter().filter(|t| t.dst == d).map(|t| t.weight).sum();
                assert!((total - 1.0).abs() < 1e-5, "dst {d}: {total}");
            }
        }
    }

    /// OpenCV 4.13: cv2.resize(np.arange(20, dtype=np.uint8).reshape(4, 5), (2, 2), interpolation=cv2.INTER_AREA)
    /// = [[3, 6], [13, 16]] (scale 2 x 2.5).
    #[test]
    fn matches_opencv_on_a_small_example() {
        let src: Vec<u8> = (0..20).collect();
        let mut out = vec![0u8; 4];
        AreaResize::new(4, 5, 2, 2).apply(&src, &mut out);
        assert_eq!(out, vec![3, 6, 13, 16]);
        AreaResize::new(4, 5, 2, 2).apply_reference(&src, &mut out);
        assert_eq!(out, vec![3, 6, 13, 16]);
    }

    #[test]
    fn rounds_half_to_even_like_opencv() {
        for (v, want) in [(0.5, 0), (1.5, 2), (2.5, 2), (254.5, 254), (254.50002, 255), (-3.0, 0), (300.0, 255)] {
            assert_eq!(round_to_u8(v), want, "{v}");
        }
    }

    /// The fast path equals the tap-by-tap port bit for bit on noise, on every screen height ALE reports, and on
    /// the smooth gradients where rounding ties are likeliest.
    #[test]
    fn fast_path_equals_the_reference() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut noise = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        };
        for (src_h, src_w, dst_h, dst_w) in
            [(210, 160, 84, 84), (250, 160, 84, 84), (230, 160, 84, 84), (210, 160, 100, 90)]
        {
            let mut resize = AreaResize::new(src_h, src_w, dst_h, dst_w);
            assert!(resize.grouped.is_some());
            let frames: Vec<Vec<u8>> = vec![
                (0..src_h * src_w).map(|_| noise()).collect(),
                (0..src_h * src_w).map(|i| (i % src_w + i / src_w) as u8).collect(),
                (0..src_h * src_w).map(|i| if (i / src_w) % 5 < 2 { 255 } else { (i % 3) as u8 }).collect(),
            ];
            for src in frames {
                let (mut fast, mut reference) = (vec![0u8; dst_h * dst_w], vec![0u8; dst_h * dst_w]);
                resize.apply(&src, &mut fast);
                resize.apply_reference(&src, &mut reference);
                assert_eq!(fast, reference, "{src_h}x{src_w} -> {dst_h}x{dst_w}");
            }
        }
        // A scale above 3 has more taps than the grouped path holds and takes the reference loop.
        assert!(AreaResize::new(210, 160, 20, 20).grouped.is_none());
    }
}
