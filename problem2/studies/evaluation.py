"""Evaluate both trained models: keypoints from heatmaps, PCK, pixel errors and the figures.

    python -m problem2.evaluate                    # the committed models on the test split -> outputs/evaluate/
    python -m problem2.evaluate --results outputs/reproduction --data-dir ../shared/ee641_keypoints --split val

Methods compared on the same images: 'regression', 'heatmap_argmax' and 'heatmap_subpixel'
(DARK-style Taylor refinement, see decoding.subpixel_refine). Each is scored as labelled and
hand-swap-invariant (metrics.align_hands), since the course images do not say which hand is left.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from problem2.core import metrics, storage
from problem2.core.metrics import ASSIGNMENT_THRESHOLDS, CURVE_THRESHOLDS, compute_pck  # noqa: F401 (API)
from problem2.core.results import JsonResult
from problem2.core.schema import portable
from problem2.data.files import read_annotations
from problem2.data.keypoints import KeypointDataset, evaluation_split, load_split
from problem2.figures import charts, overlays
from problem2.figures.charts import plot_pck_curves
from problem2.figures.overlays import visualize_predictions  # noqa: F401 the assignment's API
from problem2.models import decoding
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.training.checkpoint import load_model
from problem2.training.loop import predict
from problem2.training.objective import model_codec


@dataclass
class Scores(JsonResult):
    """One method scored one way (labelled, or hand-swap-invariant) on N images; see metrics.py for the rules."""
    pck: dict[str, float]                     # {tkey: PCK, bbox normaliser}
    pck_torso: dict[str, float]               # {tkey: PCK, torso normaliser}
    pck_per_keypoint: dict[str, list]         # {tkey: [K] PCK per keypoint}
    pck_curve: list                           # PCK at Metrics.curve_thresholds
    pck_auc: float                            # area under pck_curve over its range, in [0, 1]
    mean_px: float
    median_px: float
    mean_px_per_keypoint: list
    median_px_per_keypoint: list


@dataclass
class MethodScores(JsonResult):
    standard: Scores                          # the assignment's labelled metric
    hand_swap_invariant: Scores               # per image, the better of the two hand labellings


@dataclass
class References(JsonResult):
    """What a model must beat and what it cannot: evaluate.reference_points."""
    mean_pose: MethodScores                   # the training split's mean keypoints for every image
    coin_flip_hands: dict[str, list]          # {tkey: [expected PCK, std over coin flips]}, perfect localisation
    notes: dict[str, str]


@dataclass
class Metrics(JsonResult):
    """metrics.json: the main pair's methods, and the reference points, on one split."""
    split: str
    data_dir: str
    n_images: int
    keypoint_names: list
    thresholds: list
    curve_thresholds: list
    pck_rule: str
    methods: dict[str, MethodScores]          # 'regression', 'heatmap_argmax', 'heatmap_subpixel'
    references: References | None = None      # absent in files written before the reference points


METHODS = ("regression", "heatmap_argmax", "heatmap_subpixel")


def extract_keypoints_from_heatmaps(heatmaps, method='argmax'):
    """[B, K, H, W] -> [B, K, 2] (x, y) in heatmap pixels; method 'argmax' or 'subpixel' (refined)."""
    heatmaps = torch.as_tensor(heatmaps)
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps must be [B, K, H, W]; got shape {list(heatmaps.shape)}")
    if not torch.isfinite(heatmaps).all():
        raise ValueError("heatmaps hold NaN or infinite values: no keypoint can be read from them")
    if method == "argmax":
        return decoding.argmax_2d(heatmaps).float()
    if method == "subpixel":
        return decoding.subpixel_refine(heatmaps)
    raise ValueError(f"method must be 'argmax' or 'subpixel', got {method!r}")


def predict_keypoints(model, images: torch.Tensor, method: str = "argmax", precision: str = "fp32"):
    """[N, 1, 128, 128] -> ([N, K, 2] image (x, y), raw outputs). Any model: heatmaps [N, K, S, S] or
    coordinates [N, 2K] / 128 are told apart by the output's shape (objective.model_codec)."""
    outputs = predict(model, images, precision=precision)
    return model_codec(model, outputs).decode(outputs, method).numpy(), outputs


def predict_default(model, images: torch.Tensor):
    """[N, 1, 128, 128] -> [N, K, 2] image (x, y), decoded by the model's codec's default decoding (heatmaps:
    sub-pixel)."""
    return predict_keypoints(model, images, model_codec(model).default_decoding)[0]


def evaluate_pair(heatmap_model, regression_model, dataset: KeypointDataset) -> dict:
    """Predictions [N, K, 2] of every method on the dataset's images, plus the heatmaps [N, K, S, S]."""
    images = dataset.image_tensor()
    reg, _ = predict_keypoints(regression_model, images)
    hm_argmax, heatmaps = predict_keypoints(heatmap_model, images, "argmax")
    hm_subpixel = model_codec(heatmap_model).decode(heatmaps, "subpixel").numpy()
    return {"regression": reg, "heatmap_argmax": hm_argmax, "heatmap_subpixel": hm_subpixel,
            "heatmaps": heatmaps}


