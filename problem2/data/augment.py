"""Training-time augmentation, the same for both models: each item is transformed as an (image, keypoints)
pair, then encoded by the dataset's codec, so heatmap targets are drawn at the moved keypoints (never warped).

    train_set = AugmentedDataset(load_split(data_dir, "train", "heatmap"), AugmentConfig(), seed=0)
    train_run(model, DataLoader(train_set, batch_size=32, shuffle=True), val_loader, cfg, ...)

Geometry: one random affine map per item (rotation, scale, shift, a horizontal flip that swaps the
left/right labels), redrawn up to `tries` times until every keypoint stays inside the image, else the item
keeps its geometry. Then, each with its own probability and in this order: cutout (a background square at a
random place, or, for a share `aimed_cutout` of them, over a keypoint), contrast, a darker background,
Gaussian blur, inversion, pixel noise. The primitives are perturb.py's, so a transform means the same thing
in training as in the robustness suite.

Randomness: item i in epoch e draws from rng(seed, e, i); `fit` calls set_epoch(e) before each epoch,
so a resumed run sees the same augmented images as an uninterrupted one.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from problem2.core.schema import IMAGE_SIZE
from problem2.data import perturb as P


@dataclass(frozen=True)
class AugmentConfig:
    max_rotation: float = 30.0        # degrees, uniform in [-max, max]
    scale: tuple = (0.8, 1.2)         # uniform
    max_shift: float = 16.0           # pixels, per axis uniform in [-max, max]
    flip: float = 0.5                 # probability of a horizontal flip (labels swapped)
    tries: int = 10                   # redraws of the geometry before an item keeps its own
    contrast: tuple = (0.25, 1.0, 0.5)  # (low factor, high factor, probability)
    darken: tuple = (0.5, 0.3)        # (largest brightness decrease, probability)
    blur: tuple = (2.0, 0.3)          # (largest sigma, probability)
    noise: tuple = (0.2, 0.5)         # (largest pixel-noise sd, probability)
    invert: float = 0.2               # probability of a white figure on black
    cutout: tuple = (15, 0.3)         # (largest square side in px, probability)
    aimed_cutout: float = 0.0         # share of cutouts placed over a keypoint drawn at random (it is hidden)


ADDED_LATER = {"aimed_cutout": 0.0}  # fields a config records only when not at this value, so that the
                                     # fingerprints of runs made before the field existed still match


def random_geometry(keypoints: np.ndarray, config: AugmentConfig, rng: np.random.Generator, size: int = IMAGE_SIZE):
    """(A, b, flip) of an affine map that keeps every keypoint inside the image; the identity if none is found."""
    for _ in range(config.tries):
        flip = bool(rng.random() < config.flip)
        a, b = P.affine_about_centre(rng.uniform(-config.max_rotation, config.max_rotation), rng.uniform(*config.scale),
                                     rng.uniform(-config.max_shift, config.max_shift, size=2), flip, size)
        moved = P.warp_keypoints(keypoints, a, b)
        if moved.min() >= 0 and moved.max() <= size - 1:
            return a, b, flip
    return np.eye(2), np.zeros(2), False


def augment(image: np.ndarray, keypoints: np.ndarray, config: AugmentConfig, rng: np.random.Generator):
    """image float [H, W] in [0, 1], keypoints [K, 2] image px -> (augmented image, its keypoints)."""
    image, keypoints = P.apply_affine(image, keypoints, *random_geometry(keypoints, config, rng, image.shape[-1]))
    steps = []  # cutout first, so that its square gets the same photometry as the rest of the background
    if rng.random() < config.cutout[1]:
        side = int(rng.integers(3, config.cutout[0] + 1))
        aimed = bool(config.aimed_cutout) and rng.random() < config.aimed_cutout  # no draw when never aimed
        steps.append(cutout(side, keypoints[rng.integers(len(keypoints))] if aimed else None))
    if rng.random() < config.contrast[2]:
        steps.append(P.contrast(rng.uniform(config.contrast[0], config.contrast[1])))
    if rng.random() < config.darken[1]:
        steps.append(P.brightness(-rng.uniform(0, config.darken[0])))
    if rng.random() < config.blur[1]:
        steps.append(P.blur(rng.uniform(0.3, config.blur[0])))
    if rng.random() < config.invert:
        steps.append(P.invert())
    if rng.random() < config.noise[1]:
        steps.append(P.gaussian_noise(rng.uniform(0, config.noise[0])))
    for step in steps:
        image = step(image, keypoints, rng)[0]
    return image, keypoints


def cutout(side: int, over: np.ndarray | None = None) -> P.Transform:
    """A background square of the given side inside the image: at a uniformly random place (it may cover a
    keypoint or not), or, given over = (x, y) image px, uniformly among the places that cover that point's pixel."""
    def apply(image, keypoints, rng):
        y, x = square_corner(rng, side, image.shape[0], over)
        out = image.copy()
        out[y:y + side, x:x + side] = P.BACKGROUND
        return out, keypoints, None
    return apply


