"""The coordinate conventions, owned here and nowhere else re-derived: keypoints <-> heatmap and regression targets.

  * Keypoints are (x, y) in image pixels, x to the right, y down, the centre of pixel (column i, row j) at (i, j):
    the course annotations' integers are pixel centres.
  * Heatmap of size S over the 128x128 image has stride s = 128 / S. A keypoint at image position p sits at heatmap
    position u = p / s (unrounded), and heatmap position u maps back to image position p = u * s: the assignment's
    'position x heatmap_size / 128' and MMPose's MSRAHeatmap convention. Encoding and decoding are exact inverses,
    so the convention adds no bias to decoded keypoints; the constant sub-stride offset between a heatmap pixel and
    the image pixels under it is learned by the network.
  * Heatmap target: an unnormalised Gaussian, peak 1 at u, cut to zero outside the square |du| <= 3 sigma,
    |dv| <= 3 sigma (so a keypoint far outside the map gives all zeros).
  * Regression target: (x0, y0, x1, y1, ...) / 128, in [0, 1].
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from problem2.core.schema import IMAGE_SIZE

GAUSSIAN_RADIUS_SIGMAS = 3.0


MIN_SIGMA = 0.5  # heatmap pixels: narrower, a keypoint between pixel centres gets a target near zero


MIN_HEATMAP_SIZE = 4  # sub-pixel decoding needs a 3x3 stencil inside the map


def check_heatmap_size(size) -> int:
    """size as an int, if it is a whole divisor of the image size (stride an integer), else ValueError."""
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ValueError(f"heatmap_size must be an integer, got {size!r}")
    size = int(size)
    if not (MIN_HEATMAP_SIZE <= size <= IMAGE_SIZE and IMAGE_SIZE % size == 0):
        raise ValueError(f"heatmap_size must divide the image size {IMAGE_SIZE} and be >= {MIN_HEATMAP_SIZE} "
                         f"(4, 8, 16, 32, 64 or 128), got {size}")
    return size


def check_sigma(sigma) -> float:
    """sigma (heatmap pixels) as a float, if finite and >= MIN_SIGMA, else ValueError."""
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a finite number, got {sigma!r}")
    if sigma < MIN_SIGMA:
        raise ValueError(f"sigma must be >= {MIN_SIGMA} heatmap pixels (a narrower Gaussian between pixel "
                         f"centres gives an all-zero target), got {sigma}")
    return float(sigma)


def stride(heatmap_size: int) -> float:
    """Image pixels per heatmap pixel."""
    return IMAGE_SIZE / heatmap_size


def image_to_heatmap(points, heatmap_size: int):
    """Image (x, y) -> heatmap (u, v); arrays or tensors of any shape [..., 2]."""
    return points / stride(heatmap_size)


def heatmap_to_image(points, heatmap_size: int):
    """Heatmap (u, v) -> image (x, y); the exact inverse of image_to_heatmap."""
    return points * stride(heatmap_size)


def gaussian_heatmaps(points: np.ndarray, height: int, width: int, sigma: float) -> np.ndarray:
    """points [K, 2] (u, v) in heatmap pixels -> float32 [K, height, width], peak 1 at each point.

    Separable: each map is the outer product of a 1-D Gaussian in y and one in x, each cut to
    zero beyond 3 sigma, so the work is O(K (H + W)) exps plus one product.
    """
    sigma = check_sigma(sigma)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    du = np.arange(width)[None, :] - points[:, :1]  # [K, W]
    dv = np.arange(height)[None, :] - points[:, 1:]  # [K, H]
    radius = GAUSSIAN_RADIUS_SIGMAS * sigma
    gx = np.where(np.abs(du) <= radius, np.exp(-du**2 / (2 * sigma**2)), 0.0)
    gy = np.where(np.abs(dv) <= radius, np.exp(-dv**2 / (2 * sigma**2)), 0.0)
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def encode_regression(points: np.ndarray) -> np.ndarray:
    """Image (x, y) [K, 2] -> float32 [2K] = (x0, y0, x1, y1, ...) / 128."""
    return (np.asarray(points, dtype=np.float32) / IMAGE_SIZE).reshape(-1)


def decode_regression(outputs: torch.Tensor) -> torch.Tensor:
    """[B, 2K] normalised -> [B, K, 2] image (x, y)."""
    return outputs.float().reshape(outputs.shape[0], -1, 2) * IMAGE_SIZE


def label_hands_by_side(keypoints: np.ndarray) -> np.ndarray:
    """[..., 5, 2] -> copy where left_hand is the hand with the smaller x (ties keep the order): the side labels."""
    keypoints = np.asarray(keypoints)
    out = keypoints.copy()
    swap = out[..., 1, 0] > out[..., 2, 0]
    out[swap, 1], out[swap, 2] = keypoints[swap, 2], keypoints[swap, 1]
    return out
