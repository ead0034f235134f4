"""The label-ambiguity study: how much the course's unnamed hands cap labelled PCK, and what each model does
with them (studies.json['ambiguity']; its keys are listed in studies.py).

Both arms of a figure start at the same shoulder and look alike, so the image does not say which hand is
the left one. The ceiling is the best expected labelled PCK of any image-only predictor; the side-label
pair and the two-hand decoder show what each model does once the labels stop being a coin flip.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from problem2.core import metrics
from problem2.core.metrics import ASSIGNMENT_THRESHOLDS
from problem2.core.results import tkey
from problem2.core.schema import LEFT_HAND, RIGHT_HAND
from problem2.figures import style
from problem2.models import conventions
from problem2.studies.evaluation import METHODS, method_reports


def ambiguity_ceiling(gt, thresholds=ASSIGNMENT_THRESHOLDS, normalize_by: str = "bbox") -> dict:
    """Best expected PCK of any predictor that sees only the image, on 50/50 ambiguous hand labels.

    Given the image, each hand label is either of the two drawn hands with probability 1/2. A
    point within threshold x norm of both hands exists iff their gap < 2 x threshold x norm:
    then both hands can score 1, else at most 1/2 each in expectation. Head and feet score 1.
    """
    gt = metrics.as_array(gt)
    norm = metrics.normalizer(gt, normalize_by)
    gap = np.linalg.norm(gt[:, LEFT_HAND] - gt[:, RIGHT_HAND], axis=-1)
    k = gt.shape[1]
    return {tkey(t): float(np.mean((k - 2 + 2 * np.where(gap / 2 < t * norm, 1.0, 0.5)) / k)) for t in thresholds}


def hand_collapse(pred, gt) -> dict:
    """How far apart the predicted hands are, against the true hand gap (pixels)."""
    pred, gt = metrics.as_array(pred), metrics.as_array(gt)
    pred_gap = np.linalg.norm(pred[:, LEFT_HAND] - pred[:, RIGHT_HAND], axis=-1)
    true_gap = np.linalg.norm(gt[:, LEFT_HAND] - gt[:, RIGHT_HAND], axis=-1)
    midpoint = (gt[:, LEFT_HAND] + gt[:, RIGHT_HAND]) / 2
    to_mid = np.linalg.norm(pred[:, [LEFT_HAND, RIGHT_HAND]] - midpoint[:, None], axis=-1).mean()
    return {"mean_predicted_hand_gap_px": float(pred_gap.mean()), "mean_true_hand_gap_px": float(true_gap.mean()),
            "mean_hand_distance_to_midpoint_px": float(to_mid),
            "same_blob_fraction": float(np.mean(pred_gap < 3.0))}


def hand_map_values(heatmaps: torch.Tensor, gt) -> dict:
    """Mean value of each hand's heatmap at its own and at the other hand's true position."""
    gt = metrics.as_array(gt)
    uv = np.clip(np.rint(conventions.image_to_heatmap(gt, heatmaps.shape[-1])).astype(int), 0, heatmaps.shape[-1] - 1)
    idx = np.arange(len(gt))
    out = {}
    for name, k, other in (("left_hand", LEFT_HAND, RIGHT_HAND), ("right_hand", RIGHT_HAND, LEFT_HAND)):
        maps = heatmaps[:, k].numpy()
        out[name] = {"at_own_label": float(maps[idx, uv[:, k, 1], uv[:, k, 0]].mean()),
                     "at_other_hand": float(maps[idx, uv[:, other, 1], uv[:, other, 0]].mean())}
    return out


def ambiguity_study(ds, preds: dict, heatmap_codec, side_ds, side_preds: dict, vis_dir: Path) -> dict:
    """preds: the main pair's predictions on ds (studies.pair_predictions), heatmap_codec: the main heatmap
    model's (for the two-hand decoder); side_preds: the side-label pair's on side_ds, the same images."""
    reports = method_reports(preds, ds.keypoints)
    models = {m: {"pck": reports[m]["standard"]["pck"], "pck_swap_invariant": reports[m]["hand_swap_invariant"]["pck"],
                  "pck_per_keypoint": reports[m]["standard"]["pck_per_keypoint"],
                  "pck_per_keypoint_swap_invariant": reports[m]["hand_swap_invariant"]["pck_per_keypoint"]}
              for m in METHODS}
    two_hand = heatmap_codec.decode_hand_pair(preds["heatmaps"]).numpy()
    two_hand_report = metrics.localization_report(two_hand, ds.keypoints)
    side = method_reports(side_preds, side_ds.keypoints)
    plot_hand_ambiguity(ds, preds, vis_dir / "hand_ambiguity.png")
    return {
        "ceiling": ambiguity_ceiling(ds.keypoints),
        "ceiling_note": "best expected PCK (bbox) from the image alone with 50/50 hand labels; "
                        "the hand-swap-invariant ceiling is 1",
        "models": models,
        "hand_collapse": {m: hand_collapse(preds[m], ds.keypoints) for m in ("regression", "heatmap_argmax")}
                         | {"side_regression": hand_collapse(side_preds["regression"], side_ds.keypoints)},
        "hand_map_values": hand_map_values(preds["heatmaps"], ds.keypoints),
        "side_labels": {m: {k: {"pck": side[m][k]["pck"], "mean_px": side[m][k]["mean_px"],
                                "pck_per_keypoint": side[m][k]["pck_per_keypoint"]}
                            for k in ("standard", "hand_swap_invariant")} for m in METHODS},
        "two_hand_decoder": {k: {"pck": two_hand_report[k]["pck"], "mean_px": two_hand_report[k]["mean_px"],
                                 "pck_per_keypoint": two_hand_report[k]["pck_per_keypoint"]}
                             for k in ("standard", "hand_swap_invariant")},
    }


def plot_hand_ambiguity(ds, preds, save_path: Path, n: int = 4) -> None:
    """Regression hands and the heatmap model's two hand maps on the same images."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(n, 3, figsize=(7.5, 2.5 * n), squeeze=False)
    heatmaps = preds["heatmaps"]
    stride = 128 / heatmaps.shape[-1]
    extent = (-0.5 * stride, 128 - 0.5 * stride, 128 - 0.5 * stride, -0.5 * stride)
    for i in range(n):
        gt = ds.keypoints[i]
        ax = axes[i, 0]
        ax.imshow(ds.images[i], cmap="gray")
        ax.scatter(*gt[[LEFT_HAND, RIGHT_HAND]].T, c=style.COLORS["gt"], s=30, label="true hands")
        ax.scatter(*preds["regression"][i][[LEFT_HAND, RIGHT_HAND]].T, c=style.COLORS["regression"], marker="+",
                   s=60, label="regression hands")
        ax.annotate("L", gt[LEFT_HAND], xytext=(4, 4), textcoords="offset points", color="green", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            ax.legend(fontsize=9, loc="upper left")
        for j, (k, name) in enumerate(((LEFT_HAND, "left_hand"), (RIGHT_HAND, "right_hand")), 1):
            ax = axes[i, j]
            ax.imshow(heatmaps[i, k].numpy(), cmap="magma", vmin=0, vmax=1, extent=extent)
            ax.scatter(*gt[k], s=80, facecolors="none", edgecolors=style.COLORS["gt"], lw=1.5)
            ax.set_title(f"{name} map (ring: its label)", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("The same test images: regression's two hands (+, left) and the heatmap model's\n"
                 "left_hand and right_hand maps (green ring: the hand that map is labelled with)", fontsize=9)
    style.save_figure(fig, save_path)
