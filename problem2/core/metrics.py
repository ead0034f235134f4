"""Pure localisation metrics over keypoint arrays: PCK, pixel errors, hand-swap invariance, intervals.

All inputs are (x, y) in image pixels, shape [N, K, 2] (numpy arrays or tensors).

PCK: keypoint k of image n is correct when  ||pred - gt|| < threshold * normaliser[n]  (strict <).
Normalisers, per image, from the ground truth:
  'bbox'  : diagonal of the bounding box of the image's ground-truth keypoints (the assignment's);
  'torso' : distance from the head to the midpoint of the two feet (the figures have no hip
            keypoint; this head-to-feet axis is the body's length, 57 px for every generated figure).
"""
from __future__ import annotations

import numpy as np

from problem2.core.results import by_tkey, tkey
from problem2.core.schema import HEAD, LEFT_FOOT, LEFT_HAND, RIGHT_FOOT, RIGHT_HAND

NORMALIZERS = ("bbox", "torso")
ASSIGNMENT_THRESHOLDS = (0.05, 0.1, 0.15, 0.2)
ASSIGNMENT_KEYS = tuple(tkey(t) for t in ASSIGNMENT_THRESHOLDS)  # their keys in results ('0.05', ...)
CURVE_THRESHOLDS = np.round(np.linspace(0.0, 0.3, 61), 3)  # step 0.005


def as_array(points) -> np.ndarray:
    """Tensor or array-like -> float64 numpy array."""
    if hasattr(points, "detach"):
        points = points.detach().cpu().numpy()
    return np.asarray(points, dtype=np.float64)


def check_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = as_array(pred), as_array(gt)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2:
        raise ValueError(f"predictions and ground truths must both be [N, K, 2]; got "
                         f"{list(pred.shape)} and {list(gt.shape)}")
    return pred, gt


def distances(pred, gt) -> np.ndarray:
    """[N, K] Euclidean distances in pixels."""
    pred, gt = check_pair(pred, gt)
    return np.linalg.norm(pred - gt, axis=-1)


def normalizer(gt, normalize_by: str = "bbox") -> np.ndarray:
    """[N] per-image normalisers (see module docstring); a zero one raises ValueError."""
    gt = as_array(gt)
    if normalize_by == "bbox":
        extent = gt.max(axis=1) - gt.min(axis=1)  # [N, 2] width, height
        norm = np.linalg.norm(extent, axis=-1)
    elif normalize_by == "torso":
        norm = np.linalg.norm(gt[:, HEAD] - (gt[:, LEFT_FOOT] + gt[:, RIGHT_FOOT]) / 2, axis=-1)
    else:
        raise ValueError(f"normalize_by must be one of {NORMALIZERS}, got {normalize_by!r}")
    if np.any(norm <= 0):
        bad = np.flatnonzero(norm <= 0)[:5].tolist()
        raise ValueError(f"zero {normalize_by} normaliser for image(s) {bad}: PCK is undefined there")
    return norm


def correct(pred, gt, thresholds, normalize_by: str = "bbox") -> np.ndarray:
    """[T, N, K] booleans: distance < threshold * normaliser."""
    d = distances(pred, gt)
    norm = normalizer(gt, normalize_by)
    t = np.asarray(thresholds, dtype=np.float64).reshape(-1, 1, 1)
    if t.size == 0 or not np.all(np.isfinite(t) & (t >= 0)):
        raise ValueError(f"thresholds must be finite and non-negative, got {thresholds!r}")
    return d[None] < t * norm[None, :, None]


def compute_pck(predictions, ground_truths, thresholds, normalize_by='bbox'):
    """[N, K, 2] each -> {threshold: fraction of keypoints correct} (all images and keypoints)."""
    hits = correct(predictions, ground_truths, thresholds, normalize_by)
    return {float(t): float(h.mean()) for t, h in zip(np.atleast_1d(thresholds), hits)}


def pck_per_keypoint(pred, gt, thresholds, normalize_by="bbox") -> dict:
    """{tkey(threshold): [K] fraction correct per keypoint}."""
    hits = correct(pred, gt, thresholds, normalize_by)
    return {tkey(t): h.mean(axis=0).tolist() for t, h in zip(np.atleast_1d(thresholds), hits)}


def pck_curve(pred, gt, thresholds=CURVE_THRESHOLDS, normalize_by="bbox") -> tuple[list, float]:
    """(PCK at each threshold, area under the curve normalised to [0, 1] by the threshold range)."""
    values = correct(pred, gt, thresholds, normalize_by).mean(axis=(1, 2))
    t = np.asarray(thresholds, dtype=np.float64)
    area = float(np.sum((values[1:] + values[:-1]) / 2 * np.diff(t)) / (t[-1] - t[0]))
    return values.tolist(), area


