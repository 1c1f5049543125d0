//! The Fréchet distance between two feature sets (Heusel et al. 2017's FID, with any feature extractor): each set
//! is summarized by the mean and covariance of its features, and the distance between those two Gaussians is
//!
//! `d² = |mu_a - mu_b|² + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^½)`.
//!
//! `S_a S_b` is not symmetric, which is why pytorch-fid calls SciPy's general `sqrtm` (a Schur decomposition) and
//! then drops an imaginary part that rounding leaves. The trace needs no general square root: `S_a S_b` is similar
//! to the symmetric positive semi-definite `M = S_a^½ S_b S_a^½` (conjugate it by `S_a^½`), so
//! `tr((S_a S_b)^½) = tr(M^½) = sum of sqrt(eigenvalues of M)`, two symmetric eigen-decompositions in f64 with
//! the tiny negative eigenvalues rounding leaves clamped to 0. Tested against SciPy (`tests/reference_frechet.py`).

use tch::{Kind, Tensor};

/// The Gaussian summary of a feature set, in f64 on the CPU.
#[derive(Debug)]
pub struct FeatureStats {
    /// (D,)
    pub mean: Tensor,
    /// (D, D), unbiased (divided by N - 1, as `numpy.cov`).
    pub covariance: Tensor,
    /// N, the number of feature vectors summarized.
    pub count: i64,
}

impl FeatureStats {
    /// `features`: (N, D), N >= 2, any float kind and device.
    pub fn from_features(features: &Tensor) -> Self {
        let x = features.to_kind(Kind::Double).to_device(tch::Device::Cpu); // (N, D)
        let count = x.size()[0];
        assert!(count >= 2, "a covariance needs at least two feature vectors, got {count}");
        let mean = x.mean_dim(0, false, Kind::Double); // (D,)
        let centered = &x - &mean; // (N, D)
        let covariance = centered.tr().matmul(&centered) / (count - 1) as f64; // (D, D)
        FeatureStats { mean, covariance, count }
    }

    /// Feature width D.
    pub fn dim(&self) -> i64 {
        self.mean.size()[0]
    }
}

/// The square root of a symmetric positive semi-definite matrix (D, D) through its eigen-decomposition
/// `V diag(sqrt(max(l, 0))) V^T`: symmetric itself, and exact where SciPy's general `sqrtm` only approximates.
pub fn sqrtm_psd(matrix: &Tensor) -> Tensor {
    let symmetric = (matrix + matrix.tr()) / 2.0; // rounding can leave a covariance a hair off symmetric
    let (eigenvalues, eigenvectors) = symmetric.linalg_eigh("L"); // (D,), (D, D)
    let roots = eigenvalues.clamp_min(0.0).sqrt();
    (&eigenvectors * roots.unsqueeze(0)).matmul(&eigenvectors.tr())
}

/// `tr((a b)^½)` for symmetric positive semi-definite `a` and `b` (see the module comment).
pub fn trace_sqrt_product(a: &Tensor, b: &Tensor) -> f64 {
    let root_a = sqrtm_psd(a);
    let m = root_a.matmul(b).matmul(&root_a);
    let m = (&m + m.tr()) / 2.0;
    let eigenvalues = m.linalg_eigvalsh("L");
    eigenvalues.clamp_min(0.0).sqrt().sum(Kind::Double).double_value(&[])
}

/// The squared Fréchet distance between the Gaussians of two feature sets (what "FID" reports), >= 0.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    assert_eq!(a.dim(), b.dim(), "feature sets of different widths");
    let mean_term = (&a.mean - &b.mean).square().sum(Kind::Double).double_value(&[]);
    let traces = a.covariance.trace().double_value(&[]) + b.covariance.trace().double_value(&[]);
    (mean_term + traces - 2.0 * trace_sqrt_product(&a.covariance, &b.covariance)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed (N, D) feature sets of `tests/reference_frechet.py`:
    /// x[i][j] = sin(1.3 i + 0.7 j + phase) + j / D + 0.1 cos(0.37 i (j + 1))².
    fn features(n: i64, d: i64, phase: f64) -> Tensor {
        let values: Vec<f64> = (0..n)
            .flat_map(|i| {
                (0..d).map(move |j| {
                    let (i, j) = (i as f64, j as f64);
                    (1.3 * i + 0.7 * j + phase).sin() + j / d as f64 + 0.1 * (0.37 * i * (j + 1.0)).cos().powi(2)
                })
            })
            .collect();
        Tensor::from_slice(&values).reshape([n, d])
    }

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * (1.0 + b.abs())
    }

    #[test]
    fn distance_of_a_set_to_itself_is_zero() {
        let stats = FeatureStats::from_features(&features(200, 6, 0.0));
        let other = FeatureStats::from_features(&features(200, 6, 0.0));
        assert!(frechet_distance(&stats, &other) < 1e-9);
    }

    #[test]
    fn covariance_is_numpy_cov() {
        // numpy.cov(x, rowvar=False) of the 3x2 matrix [[1, 2], [3, 5], [5, 11]]: [[4, 9], [9, 21]].
        let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 5.0, 5.0, 11.0]).reshape([3, 2]);
        let stats = FeatureStats::from_features(&x);
        let cov: Vec<f64> = Vec::try_from(stats.covariance.reshape([-1])).unwrap();
        assert_eq!(cov, vec![4.0, 9.0, 9.0, 21.0]);
        let mean: Vec<f64> = Vec::try_from(stats.mean).unwrap();
        assert_eq!(mean, vec![3.0, 6.0]);
    }

    #[test]
    fn matches_scipy() {
        // From tests/reference_frechet.py (SciPy 1.16.3, NumPy 2.4.6): sqrtm of the first covariance, and
        // pytorch-fid's calculate_frechet_distance between the two sets.
        let a = FeatureStats::from_features(&features(200, 6, 0.0));
        let b = FeatureStats::from_features(&(features(150, 6, 0.5) * 1.5 + 0.2));
        let root: Vec<f64> = Vec::try_from(sqrtm_psd(&a.covariance).reshape([-1])).unwrap();
        let scipy_root_row0 = SCIPY_SQRTM_ROW0;
        for (ours, theirs) in root.iter().zip(scipy_root_row0) {
            assert!(close(*ours, theirs, 1e-8), "sqrtm: {ours} vs SciPy {theirs}");
        }
        let distance = frechet_distance(&a, &b);
        assert!(close(distance, SCIPY_DISTANCE, 1e-8), "distance {distance} vs SciPy {SCIPY_DISTANCE}");
        let trace = trace_sqrt_product(&a.covariance, &b.covariance);
        assert!(close(trace, SCIPY_TRACE, 1e-8), "trace {trace} vs SciPy {SCIPY_TRACE}");
    }

    const SCIPY_SQRTM_ROW0: [f64; 6] = [
        0.3985451749535794,
        0.2673139276124986,
        0.04673405384004956,
        -0.1962748553748012,
        -0.3469838274970098,
        -0.3345664190707038,
    ];
    const SCIPY_DISTANCE: f64 = 2.008314429556036;
    const SCIPY_TRACE: f64 = 4.539153527834113;
}