def method_reports(predictions: dict, gt) -> dict:
    """{method: metrics.localization_report} (JSON-shaped dicts)."""
    return {m: metrics.localization_report(predictions[m], gt) for m in METHODS}


def reference_points(data_dir: Path, gt) -> References:
    """What a model must beat and what it cannot beat: the training set's mean pose for every image, and
    perfect localisation with coin-flip hand labels (mean and spread over coin flips on these images)."""
    train = read_annotations(Path(data_dir) / "train_annotations.json")["images"]
    train_keypoints = [r["keypoints"] for r in train]
    mean_pose = metrics.localization_report(metrics.mean_pose(train_keypoints, len(gt)), gt)
    return References(
        mean_pose=MethodScores.from_dict(mean_pose), coin_flip_hands=metrics.coin_flip_pck(gt),
        notes={"mean_pose": "the training split's mean keypoints predicted for every image",
               "coin_flip_hands": "every keypoint exact, hand labels a fair coin flip per image: "
                                  "{threshold: [expected PCK, std over coin flips]}"})


def evaluate_checkpoints(results_dir: Path, data_dir: Path, split: str | None = None,
                         out_dir: Path | None = None, figures: bool = True) -> Metrics:
    """Score results_dir/{heatmap,regression}_model.pth on a split; write metrics.json and figures."""
    results_dir = Path(results_dir)
    out_dir = Path(out_dir or results_dir)
    split = split or evaluation_split(data_dir)
    heatmap_model = load_model(results_dir / "heatmap_model.pth", HeatmapNet)
    regression_model = load_model(results_dir / "regression_model.pth", RegressionNet)
    dataset = load_split(data_dir, split, "heatmap", heatmap_model.heatmap_size)
    predictions = evaluate_pair(heatmap_model, regression_model, dataset)
    gt = dataset.keypoints
    result = Metrics(
        split=split, data_dir=portable(data_dir), n_images=len(dataset), keypoint_names=dataset.keypoint_names,
        thresholds=list(ASSIGNMENT_THRESHOLDS), curve_thresholds=CURVE_THRESHOLDS.tolist(),
        pck_rule="correct when distance < threshold x normaliser (strict); normalisers in metrics.py",
        methods={m: MethodScores.from_dict(r) for m, r in method_reports(predictions, gt).items()},
        references=reference_points(data_dir, gt))
    result.save(out_dir / "metrics.json")
    if figures:
        draw_evaluation_figures(result, dataset, predictions, results_dir, out_dir / "visualizations")
    return result


def draw_evaluation_figures(result: Metrics, dataset: KeypointDataset, predictions: dict, results_dir: Path,
                            vis_dir: Path, n_samples: int = 4) -> None:
    curve = lambda m, kind="standard": dict(zip(result.curve_thresholds,  # noqa: E731
                                                getattr(result.methods[m], kind).pck_curve))
    plot_pck_curves(curve("heatmap_argmax"), curve("regression"), vis_dir / "pck_curves.png",
                    extra={"heatmap subpixel": curve("heatmap_subpixel"),
                           "heatmap swap-invariant": curve("heatmap_argmax", "hand_swap_invariant"),
                           "regression swap-invariant": curve("regression", "hand_swap_invariant")},
                    title=f"PCK on {result.split} ({result.n_images} images)")
    idx = list(range(n_samples))
    overlays.plot_prediction_grid(dataset.images[idx], dataset.keypoints[idx],
                               {"heatmap": predictions["heatmap_subpixel"][idx],
                                "regression": predictions["regression"][idx]},
                               vis_dir / "sample_predictions.png",
                               suptitle=f"First {n_samples} {result.split} images\ngreen o: ground truth, "
                                        "x: prediction (heatmap: sub-pixel)")
    visualize_predictions(dataset.images[0], predictions["heatmap_subpixel"][0], dataset.keypoints[0],
                          vis_dir / "single_prediction_heatmap.png", title="heatmap (sub-pixel)")
    training_log = storage.load_json(results_dir / "training_log.json")
    if training_log:
        charts.plot_training_curves(training_log, vis_dir / "training_curves.png")
    snapshots_file = results_dir / "heatmap_snapshots.pt"
    if snapshots_file.exists():
        snap = torch.load(snapshots_file, weights_only=True)
        storage.traced("read", snapshots_file)
        val = load_split(dataset.annotation_file.parent, "val", "heatmap")
        first = snap["val_indices"][0]
        overlays.plot_heatmap_stages(val.images[first], {e: s[0].float() for e, s in snap["epochs"].items()},
                                  vis_dir / "heatmap_training_stages.png")
