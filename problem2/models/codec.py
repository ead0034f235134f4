"""The one owner of coordinate conventions: keypoints <-> heatmap and regression targets.

Conventions (used by dataset, training, evaluation and plots; nowhere else re-derived):
  * Keypoints are (x, y) in image pixels, x to the right, y down, the centre of pixel
    (column i, row j) at (i, j): the course annotations' integers are pixel centres.
  * Heatmap of size S over the 128x128 image has stride s = 128 / S. A keypoint at image
    position p sits at heatmap position u = p / s (unrounded), and heatmap position u maps back
    to image position p = u * s. This is the assignment's "position x heatmap_size / 128" and
    MMPose's MSRAHeatmap convention. Encoding and decoding are exact inverses, so the
    convention adds no bias to decoded keypoints; the constant sub-stride offset between a
    heatmap pixel and the image pixels under it is learned by the network.
  * Heatmap target: an unnormalised Gaussian, peak 1 at u, cut to zero outside the square
    |du| <= 3 sigma, |dv| <= 3 sigma (so a keypoint far outside the map gives all zeros).
  * Regression target: (x0, y0, x1, y1, ...) / 128, in [0, 1].

Codec (at the end) is what a representation provides: its targets, its loss and its decoding. HeatmapCodec and
RegressionCodec are the assignment's two; the heads of problem2/heads/ bring their own. A model carries its codec
(model.codec), and datasets, training, evaluation, prediction and checkpoints take it from there.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from problem2.core.schema import HAND_PAIR, IMAGE_SIZE

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


def label_hands_by_side(keypoints: np.ndarray) -> np.ndarray:
    """[..., 5, 2] -> copy where left_hand is the hand with the smaller x (ties keep the order): the side labels."""
    keypoints = np.asarray(keypoints)
    out = keypoints.copy()
    swap = out[..., 1, 0] > out[..., 2, 0]
    out[swap, 1], out[swap, 2] = keypoints[swap, 2], keypoints[swap, 1]
    return out


# ---------------------------------------------------------------- codec objects: one representation, both ways

class Codec:
    """What every representation provides (HeatmapCodec and RegressionCodec below; the heads in problem2/heads/):

      name                      its type in checkpoints and logs (to_dict()['type'])
      encode(keypoints)         [K, 2] image (x, y) -> float32 numpy target of one image
      loss_per_image(out, t)    [B] the training loss of each image of a batch (raw outputs, targets)
      decode(out, method)       raw outputs [B, ...] -> [B, K, 2] image (x, y); method one of `decodings`
      swap_keypoints(t, i, j)   targets (or outputs) with keypoints i and j exchanged
      output_shape(shape)       one image's raw output shape for a target of `shape`
      to_dict()                 {'type': name, ...settings}: enough to rebuild it (zoo.codec_from_dict)
    Targets and outputs hold keypoints on dimension 1 ([B, K, ...]) unless a codec says otherwise.
    """
    name = "codec"
    decodings: tuple = ("argmax",)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The batch loss: the mean of loss_per_image."""
        return self.loss_per_image(outputs, targets).mean()

    def loss_per_image(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each image (the assignment's loss for both of its models)."""
        return ((outputs.float() - targets) ** 2).flatten(1).mean(1)

    def output_shape(self, target_shape: tuple) -> tuple:
        """The shape of one image's raw outputs for targets of target_shape (the same, unless a codec says)."""
        return tuple(target_shape)

    def swap_keypoints(self, targets: torch.Tensor, i: int, j: int) -> torch.Tensor:
        order = list(range(targets.shape[1]))
        order[i], order[j] = j, i
        return targets[:, order]

    @property
    def output_type(self) -> str:
        return self.name

    @property
    def default_decoding(self) -> str:
        """The decoding results and predictions use unless told otherwise (validation uses decodings[0])."""
        return self.decodings[0]

    def check_decoding(self, method: str) -> None:
        if method not in self.decodings:
            raise ValueError(f"decoding must be one of {self.decodings} for {self.name} outputs, got {method!r}")


@dataclass(frozen=True)
class HeatmapCodec(Codec):
    """Keypoints <-> K Gaussian heatmaps of size S (stride 128 / S); sigma in heatmap pixels.

    encode: [K, 2] image (x, y) -> float32 [K, S, S]; decode: [B, K, S, S] -> [B, K, 2] image (x, y).
    Stored in checkpoints (to_dict) so that a model travels with the representation it was trained on.
    """
    heatmap_size: int = 64
    sigma: float = 2.0
    name = "heatmap"
    decodings = DECODE_METHODS
    default_decoding = "subpixel"

    def __post_init__(self):
        object.__setattr__(self, "heatmap_size", check_heatmap_size(self.heatmap_size))
        object.__setattr__(self, "sigma", check_sigma(self.sigma))
        if self.sigma > self.heatmap_size / 4:
            raise ValueError(f"sigma must be at most a quarter of heatmap_size ({self.heatmap_size / 4:g} heatmap px "
                             f"at {self.heatmap_size}): a wider Gaussian covers the map and marks no place; "
                             f"got {self.sigma:g}")

    def encode(self, keypoints) -> np.ndarray:
        size = self.heatmap_size
        return gaussian_heatmaps(image_to_heatmap(np.asarray(keypoints, np.float64), size), size, size, self.sigma)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        return decode_heatmaps(outputs, method, sigma=self.sigma)

    def decode_hand_pair(self, outputs: torch.Tensor) -> torch.Tensor:
        """decode_hand_pair with this codec's sigma (the width the model was trained to draw)."""
        return decode_hand_pair(outputs, self.sigma)

    def to_dict(self) -> dict:
        return {"type": "heatmap", "heatmap_size": self.heatmap_size, "sigma": self.sigma}


@dataclass(frozen=True)
class RegressionCodec(Codec):
    """Keypoints <-> normalised coordinates: encode [K, 2] image (x, y) -> float32 [2K] = (x0, y0, ...) / 128;
    decode [B, 2K] -> [B, K, 2] image (x, y) (its one decoding is called 'argmax' in stored files)."""
    name = "regression"

    def encode(self, keypoints) -> np.ndarray:
        return encode_regression(keypoints)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        return decode_regression(outputs)

    def swap_keypoints(self, targets: torch.Tensor, i: int, j: int) -> torch.Tensor:
        b = targets.shape[0]
        return Codec.swap_keypoints(self, targets.reshape(b, -1, 2), i, j).reshape(b, -1)

    def to_dict(self) -> dict:
        return {"type": "regression"}


CODEC_TYPES: dict = {}  # name -> codec class; the heads of problem2/heads/ add theirs (register_codec)


def register_codec(cls):
    """Class decorator: make a codec class rebuildable from its to_dict() (codec_from_dict)."""
    CODEC_TYPES[cls.name] = cls
    return cls


register_codec(HeatmapCodec)
register_codec(RegressionCodec)


def codec_from_dict(d: dict):
    """The codec a checkpoint or log describes ({'type': name, ...settings}, as to_dict writes it)."""
    d = dict(d)
    name = d.pop("type", d.pop("output_type", None))
    if name not in CODEC_TYPES:
        raise ValueError(f"unknown codec {name!r}; known: {sorted(CODEC_TYPES)} (a head's codec is known once "
                         f"problem2.heads is imported)")
    return CODEC_TYPES[name](**d)


def make_codec(output_type: str, heatmap_size: int = 64, sigma: float = 2.0):
    """The assignment's two representations by name (KeypointDataset's output_type)."""
    if output_type == "heatmap":
        return HeatmapCodec(heatmap_size, sigma)
    if output_type == "regression":
        return RegressionCodec()
    raise ValueError(f"output_type must be 'heatmap' or 'regression', got {output_type!r}")