def swap_hands(points) -> np.ndarray:
    """Copy of [N, K, 2] with left_hand and right_hand exchanged."""
    out = as_array(points).copy()
    out[:, [LEFT_HAND, RIGHT_HAND]] = out[:, [RIGHT_HAND, LEFT_HAND]]
    return out


def align_hands(pred, gt) -> np.ndarray:
    """Predictions with the hands swapped in each image where that lowers the summed hand error.

    The course images do not say which hand is the left one; scoring the aligned predictions
    gives hand-swap-invariant metrics (the better of the two labellings per image).
    """
    pred, gt = check_pair(pred, gt)
    hands = [LEFT_HAND, RIGHT_HAND]
    given = distances(pred[:, hands], gt[:, hands]).sum(-1)
    swapped_pred = swap_hands(pred)
    swapped = distances(swapped_pred[:, hands], gt[:, hands]).sum(-1)
    return np.where((swapped < given)[:, None, None], swapped_pred, pred)


def error_summary(pred, gt) -> dict:
    """Mean and median pixel error, overall and per keypoint."""
    d = distances(pred, gt)
    return {"mean_px": float(d.mean()), "median_px": float(np.median(d)),
            "mean_px_per_keypoint": d.mean(axis=0).tolist(),
            "median_px_per_keypoint": np.median(d, axis=0).tolist()}


def localization_report(pred, gt, thresholds=ASSIGNMENT_THRESHOLDS) -> dict:
    """Everything evaluate.py records for one method: PCK (bbox and torso, overall and per
    keypoint), the PCK curve and its AUC, pixel errors; and the same, hand-swap-invariant.
    JSON-shaped (threshold keys tkey(t)); results.MethodScores.from_dict types it."""
    pred, gt = check_pair(pred, gt)

    def block(p):
        curve, auc = pck_curve(p, gt)
        return {"pck": by_tkey(compute_pck(p, gt, thresholds, "bbox")),
                "pck_torso": by_tkey(compute_pck(p, gt, thresholds, "torso")),
                "pck_per_keypoint": pck_per_keypoint(p, gt, thresholds, "bbox"),
                "pck_curve": curve, "pck_auc": auc, **error_summary(p, gt)}

    return {"standard": block(pred), "hand_swap_invariant": block(align_hands(pred, gt))}


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10000, seed: int = 0,
                     level: float = 0.95) -> dict:
    """Mean of a - b over paired units (e.g. images) and its percentile bootstrap interval.

    Hand-written on purpose: it is the interval of scipy.stats.bootstrap(paired=True, method='percentile')
    (tests/test_metrics.py checks both it and BCa on PCK-like scores), without scipy at run time, and its
    fixed seed reproduces the committed intervals to the last digit.

    a, b: [N] per-unit scores of two methods on the same units. Returns {'diff', 'low', 'high'}.
    """
    a, b = as_array(a).ravel(), as_array(b).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired samples must have the same non-zero length; got {a.size} and {b.size}")
    diff = a - b
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, diff.size, size=(n_boot, diff.size))
    means = diff[idx].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return {"diff": float(diff.mean()), "low": float(low), "high": float(high), "level": level,
            "n_units": int(diff.size), "n_boot": n_boot}


def coin_flip_pck(gt, thresholds=ASSIGNMENT_THRESHOLDS, normalize_by: str = "bbox") -> dict:
    """Perfect localisation with the hand labels a fair coin flip per image: {tkey: [mean, std]}.

    With probability 1/2 an image's labels are right (5 of 5 correct); else the hands are exchanged and
    score only where the two hands lie within threshold x normaliser of each other. The std is the
    spread of PCK over coin flips on these N images (analytic: independent Bernoulli(1/2) per image).
    """
    gt = as_array(gt)
    n, k = gt.shape[:2]
    norm = normalizer(gt, normalize_by)
    gap = np.linalg.norm(gt[:, LEFT_HAND] - gt[:, RIGHT_HAND], axis=-1)
    out = {}
    for t in np.atleast_1d(thresholds):
        at_stake = gap >= t * norm  # images where a swap costs both hands
        mean = 1 - at_stake.mean() * (2 / k) / 2
        std = np.sqrt(at_stake.sum() * (2 / k) ** 2 / 4) / n
        out[tkey(t)] = [float(mean), float(std)]
    return out


def mean_pose(train_keypoints, n_images: int) -> np.ndarray:
    """[n_images, K, 2]: the training set's mean keypoints for every image (a predictor that ignores the image)."""
    mean = as_array(train_keypoints).mean(axis=0)
    return np.broadcast_to(mean, (n_images, *mean.shape)).copy()
