"""Reference values for rlx's Fréchet distance (models/src/frechet.rs), from SciPy's general `sqrtm` as
pytorch-fid's `calculate_frechet_distance` uses it. The feature sets are the test's fixed ones:
x[i][j] = sin(1.3 i + 0.7 j + phase) + j / D + 0.1 cos(0.37 i (j + 1))^2, A = 200 x 6 (phase 0), B = 1.5 x (150 x 6,
phase 0.5) + 0.2. Prints the first row of sqrtm(cov(A)), tr(sqrtm(cov(A) cov(B))) and the distance; the test holds
them. Needs numpy and scipy (`pip install scipy==1.16.3`)."""
import numpy as np
import scipy
from scipy import linalg


def features(n, d, phase):
    i, j = np.meshgrid(np.arange(n, dtype=np.float64), np.arange(d, dtype=np.float64), indexing="ij")
    return np.sin(1.3 * i + 0.7 * j + phase) + j / d + 0.1 * np.cos(0.37 * i * (j + 1.0)) ** 2


def frechet(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """pytorch-fid 0.3.0's calculate_frechet_distance."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))  # pytorch-fid passes disp=False, deprecated now
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean), np.trace(covmean)


a, b = features(200, 6, 0.0), 1.5 * features(150, 6, 0.5) + 0.2
sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
root = linalg.sqrtm(sa)
distance, trace = frechet(a.mean(0), sa, b.mean(0), sb)
print(f"scipy {scipy.__version__}, numpy {np.__version__}")
print("SCIPY_SQRTM_ROW0 =", [float(f"{v:.15e}") for v in np.real(root[0])])
print(f"SCIPY_DISTANCE = {distance:.15e}")
print(f"SCIPY_TRACE = {trace:.15e}")
