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

/// A precomputed `(src_h, src_w) -> (dst_h, dst_w)` area resize with reusable scratch rows.
#[derive(Debug, Clone)]
pub struct AreaResize {
    src_w: usize,
    dst_w: usize,
    dst_h: usize,
    x_taps: Vec<Tap>,
    y_taps: Vec<Tap>,
    row: Vec<f32>,
    sum: Vec<f32>,
}

impl AreaResize {
    pub fn new(src_h: usize, src_w: usize, dst_h: usize, dst_w: usize) -> Self {
        AreaResize {
            src_w,
            dst_w,
            dst_h,
            x_taps: area_taps(src_w, dst_w),
            y_taps: area_taps(src_h, dst_h),
            row: vec![0.0; dst_w],
            sum: vec![0.0; dst_w],
        }
    }

    /// `src`: `[src_h * src_w]`, `dst`: `[dst_h * dst_w]`.
    pub fn apply(&mut self, src: &[u8], dst: &mut [u8]) {
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
    }
}
