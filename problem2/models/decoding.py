"""Heatmaps -> keypoints: argmax, sub-pixel refinement (a Newton step or a window fit on log h), and the two-hand
decoder. Maps [B, K, H, W] in heatmap pixels; conventions.heatmap_to_image takes the result to image pixels.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from problem2.core.schema import HAND_PAIR
from problem2.models.conventions import (
    GAUSSIAN_RADIUS_SIGMAS,
    gaussian_heatmaps,
    heatmap_to_image,
)


def argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """[B, K, H, W] -> [B, K, 2] integer (u, v) of each map's maximum (first one on ties)."""
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w).argmax(dim=-1)
    return torch.stack([flat % w, flat // w], dim=-1)


def gaussian_blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Depthwise Gaussian blur of [B, K, H, W] with replicate padding, kernel radius 3 sigma."""
    radius = max(1, int(np.ceil(GAUSSIAN_RADIUS_SIGMAS * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    kernel = torch.exp(-t**2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    b, k, h, w = heatmaps.shape
    x = heatmaps.reshape(b * k, 1, h, w)
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.reshape(b, k, h, w)


def subpixel_refine(heatmaps: torch.Tensor, blur_sigma: float | None = None,
                    peaks: torch.Tensor | None = None) -> torch.Tensor:
    """[B, K, H, W] -> [B, K, 2] float (u, v): the maximum refined by one Newton step on log h.

    DARK-style (Zhang et al., CVPR 2020): the log of a Gaussian is a quadratic, so a second-order
    Taylor expansion of log(heatmap) around the argmax gives the peak exactly for a Gaussian
    target. Derivatives are central differences at the argmax, with the 3x3 stencil moved one
    pixel inward at the map's border (exact for a quadratic, so border peaks are refined too).
    Optional blur_sigma smooths predicted maps first (DARK's modulation). Steps longer than one
    pixel, or a Hessian that is not negative definite, keep the argmax. peaks [B, K, 2] (integer
    u, v) refines other local maxima instead of each map's global one.
    """
    h_maps = heatmaps.float()
    if blur_sigma:
        h_maps = gaussian_blur(h_maps, blur_sigma)
    b, k, h, w = h_maps.shape
    peak = argmax_2d(h_maps) if peaks is None else peaks.long()
    if h < 3 or w < 3:
        return peak.float()
    logh = torch.log(h_maps.clamp_min(1e-10)).reshape(b * k, h, w)
    cu = peak[..., 0].reshape(-1).clamp(1, w - 2)
    cv = peak[..., 1].reshape(-1).clamp(1, h - 2)
    idx = torch.arange(b * k, device=heatmaps.device)

    def at(du: int, dv: int) -> torch.Tensor:
        return logh[idx, cv + dv, cu + du]

    gx = (at(1, 0) - at(-1, 0)) / 2
    gy = (at(0, 1) - at(0, -1)) / 2
    hxx = at(1, 0) - 2 * at(0, 0) + at(-1, 0)
    hyy = at(0, 1) - 2 * at(0, 0) + at(0, -1)
    hxy = (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1)) / 4
    det = hxx * hyy - hxy**2
    safe_det = torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
    # offset = -H^-1 g for the 2x2 Hessian H = [[hxx, hxy], [hxy, hyy]]
    off_u = -(hyy * gx - hxy * gy) / safe_det
    off_v = -(hxx * gy - hxy * gx) / safe_det
    refined = torch.stack([cu + off_u, cv + off_v], dim=-1)
    argmax = peak.reshape(-1, 2).float()
    ok = (det > 1e-12) & (hxx < 0) & torch.isfinite(refined).all(-1)
    ok &= (refined - argmax).abs().amax(-1) <= 1.0
    return torch.where(ok[:, None], refined, argmax).reshape(b, k, 2)


def window_fit_refine(heatmaps: torch.Tensor, radius: int) -> torch.Tensor:
    """[B, K, H, W] -> [B, K, 2] float (u, v): the maximum refined by a least-squares quadratic fit of log h over
    the (2 radius + 1)^2 window around it (moved inward at the border), exact for a Gaussian like the 3x3 Newton
    step but reading the curvature over the Gaussian's width rather than between neighbours: for a target of
    sigma heatmap px the curvature between neighbours is 1 / sigma^2, so map noise moves the 3x3 step's peak in
    proportion to sigma^2. A fit that is not a maximum, or whose peak lies more than radius px from the argmax,
    keeps the argmax; a map smaller than the window falls back to subpixel_refine."""
    b, k, h, w = heatmaps.shape
    if h < 2 * radius + 1 or w < 2 * radius + 1:
        return subpixel_refine(heatmaps)
    logh = torch.log(heatmaps.float().clamp_min(1e-10)).reshape(b * k, h, w)
    peak = argmax_2d(heatmaps.float()).reshape(-1, 2)
    cu, cv = peak[:, 0].clamp(radius, w - 1 - radius), peak[:, 1].clamp(radius, h - 1 - radius)
    dv, du = torch.meshgrid(torch.arange(-radius, radius + 1), torch.arange(-radius, radius + 1), indexing="ij")
    du, dv = du.reshape(-1).to(heatmaps.device), dv.reshape(-1).to(heatmaps.device)
    design = torch.stack([torch.ones_like(du), du, dv, du * du, dv * dv, du * dv], 1).double()
    window = logh[torch.arange(b * k, device=heatmaps.device)[:, None], cv[:, None] + dv, cu[:, None] + du]
    c = window.double() @ torch.linalg.pinv(design).T  # [BK, 6]: a + b u + c v + d u^2 + e v^2 + f uv
    hxx, hyy, hxy = 2 * c[:, 3], 2 * c[:, 4], c[:, 5]
    det = hxx * hyy - hxy**2
    safe_det = torch.where(det.abs() > 1e-12, det, torch.ones_like(det))
    off = torch.stack([-(hyy * c[:, 1] - hxy * c[:, 2]) / safe_det, -(hxx * c[:, 2] - hxy * c[:, 1]) / safe_det], -1)
    refined = torch.stack([cu, cv], -1).double() + off
    ok = (det > 1e-12) & (hxx < 0) & torch.isfinite(refined).all(-1) & ((refined - peak).abs().amax(-1) <= radius)
    return torch.where(ok[:, None], refined, peak.double()).float().reshape(b, k, 2)


def fit_radius(sigma: float) -> int:
    """The window_fit_refine radius for a target of sigma heatmap px: about one sigma, at least 1 (3 x 3)."""
    return max(1, round(sigma))


DECODE_METHODS = ("argmax", "subpixel", "fit")


def decode_heatmaps(heatmaps: torch.Tensor, method: str = "argmax",
                    blur_sigma: float | None = None, sigma: float = 2.0) -> torch.Tensor:
    """[B, K, S, S] -> [B, K, 2] image (x, y). Never a softmax: MSE-trained peaks are ~1.
    argmax: the maximum pixel; subpixel: one 3x3 Newton step on log h; fit: a quadratic fit of log h over a
    window of about one target sigma (heatmap px) around the maximum."""
    if method == "argmax":
        points = argmax_2d(heatmaps).float()
    elif method == "subpixel":
        points = subpixel_refine(heatmaps, blur_sigma)
    elif method == "fit":
        points = window_fit_refine(heatmaps, fit_radius(sigma))
    else:
        raise ValueError(f"method must be one of {DECODE_METHODS}, got {method!r}")
    return heatmap_to_image(points, heatmaps.shape[-1])


def two_peaks(maps: torch.Tensor, sigma: float = 2.0, min_ratio: float = 0.4) -> torch.Tensor:
    """[B, H, W] -> [B, 2, 2] integer (u, v): each map's maximum, and the maximum of what is left
    once a Gaussian of width sigma (the training target's) through the first peak is taken away.

    Two close blobs merge into one maximum with a shoulder; subtracting the first blob exposes
    the second. Where the rest is below min_ratio x the first peak (one blob), both are the first.
    min_ratio 0.4 was chosen on the validation split (0.1 to 0.5 tried), never on test images.
    """
    b, h, w = maps.shape
    first = argmax_2d(maps[:, None])[:, 0]  # [B, 2]
    centre = subpixel_refine(maps[:, None], peaks=first[:, None])[:, 0]  # [B, 2] float
    idx = torch.arange(b)
    peak_value = maps[idx, first[:, 1], first[:, 0]]
    explained = torch.from_numpy(np.stack([gaussian_heatmaps(c[None], h, w, sigma)[0]
                                           for c in centre.numpy()])).to(maps) * peak_value[:, None, None]
    second = argmax_2d((maps - explained)[:, None])[:, 0]
    rest = (maps - explained)[idx, second[:, 1], second[:, 0]]
    second = torch.where((rest >= min_ratio * peak_value)[:, None], second, first)
    return torch.stack([first, second], dim=1)


def decode_hand_pair(heatmaps: torch.Tensor, sigma: float = 2.0, hands=HAND_PAIR) -> torch.Tensor:
    """[B, K, S, S] -> [B, K, 2] image (x, y), knowing that there are two hands.

    Every keypoint is decoded by sub-pixel argmax except the hands: their maps are merged
    (pixel-wise max), the two peaks of the merged map (two_peaks) are refined, and each hand
    takes the peak that its own map rates higher (the assignment with the larger summed score).
    A model trained on ambiguous hand labels puts both hands in both maps; plain argmax can then
    send both hands to the same blob.
    """
    hm = heatmaps.float()
    points = subpixel_refine(hm)
    left, right = hands
    merged = torch.maximum(hm[:, left], hm[:, right])  # [B, S, S]
    peaks = two_peaks(merged, sigma)  # [B, 2, 2]
    refined = subpixel_refine(merged[:, None].expand(-1, 2, -1, -1), peaks=peaks)  # [B, 2, 2]
    idx = torch.arange(hm.shape[0])
    score = lambda k, p: hm[idx, k, peaks[:, p, 1], peaks[:, p, 0]]  # noqa: E731
    keep = score(left, 0) + score(right, 1) >= score(left, 1) + score(right, 0)
    points[:, left] = torch.where(keep[:, None], refined[:, 0], refined[:, 1])
    points[:, right] = torch.where(keep[:, None], refined[:, 1], refined[:, 0])
    return heatmap_to_image(points, hm.shape[-1])