def square_corner(rng: np.random.Generator, side: int, size: int, over: np.ndarray | None = None) -> tuple:
    """(y, x) of a side x side square placed uniformly inside a size x size image; given over = (x, y), only
    where the square covers the pixel of that point."""
    if over is None:
        return int(rng.integers(0, size - side + 1)), int(rng.integers(0, size - side + 1))
    px, py = np.clip(np.rint(over).astype(int), 0, size - 1)
    return (int(rng.integers(max(0, py - side + 1), min(py, size - side) + 1)),
            int(rng.integers(max(0, px - side + 1), min(px, size - side) + 1)))


def config_record(config: AugmentConfig) -> dict:
    """The config as a run's fingerprint records it: every field, except ADDED_LATER ones at their old value."""
    return {k: v for k, v in asdict(config).items() if k not in ADDED_LATER or v != ADDED_LATER[k]}


def cutout_hide_rate(keypoints: np.ndarray, config: AugmentConfig, draws: int = 20000, seed: int = 0) -> float:
    """Share of augmented training items whose cutout hides at least one keypoint: a cutout's chance times that
    of its square (drawn as `augment` draws it, aimed or not) covering the pixel of a keypoint of a random item of
    keypoints [N, K, 2] (image px; the geometric transform left out)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(draws):
        kp = np.rint(keypoints[rng.integers(len(keypoints))])
        side = int(rng.integers(3, config.cutout[0] + 1))
        aimed = rng.random() < config.aimed_cutout
        y, x = square_corner(rng, side, IMAGE_SIZE, kp[rng.integers(len(kp))] if aimed else None)
        hits += bool(np.any((kp[:, 0] >= x) & (kp[:, 0] < x + side) & (kp[:, 1] >= y) & (kp[:, 1] < y + side)))
    return config.cutout[1] * hits / draws


def aimed_depth_share(config: AugmentConfig, depth: int) -> float:
    """Share of augmented training items whose cutout is aimed and buries its keypoint at least `depth` px from
    every edge of the square (a centred square of side 2 depth + 1 buries it `depth` px deep). Exact: sides uniform
    in 3..max, the square uniform among the places that cover the keypoint's pixel."""
    sides = range(3, config.cutout[0] + 1)
    deep = sum((max(0, s - 2 * depth) / s) ** 2 for s in sides) / len(sides)
    return config.cutout[1] * config.aimed_cutout * deep


class AugmentedDataset(Dataset):
    """A KeypointDataset seen through augmentation: items (image [1, 128, 128], target by the dataset's codec)."""

    def __init__(self, dataset, config: AugmentConfig = AugmentConfig(), seed: int = 0):
        self.dataset, self.config, self.seed, self.epoch = dataset, config, seed, 0
        self.codec = dataset.codec

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        return len(self.dataset)

    def item(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        """(augmented image float [H, W], keypoints [K, 2]) of item idx in the current epoch."""
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        return augment(self.dataset.images[idx] / 255.0, self.dataset.keypoints[idx].astype(np.float64),
                       self.config, rng)

    def __getitem__(self, idx):
        image, keypoints = self.item(idx)
        return (torch.from_numpy(image).float().unsqueeze(0),
                torch.from_numpy(self.codec.encode(keypoints.astype(np.float32))))

    def fingerprint(self) -> dict:
        """The base data's fingerprint, the augmentation and its seed (what a resumed run must match)."""
        from problem2.data.keypoints import dataset_fingerprint
        fingerprint = {**dataset_fingerprint(self.dataset), "augment": config_record(self.config),
                       "augment_seed": self.seed}
        return json.loads(json.dumps(fingerprint))  # as a log stores it (tuples as lists), so reuse compares equal
