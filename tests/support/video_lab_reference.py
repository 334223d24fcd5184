"""Independent float64 sRGB <-> CIE Lab (D65, 2 degree observer) and Reinhard transfer, in numpy.

Written from the definitions (IEC 61966-2-1 sRGB transfer curve and primaries, CIE 1976 L*a*b*
with epsilon = 216/24389 and kappa = 24389/27), not from the library under test, so the
colour-match tests compare against a separate derivation.
"""
from __future__ import annotations

import numpy as np

# sRGB primaries and D65 white as CIE xy chromaticities.
_PRIMARIES_XY = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])
_D65_XY = np.array([0.3127, 0.3290])
_EPSILON = 216.0 / 24389.0
_KAPPA = 24389.0 / 27.0


def _xy_to_xyz(xy: np.ndarray) -> np.ndarray:
    x, y = xy[..., 0], xy[..., 1]
    return np.stack([x / y, np.ones_like(x), (1 - x - y) / y], axis=-1)


def rgb_to_xyz_matrix() -> np.ndarray:
    """Linear sRGB -> XYZ, derived from the primaries so that RGB (1, 1, 1) maps to D65 (Y = 1)."""
    primaries = _xy_to_xyz(_PRIMARIES_XY).T  # columns: XYZ of R, G, B at Y = 1
    white = _xy_to_xyz(_D65_XY)
    weights = np.linalg.solve(primaries, white)
    return primaries * weights[None, :]


def white_point() -> np.ndarray:
    return _xy_to_xyz(_D65_XY)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    positive = np.maximum(c, 0.0031308)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * positive ** (1 / 2.4) - 0.055)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """[..., 3] sRGB in [0, 1] -> [..., 3] L*a*b*."""
    xyz = srgb_to_linear(rgb.astype(np.float64)) @ rgb_to_xyz_matrix().T
    t = xyz / white_point()
    f = np.where(t > _EPSILON, np.cbrt(t), (_KAPPA * t + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """[..., 3] L*a*b* -> [..., 3] sRGB clipped to [0, 1]."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    t = np.where(f ** 3 > _EPSILON, f ** 3, (116 * f - 16) / _KAPPA)
    xyz = t * white_point()
    linear = xyz @ np.linalg.inv(rgb_to_xyz_matrix()).T
    return np.clip(linear_to_srgb(linear), 0.0, 1.0)


def reinhard_match(frames: np.ndarray, reference: np.ndarray, strength: float) -> np.ndarray:
    """Per-frame Reinhard transfer in Lab to the reference's mean/std, then blend; float64."""
    ref = rgb_to_lab(reference.reshape(-1, 3))
    ref_mean, ref_std = ref.mean(axis=0), ref.std(axis=0)
    out = np.empty(frames.shape, dtype=np.float64)
    for i, frame in enumerate(frames.astype(np.float64)):
        lab = rgb_to_lab(frame.reshape(-1, 3))
        moved = (lab - lab.mean(axis=0)) / lab.std(axis=0) * ref_std + ref_mean
        matched = lab_to_rgb(moved).reshape(frame.shape)
        out[i] = (1 - strength) * frame + strength * matched
    return out
