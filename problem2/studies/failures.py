"""Failure cases of the main pair: which keypoints one model gets and the other misses, what those images have in
common, and whether a miss is a hand swap or a localisation error. Writes failure_cases.json and galleries.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from problem2.core import metrics, storage
from problem2.core.results import Sections, tkey
from problem2.core.schema import DEFAULT_RESULTS, HEAD, KEYPOINT_NAMES, LEFT_HAND, RIGHT_HAND
from problem2.data.keypoints import evaluation_split, load_split
from problem2.figures import overlays
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.studies.evaluation import predict_keypoints
from problem2.training.checkpoint import load_model
from problem2.training.objective import model_codec


@dataclass
class FailureCases(Sections):
    """failure_cases.json (studies/failures.py): who fails where, and what those keypoints have in common."""
    n_images: int
    threshold: float
    keypoint_names: list
    split: str | None = None
    all_keypoints: dict | None = None
    categories: dict | None = None
    heatmap_decoding: str | None = None
    normalize_by: str | None = None
    split_definitions: dict | None = None
    swap_or_localisation: dict | None = None
    trait_definitions: dict | None = None


CATEGORIES = ("heatmap_ok_regression_fails", "regression_ok_heatmap_fails", "both_fail")


def analyze_failure_cases(model, test_loader, threshold: float = 0.1, decoding: str = "subpixel",
                          vis_dir: Path | None = None, examples: int = 6) -> dict:
    """Keypoints where (1) heatmap succeeds and regression fails, (2) the reverse, (3) both fail.

    model: {'heatmap': HeatmapNet, 'regression': RegressionNet} (both trained); test_loader: a
    DataLoader over a KeypointDataset in order. 'Succeeds' = within threshold x bbox diagonal.
    Returns counts per category (keypoint and image level, per keypoint) and what the failures
    have in common (rates of hand swaps, border proximity, hand on the torso, hands close together).
    """
    dataset = test_loader.dataset
    images, gt = dataset.image_tensor(), dataset.keypoints
    pred_reg, _ = predict_keypoints(model["regression"], images)
    hm_model = model["heatmap"]
    _, heatmaps = predict_keypoints(hm_model, images)
    pred_hm = model_codec(hm_model).decode(heatmaps, decoding).numpy()
    ok_hm = metrics.correct(pred_hm, gt, [threshold])[0]  # [N, K]
    ok_reg = metrics.correct(pred_reg, gt, [threshold])[0]
    masks = {CATEGORIES[0]: ok_hm & ~ok_reg, CATEGORIES[1]: ~ok_hm & ok_reg, CATEGORIES[2]: ~ok_hm & ~ok_reg}
    traits = failure_traits(gt, {"heatmap": pred_hm, "regression": pred_reg})
    result = {"threshold": threshold, "normalize_by": "bbox", "heatmap_decoding": decoding,
              "n_images": len(gt), "keypoint_names": KEYPOINT_NAMES,
              "split_definitions": SPLIT_DEFINITIONS,
              "swap_or_localisation": {"heatmap": failure_split(pred_hm, gt), "regression": failure_split(pred_reg, gt)},
              "trait_definitions": TRAIT_DEFINITIONS,
              "all_keypoints": {"count": int(gt.shape[0] * gt.shape[1]),
                                "trait_rates": _trait_rates(traits, np.ones_like(ok_hm))},
              "categories": {}}
    image_ok = {"heatmap": ok_hm.all(1), "regression": ok_reg.all(1)}
    image_masks = {CATEGORIES[0]: image_ok["heatmap"] & ~image_ok["regression"],
                   CATEGORIES[1]: ~image_ok["heatmap"] & image_ok["regression"],
                   CATEGORIES[2]: ~image_ok["heatmap"] & ~image_ok["regression"]}
    for name, mask in masks.items():
        result["categories"][name] = {
            "keypoints": int(mask.sum()), "per_keypoint": mask.sum(0).tolist(),
            "images_all_keypoints": int(image_masks[name].sum()),
            "trait_rates": _trait_rates(traits, mask)}
    if vis_dir is not None:
        lost = failure_parts(pred_hm, gt, [SPLIT_THRESHOLDS[0]])["localisation"][0]
        _gallery("heatmap_localisation_failures", lost, dataset, gt, pred_hm, pred_reg,
                 heatmaps, examples, SPLIT_THRESHOLDS[0], Path(vis_dir) / "failures_heatmap_localisation.png")
        for name, mask in masks.items():
            _gallery(name, mask, dataset, gt, pred_hm, pred_reg, heatmaps, examples, threshold,
                     Path(vis_dir) / f"failures_{name}.png")
    return result


SPLIT_THRESHOLDS = (0.05, 0.2)
SPLIT_DEFINITIONS = {
    "failures": "keypoints outside threshold x bbox diagonal with the labels as given (the assignment's PCK)",
    "hand_swaps": "failures that are correct once the image's two hand predictions are exchanged "
                  "(metrics.align_hands): the location was found, the label was the other hand's",
    "other_hand": "hand failures that stay wrong after that exchange but lie within the threshold of the other "
                  "hand: both hand predictions went to one hand (a decoding choice between two blobs, not a miss)",
    "localisation": "every other failure: the prediction is near neither its own keypoint nor, for a hand, the other "
                    "hand; the location itself was missed",
}


def failure_parts(pred, gt, thresholds=SPLIT_THRESHOLDS) -> dict:
    """{part: [T, N, K] bool}: labelled PCK failures split as SPLIT_DEFINITIONS says."""
    wrong = ~metrics.correct(pred, gt, thresholds)  # [T, N, K]
    still_wrong = ~metrics.correct(metrics.align_hands(pred, gt), gt, thresholds)
    on_other_hand = metrics.correct(pred, metrics.swap_hands(gt), thresholds)  # never true off the hands when wrong
    # a hand can be right as labelled and wrong once the pair is exchanged (align_hands decides per image): the
    # parts count failures only, so that they add up to `failures`
    return {"failures": wrong, "hand_swaps": wrong & ~still_wrong, "other_hand": wrong & still_wrong & on_other_hand,
            "localisation": wrong & still_wrong & ~on_other_hand}


def failure_split(pred, gt, thresholds=SPLIT_THRESHOLDS) -> dict:
    """{tkey: {failures, hand_swaps, other_hand, localisation, per_keypoint: {...}}} (SPLIT_DEFINITIONS)."""
    split = failure_parts(pred, gt, thresholds)
    out = {}
    for i, t in enumerate(thresholds):
        parts = {k: v[i] for k, v in split.items()}
        out[tkey(t)] = {k: int(v.sum()) for k, v in parts.items()} | \
            {"per_keypoint": {k: v.sum(0).tolist() for k, v in parts.items()}}
    return out


TRAIT_DEFINITIONS = {
    "hand_swapped": "hands only: the prediction is closer to the other hand's ground truth",
    "near_border": "ground truth within 10 px of the image border",
    "hand_on_torso": "hands only: |hand x - torso x| <= 4 px (the arm lies over the torso line)",
    "hands_close": "hands only: the two hands are within 8 px of each other",
}


def failure_traits(gt: np.ndarray, preds: dict) -> dict:
    """{trait: [N, K] bool} (hand_swapped per method); definitions in TRAIT_DEFINITIONS."""
    n, k, _ = gt.shape
    is_hand = np.zeros((n, k), bool)
    is_hand[:, [LEFT_HAND, RIGHT_HAND]] = True
    other = metrics.swap_hands(gt)
    traits = {"near_border": (np.minimum(gt, 127 - gt).min(-1) < 10)}
    for name, pred in preds.items():
        closer_to_other = np.linalg.norm(pred - other, axis=-1) < np.linalg.norm(pred - gt, axis=-1)
        traits[f"hand_swapped_{name}"] = closer_to_other & is_hand
    torso_x = gt[:, HEAD, 0][:, None]
    traits["hand_on_torso"] = (np.abs(gt[..., 0] - torso_x) <= 4) & is_hand
    hand_gap = np.linalg.norm(gt[:, LEFT_HAND] - gt[:, RIGHT_HAND], axis=-1)[:, None]
    traits["hands_close"] = (hand_gap < 8) & is_hand
    return traits


def _trait_rates(traits: dict, mask: np.ndarray) -> dict:
    count = max(int(mask.sum()), 1)
    return {name: float((t & mask).sum() / count) for name, t in traits.items()}


def _gallery(name, mask, dataset, gt, pred_hm, pred_reg, heatmaps, examples, threshold, save_path):
    img_idx, kp_idx = np.nonzero(mask)
    if len(img_idx) == 0:
        return
    # the worst cases first: by the heatmap error for categories where it fails, else regression's
    err = np.linalg.norm((pred_reg if name == CATEGORIES[0] else pred_hm) - gt, axis=-1)[img_idx, kp_idx]
    order = np.argsort(-err)
    picked, seen = [], set()
    for o in order:  # one keypoint per image
        if img_idx[o] not in seen:
            picked.append(o)
            seen.add(img_idx[o])
        if len(picked) == examples:
            break
    ii, kk = img_idx[picked], kp_idx[picked]
    titles = [f"img {dataset.ids[i]}: {KEYPOINT_NAMES[k]}\nhm {np.linalg.norm(pred_hm[i, k] - gt[i, k]):.1f} px, "
              f"reg {np.linalg.norm(pred_reg[i, k] - gt[i, k]):.1f} px" for i, k in zip(ii, kk)]
    overlays.plot_failure_gallery(dataset.images[ii], gt[ii], pred_hm[ii], pred_reg[ii],
                               heatmaps[torch.as_tensor(ii), torch.as_tensor(kk)], kk, save_path, titles,
                               f"{category_name(name)} (threshold {threshold} x bbox diagonal); worst first")


FAILURE_CATEGORIES = {"heatmap_ok_regression_fails": "HeatmapNet right, RegressionNet wrong",
                      "regression_ok_heatmap_fails": "RegressionNet right, HeatmapNet wrong", "both_fail": "both wrong"}


def category_name(key: str) -> str:
    """A failure category of failure_cases.json in the reader's words."""
    return FAILURE_CATEGORIES.get(key, key.replace("_", " "))


def failure_analysis(data_dir: Path, results_dir: Path = DEFAULT_RESULTS, threshold: float = 0.1) -> dict:
    """analyze_failure_cases on the main pair and the evaluation split; writes failure_cases.json."""
    split = evaluation_split(data_dir)
    test = load_split(data_dir, split, "heatmap")
    models = {name: load_model(Path(results_dir) / f"{name}_model.pth", cls)
              for name, cls in (("heatmap", HeatmapNet), ("regression", RegressionNet))}
    result = analyze_failure_cases(models, DataLoader(test, batch_size=64), threshold,
                                   vis_dir=Path(results_dir) / "visualizations")
    result["split"] = split
    storage.save_json(result, Path(results_dir) / "failure_cases.json")
    return result
