"""Perturbations of an (image, keypoints) pair: geometric ones move the keypoints with the image, photometric
ones leave them where they are, content ones change what is drawn.

Conventions: image float [H, W] in [0, 1], a dark figure (0) on a white background (1); keypoints float
[K, 2] (x, y) in image pixels, pixel (row r, column c) centred at (x=c, y=r), as the generator draws.
A horizontal flip exchanges the left/right labels (hands and feet), so that a label still names the
same side of the body. Every random choice comes from the numpy Generator passed in: the same seed
gives the same images.

    image, keypoints, hidden = rotate(15)(image, keypoints, rng)     # hidden: [K] bool, or None
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from problem2.core.schema import HEAD, IMAGE_SIZE, LEFT_FOOT, LEFT_HAND, RIGHT_FOOT, RIGHT_HAND
from problem2.data.generate import CENTRE_RANGE, render_figure, sample_keypoints

FLIP_PAIRS = ((LEFT_HAND, RIGHT_HAND), (LEFT_FOOT, RIGHT_FOOT))
BACKGROUND = 1.0

# (image [H, W], keypoints [K, 2], rng) -> (image, keypoints, hidden [K] bool or None)
Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple]


# ------------------------------------------------------------------------------- geometry

def affine_about_centre(angle_deg: float = 0.0, scale: float = 1.0, shift=(0.0, 0.0),
                        flip: bool = False, size: int = IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(A [2, 2], b [2]) of p -> A p + b: a mirror in x (flip), rotation (counter-clockwise on screen for a
    positive angle, since y points down) and scale about the image centre, then a shift in pixels."""
    c = (size - 1) / 2
    t = math.radians(angle_deg)
    a = scale * np.array([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    if flip:
        a = a @ np.diag([-1.0, 1.0])
    b = np.array([c, c]) - a @ np.array([c, c]) + np.asarray(shift, dtype=np.float64)
    return a, b


def warp_keypoints(keypoints: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(keypoints, dtype=np.float64) @ a.T + b


def warp_image(image: np.ndarray, a: np.ndarray, b: np.ndarray, fill: float = BACKGROUND) -> np.ndarray:
    """The image whose pixel p shows the input at A^-1 (p - b) (bilinear; fill outside the input)."""
    h, w = image.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    src = np.linalg.solve(a, np.stack([xs.ravel() - b[0], ys.ravel() - b[1]]))  # [2, H*W] (x, y)
    x0, y0 = np.floor(src[0]).astype(int), np.floor(src[1]).astype(int)
    fx, fy = src[0] - x0, src[1] - y0
    padded = np.pad(image.astype(np.float64), 1, constant_values=fill)  # index + 1: one pixel of fill around

    def at(x, y):
        return padded[np.clip(y, -1, h) + 1, np.clip(x, -1, w) + 1]

    out = ((1 - fx) * (1 - fy) * at(x0, y0) + fx * (1 - fy) * at(x0 + 1, y0)
           + (1 - fx) * fy * at(x0, y0 + 1) + fx * fy * at(x0 + 1, y0 + 1))
    return out.reshape(h, w)


def swap_left_right(keypoints: np.ndarray) -> np.ndarray:
    out = np.array(keypoints, dtype=np.float64)
    for left, right in FLIP_PAIRS:
        out[[left, right]] = out[[right, left]]
    return out


def apply_affine(image: np.ndarray, keypoints: np.ndarray, a: np.ndarray, b: np.ndarray, flip: bool):
    """(warped image, moved keypoints): the keypoints move with the image and swap sides when flip is set."""
    moved = warp_keypoints(keypoints, a, b)
    return warp_image(image, a, b), swap_left_right(moved) if flip else moved


def affine(draw: Callable[[np.random.Generator], dict]) -> Transform:
    """A geometric transform whose affine_about_centre arguments `draw(rng)` returns per image (apply_affine)."""
    def apply(image, keypoints, rng):
        args = draw(rng)
        a, b = affine_about_centre(**args, size=image.shape[-1])
        return (*apply_affine(image, keypoints, a, b, args.get("flip", False)), None)
    return apply


def shift(dx: float, dy: float) -> Transform:
    """Move the image by (dx, dy) pixels."""
    return affine(lambda rng: {"shift": (dx, dy)})


def shift_any_direction(distance: float) -> Transform:
    """Move the image `distance` pixels in a direction drawn uniformly per image."""
    def draw(rng):
        t = rng.uniform(0, 2 * math.pi)
        return {"shift": (distance * math.cos(t), distance * math.sin(t))}
    return affine(draw)


def rotate(angle_deg: float, either_way: bool = False) -> Transform:
    """Rotate about the image centre; either_way: by +angle or -angle, a coin flip per image."""
    return affine(lambda rng: {"angle_deg": angle_deg * (rng.choice([-1, 1]) if either_way else 1)})


def scale(factor: float) -> Transform:
    """Scale about the image centre."""
    return affine(lambda rng: {"scale": factor})


def hflip() -> Transform:
    """Mirror left to right, left/right labels exchanged."""
    return affine(lambda rng: {"flip": True})


# ---------------------------------------------------------------------------- photometry

def gaussian_noise(std: float) -> Transform:
    """Add N(0, std) per pixel (std in units of the full 0-1 range), clipped to [0, 1]."""
    def apply(image, keypoints, rng):
        return np.clip(image + rng.normal(0.0, std, image.shape), 0, 1), keypoints, None
    return apply


def blur(sigma: float) -> Transform:
    """Gaussian blur of sigma pixels (separable, the border continued with background)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()

    def apply(image, keypoints, rng):
        padded = np.pad(image, radius, constant_values=BACKGROUND)
        rows = np.apply_along_axis(np.convolve, 1, padded, kernel, mode="valid")
        return np.apply_along_axis(np.convolve, 0, rows, kernel, mode="valid"), keypoints, None
    return apply


def contrast(factor: float) -> Transform:
    """Scale the figure's darkness against the white background: a black line becomes 1 - factor."""
    def apply(image, keypoints, rng):
        return BACKGROUND - factor * (BACKGROUND - image), keypoints, None
    return apply


def brightness(offset: float) -> Transform:
    """Add offset to every pixel, clipped to [0, 1] (negative: a grey background, the lines stay black)."""
    def apply(image, keypoints, rng):
        return np.clip(image + offset, 0, 1), keypoints, None
    return apply


def invert() -> Transform:
    """A white figure on a black background."""
    def apply(image, keypoints, rng):
        return 1.0 - image, keypoints, None
    return apply


# ------------------------------------------------------------------------------- content

def occlude(size: int) -> Transform:
    """Paint a background square of side `size` over one keypoint drawn at random; hidden marks it."""
    def apply(image, keypoints, rng):
        k = int(rng.integers(len(keypoints)))
        x, y = np.rint(keypoints[k]).astype(int)
        half = size // 2
        out = image.copy()
        out[max(0, y - half):max(0, y + half + 1), max(0, x - half):max(0, x + half + 1)] = BACKGROUND
        hidden = np.zeros(len(keypoints), dtype=bool)
        hidden[k] = True
        return out, keypoints, hidden
    return apply


def line_width(width: int) -> Transform:
    """The same figure drawn again with lines `width` px wide (the generator draws 3): needs the course geometry."""
    def apply(image, keypoints, rng):
        return render_figure(keypoints, width) / 255.0, keypoints, None
    return apply


def off_centre(low: int, high: int) -> Transform:
    """A new figure from the generator, its centre low..high px outside the training range of centres
    (CENTRE_RANGE, in x or y or both) and every keypoint inside the image; the input is ignored."""
    def apply(image, keypoints, rng):
        size = image.shape[-1]
        while True:
            centre = rng.integers(0, size, size=2)
            beyond = np.maximum(CENTRE_RANGE[0] - centre, centre - CENTRE_RANGE[1]).max()
            if not low <= beyond <= high:
                continue
            new = sample_keypoints(rng, centre)
            if new.min() >= 0 and new.max() <= size - 1:
                return render_figure(new) / 255.0, new.astype(np.float64), None
    return apply


@dataclass(frozen=True)
class Perturbation:
    """One named perturbation at one strength."""
    family: str       # 'rotate'
    strength: str     # '15 deg'
    group: str        # 'geometric', 'photometric' or 'content'
    transform: Transform

    @property
    def name(self) -> str:
        return self.family if self.strength == "-" else f"{self.family} {self.strength}"


def apply_to_set(perturbation: Perturbation, images: np.ndarray, keypoints: np.ndarray, seed: int):
    """Perturb every image of a set: (uint8 images [N, H, W], keypoints [N, K, 2], hidden [N, K] bool or None).

    images: uint8 [N, H, W]; the result is quantised to uint8 as a PNG would store it. Image n draws
    from rng(seed, n), so a subset gets the same perturbation as in the whole set."""
    out_images, out_keypoints, hidden = [], [], []
    for n, (image, kp) in enumerate(zip(images, keypoints)):
        rng = np.random.default_rng([seed, n])
        im, moved, hid = perturbation.transform(image / 255.0, np.asarray(kp, dtype=np.float64), rng)
        out_images.append(np.clip(np.rint(im * 255), 0, 255).astype(np.uint8))
        out_keypoints.append(moved)
        hidden.append(hid)
    hidden = None if hidden[0] is None else np.stack(hidden)
    return np.stack(out_images), np.stack(out_keypoints), hidden


# ------------------------------------------------------------------------------- shifts that probe a model

SHIFT_PROBE_PX = 6  # how far shift_toward_centre moves each test image to measure a model's shift gain


def figure_offset(gt: np.ndarray, view: str = "upright") -> np.ndarray:
    """[N, 2] the figure's centre (cx, cy) minus the image centre, from keypoints [N, K, 2]; the generator draws
    the head at (cx, cy - 20) (at (cx - 20, cy) in the transposed view, data/views.py)."""
    head_to_centre = np.array([20.0, 0.0] if view == "transposed" else [0.0, 20.0])
    return np.asarray(gt)[:, HEAD] + head_to_centre - (IMAGE_SIZE - 1) / 2


def centre_signs(gt: np.ndarray, axis: int, view: str = "upright") -> np.ndarray:
    """[N] +1 or -1: the direction along axis (0: x, 1: y) from each figure towards the image centre."""
    sign = -np.sign(figure_offset(gt, view)[:, axis])
    sign[sign == 0] = 1
    return sign


def shift_images(images: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """[N, 1, H, W] moved by (dx, dy) pixels, the uncovered border filled with the white background."""
    h, w = images.shape[-2:]
    padded = F.pad(images, (abs(dx), abs(dx), abs(dy), abs(dy)), value=BACKGROUND)
    return padded[..., abs(dy) - dy: abs(dy) - dy + h, abs(dx) - dx: abs(dx) - dx + w]


def shift_toward_centre(images: torch.Tensor, gt: np.ndarray, axis: int, step: int = SHIFT_PROBE_PX,
                        view: str = "upright") -> torch.Tensor:
    """[N, 1, H, W] each image moved `step` px along axis (0: x, 1: y) towards the image centre, so that the
    figure stays inside; its true keypoints move by step * centre_signs(gt, axis, view)."""
    signs = centre_signs(gt, axis, view)
    return torch.cat([shift_images(images[n:n + 1], int(step * signs[n]) * (axis == 0), int(step * signs[n]) * (axis == 1))
                      for n in range(len(images))])
