"""Why direct regression fails here: each model's predictions per axis, and where horizontal position is lost.

    python -m problem2 diagnosis --results outputs/reproduction     # -> RESULTS/diagnosis.json and two figures


diagnosis.json:
  axes:    {model: {split: {'per_keypoint': {name: {x|y: stats}}, 'all': {x|y: stats}}}}; stats = corr
           (Pearson, predicted vs true; 0 when either side is constant), pred_std, true_std, slope (least
           squares of predicted on true: 1 follows the truth, 0 ignores it), mean_abs_err (px)
  offset:  {model: {axis: {bin_centres, mean_abs_err}}}: error against the figure's offset from the image centre
  shift:   {model: {x|y: gain}}: mean predicted displacement / true displacement when the image is shifted
  mirror:  {model: gain}: the same for the head under a horizontal flip (its true x becomes 127 - x)
  border_reach: {x|y: {mean_gap_px, max_gap_px, within_receptive_field}} of the test figures
  probes:  {model: {layer: {x|y: {mean_abs_err, r2}}}}: ridge regression from encoder features to the
           unambiguous keypoints (fit on train, lambda chosen on val, scored on test); layers in encoder_features
  variants:{run: {all: {x|y: stats}, shift: {x|y: gain}, pck@0.05}} for the single-change runs that exist
           (course labels; PCK labelled, over all five keypoints)
Models: 'regression' and 'heatmap' (sub-pixel decoding) of the main pair. Axes and errors in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from problem2.core import cli, metrics, storage
from problem2.core.results import Sections
from problem2.core.schema import DEFAULT_RESULTS, HEAD, IMAGE_SIZE, KEYPOINT_NAMES, UNAMBIGUOUS
from problem2.data.keypoints import load_split
from problem2.data.perturb import SHIFT_PROBE_PX, centre_signs, figure_offset, shift_toward_centre
from problem2.figures import charts
from problem2.studies.evaluation import evaluation_split, predict_default
from problem2.training.checkpoint import load_model


@dataclass
class Diagnosis(Sections):
    """diagnosis.json (studies/diagnosis.py): where RegressionNet loses position, axis by axis."""
    split: str
    n_images: int
    axes: dict | None = None
    border_reach: dict | None = None
    canvas_margin_px: float | None = None
    dropout_seeds: dict | None = None
    mirror: dict | None = None
    offset: dict | None = None
    probes: dict | None = None
    receptive_field_px: float | None = None
    shift: dict | None = None
    unambiguous_keypoints: list | None = None
    variants: dict | None = None


AXES = ("x", "y")
VARIANT_RUNS = ["main_regression", "axis_regression_nodropout", "axis_regression_nodropout_seed1",
                "axis_regression_nodropout_seed2", "axis_regression_flatten", "axis_regression_coordconv", "softargmax",
                # the heads on RegressionNet's encoder (heads.py), each the checkpoint the project keeps
                "head_rle", "head_simcc_gap", "head_integral_seed2", "head_simcc"]
DROPOUT_SEEDS = {  # does the head's dropout cost x? the specified RegressionNet and its no-dropout twin, seeds 0-2
    "with dropout": ["main_regression", "seed1_regression", "seed2_regression"],
    "without dropout": ["axis_regression_nodropout", "axis_regression_nodropout_seed1",
                        "axis_regression_nodropout_seed2"]}


def axis_stats(pred: np.ndarray, true: np.ndarray) -> dict:
    """[N] predicted and true coordinates -> {corr, pred_std, true_std, slope, mean_abs_err}."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    p, t = pred - pred.mean(), true - true.mean()
    var_t, var_p = (t * t).mean(), (p * p).mean()
    corr = float((p * t).mean() / np.sqrt(var_p * var_t)) if var_p > 1e-12 and var_t > 1e-12 else 0.0
    return {"corr": corr, "pred_std": float(np.sqrt(var_p)), "true_std": float(np.sqrt(var_t)),
            "slope": float((p * t).mean() / var_t) if var_t > 1e-12 else 0.0,
            "mean_abs_err": float(np.abs(pred - true).mean())}


def axis_report(pred, gt, keypoints=range(5)) -> dict:
    """Per keypoint and axis, and pooled over the given keypoints, for [N, K, 2] (x, y) predictions.

    The pooled statistics centre each keypoint on its own mean first, so that they measure how well
    the figure's position is followed, not the fixed layout of the pose (feet left and right of the head).
    """
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    keypoints = list(keypoints)
    pooled = {}
    for i, a in enumerate(AXES):
        p, t = pred[:, keypoints, i], gt[:, keypoints, i]
        stats = axis_stats((p - p.mean(0)).ravel(), (t - t.mean(0)).ravel())
        pooled[a] = stats | {"mean_abs_err": float(np.abs(p - t).mean())}
    return {"per_keypoint": {KEYPOINT_NAMES[k]: {a: axis_stats(pred[:, k, i], gt[:, k, i]) for i, a in enumerate(AXES)}
                             for k in range(gt.shape[1])},
            "all": pooled}


def offset_profile(pred, gt, edges=np.arange(-28, 29, 8)) -> dict:
    """Mean |error| per axis over the unambiguous keypoints, in bins of the figure's offset along that axis."""
    pred, gt = np.asarray(pred), np.asarray(gt)
    offset = figure_offset(gt)
    err = np.abs(pred - gt)[:, UNAMBIGUOUS].mean(axis=1)  # [N, 2]
    out = {}
    for i, a in enumerate(AXES):
        which = np.digitize(offset[:, i], edges) - 1
        means = [float(err[which == b, i].mean()) if np.any(which == b) else None for b in range(len(edges) - 1)]
        out[a] = {"bin_centres": ((edges[1:] + edges[:-1]) / 2).tolist(), "mean_abs_err": means}
    return out


def shift_gain(model, images: torch.Tensor, gt: np.ndarray, step: int = SHIFT_PROBE_PX) -> dict:
    """Per axis: mean predicted displacement of the unambiguous keypoints / true displacement, for every
    image shifted by `step` px towards the image centre (so the figure stays inside)."""
    base = predict_default(model, images)
    return {a: displacement_gain(base, predict_default(model, shift_toward_centre(images, gt, i, step)), gt, i, step)
            for i, a in enumerate(AXES)}


def displacement_gain(base: np.ndarray, moved: np.ndarray, gt: np.ndarray, axis: int, step: int) -> float:
    """Mean predicted displacement of the unambiguous keypoints along axis, per px of the true one, between
    predictions [N, K, 2] on the images and on the images shifted by shift_toward_centre."""
    shift = (np.asarray(moved) - np.asarray(base))[:, UNAMBIGUOUS, axis] * centre_signs(gt, axis)[:, None]
    return float(shift.mean() / step)


def mirror_gain(model, images: torch.Tensor, gt: np.ndarray) -> float:
    """Slope of the head's predicted x displacement under a horizontal flip against the true one (127 - 2x)."""
    base, flipped = predict_default(model, images), predict_default(model, torch.flip(images, dims=[-1]))
    true_shift = (IMAGE_SIZE - 1) - 2 * np.asarray(gt)[:, HEAD, 0]
    return axis_stats(flipped[:, HEAD, 0] - base[:, HEAD, 0], true_shift)["slope"]


# ---------------------------------------------------------------- linear probes

CANVAS_MARGIN = 32  # px of white added on every side: the image border moves out of the features' reach


@torch.no_grad()
def encoder_features(model, images: torch.Tensor, batch: int = 100) -> dict:
    """The model's deepest encoder map: 'before_pooling' [N, C*h*w], 'after_pooling' [N, C] (its global
    average), and 'after_pooling_wide_canvas' [N, C]: the same average with the image centred on a white
    canvas CANVAS_MARGIN px larger on every side, where no feature sees the image border."""
    model.eval()

    def deepest(x):
        return torch.cat([model.encoder(x[i:i + batch])[-1] for i in range(0, len(x), batch)]).double()
    maps = deepest(images)
    wide = deepest(F.pad(images, (CANVAS_MARGIN,) * 4, value=1.0))
    return {"before_pooling": maps.flatten(1).numpy(), "after_pooling": maps.mean(dim=(2, 3)).numpy(),
            "after_pooling_wide_canvas": wide.mean(dim=(2, 3)).numpy()}


def ridge_probe(train_x, train_y, val_x, val_y, test_x, lambdas=10.0 ** np.arange(-3, 5)) -> np.ndarray:
    """Ridge regression (dual form, standardised features) with lambda chosen on val; test predictions."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-8
    a, v, t = ((x - mu) / sd for x in (train_x, val_x, test_x))
    y_mu = train_y.mean(0)
    gram = a @ a.T
    best, best_err = None, np.inf
    for lam in lambdas * a.shape[1] / 1000:
        alpha = np.linalg.solve(gram + lam * np.eye(len(a)), train_y - y_mu)
        err = np.abs(v @ (a.T @ alpha) + y_mu - val_y).mean()
        if err < best_err:
            best, best_err = alpha, err
    return t @ (a.T @ best) + y_mu


def probe_report(model, splits: dict) -> dict:
    """For each encoder layer, how well a linear map recovers x and y of the unambiguous keypoints."""
    feats = {s: encoder_features(model, ds.image_tensor()) for s, ds in splits.items()}
    targets = {s: ds.keypoints[:, UNAMBIGUOUS].reshape(len(ds), -1).astype(np.float64) for s, ds in splits.items()}
    out = {}
    for layer in ("before_pooling", "after_pooling", "after_pooling_wide_canvas"):
        pred = ridge_probe(feats["train"][layer], targets["train"], feats["val"][layer], targets["val"],
                           feats["test"][layer]).reshape(-1, len(UNAMBIGUOUS), 2)
        true = targets["test"].reshape(-1, len(UNAMBIGUOUS), 2)
        # r2 against each keypoint's own mean: the share of the figure's position variance recovered
        out[layer] = {a: {"mean_abs_err": float(np.abs(pred[..., i] - true[..., i]).mean()),
                          "r2": float(1 - ((pred[..., i] - true[..., i]) ** 2).sum()
                                      / ((true[..., i] - true[..., i].mean(0)) ** 2).sum())}
                      for i, a in enumerate(AXES)}
    return out


RECEPTIVE_FIELD = 46  # px seen by one feature of the deepest encoder map (4 x conv3 + max-pool 2)
HEAD_RADIUS = 8


def border_reach(gt) -> dict:
    """How close each figure comes to the image border, per axis: the gap between its drawn extent (head
    circle included) and the nearer border, and the fraction of figures within the deepest features'
    receptive field of it, where zero padding makes absolute position visible to pooled features."""
    gt = np.asarray(gt, np.float64)
    last = IMAGE_SIZE - 1
    low = np.minimum(gt.min(1), gt[:, HEAD] - HEAD_RADIUS)  # [N, 2] the extent's left / top
    high = np.maximum(gt.max(1), gt[:, HEAD] + HEAD_RADIUS)
    gap = np.minimum(low, last - high)  # [N, 2]
    return {a: {"mean_gap_px": float(gap[:, i].mean()), "max_gap_px": float(gap[:, i].max()),
                "within_receptive_field": float((gap[:, i] < RECEPTIVE_FIELD).mean())} for i, a in enumerate(AXES)}


# ---------------------------------------------------------------- all

def run_diagnosis(data_dir: Path, results_dir: Path = DEFAULT_RESULTS) -> dict:
    from problem2.experiments.registry import checkpoint_path, run_finished
    results_dir = Path(results_dir)
    eval_split = evaluation_split(data_dir)
    splits = {s: load_split(data_dir, s, "heatmap") for s in ("train", "val")}
    splits["test"] = splits["val"] if eval_split == "val" else load_split(data_dir, eval_split, "heatmap")
    models = {"regression": load_model(results_dir / "regression_model.pth"),
              "heatmap": load_model(results_dir / "heatmap_model.pth")}
    test = splits["test"]
    images, gt = test.image_tensor(), test.keypoints
    preds = {name: {s: predict_default(m, splits[s].image_tensor()) for s in ("train", "test")}
             for name, m in models.items()}
    result = {"split": eval_split, "n_images": len(test), "unambiguous_keypoints": [KEYPOINT_NAMES[k] for k in UNAMBIGUOUS],
              "axes": {n: {s: axis_report(p[s], splits[s].keypoints, UNAMBIGUOUS) for s in p} for n, p in preds.items()},
              "offset": {n: offset_profile(p["test"], gt) for n, p in preds.items()},
              "shift": {n: shift_gain(m, images, gt) for n, m in models.items()},
              "mirror": {n: mirror_gain(m, images, gt) for n, m in models.items()},
              "border_reach": border_reach(gt), "receptive_field_px": RECEPTIVE_FIELD, "canvas_margin_px": CANVAS_MARGIN,
              "probes": {n: probe_report(m, splits) for n, m in models.items()}}
    result["variants"] = {}
    for run_id in VARIANT_RUNS:
        path = checkpoint_path(run_id, results_dir)
        storage.traced("read", path)  # looked for: one that appears later makes the stage stale (provenance.py)
        if path.exists() and run_finished(run_id, results_dir):
            variant = load_model(path)
            pred = predict_default(variant, images)
            result["variants"][run_id] = {"all": axis_report(pred, gt, UNAMBIGUOUS)["all"],
                                          "shift": shift_gain(variant, images, gt),
                                          "pck@0.05": metrics.compute_pck(pred, gt, [0.05])[0.05]}
    result["dropout_seeds"] = dropout_seeds(results_dir, data_dir, test)
    storage.save_json(result, results_dir / "diagnosis.json")
    vis = results_dir / "visualizations"
    charts.plot_axis_scatter({n: p["test"] for n, p in preds.items()}, gt, UNAMBIGUOUS, vis / "axis_scatter.png")
    return result


def dropout_seeds(results_dir: Path, data_dir: Path, test) -> dict:
    """{label: {run id: {x_abs_px, y_abs_px, pck@0.05}}} of DROPOUT_SEEDS' finished runs on the evaluation split,
    from their stored predictions; per-axis errors pooled over head and feet as in axis_report."""
    from problem2.data.keypoints import dataset_fingerprint
    from problem2.experiments.runner import run_predictions
    fingerprint = dataset_fingerprint(test)
    out = {}
    for label, runs in DROPOUT_SEEDS.items():
        out[label] = {}
        for run_id in runs:
            pred = run_predictions(run_id, results_dir, data_dir, fingerprint, "argmax")
            if pred is not None:
                axes = axis_report(pred, test.keypoints, UNAMBIGUOUS)["all"]
                out[label][run_id] = {"x_abs_px": axes["x"]["mean_abs_err"], "y_abs_px": axes["y"]["mean_abs_err"],
                                      "pck@0.05": metrics.compute_pck(pred, test.keypoints, [0.05])[0.05]}
    return out


def main(argv=None):
    args = cli.analysis_parser("Per-axis diagnosis of the main pair: where RegressionNet loses x.",
                               "directory holding the main pair").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = run_diagnosis(ensure_data(args.data_dir), args.results)
    for name in ("regression", "heatmap"):
        all_axes = result["axes"][name]["test"]["all"]
        print(f"{name}: " + ", ".join(f"{a}: corr {all_axes[a]['corr']:.2f}, slope {all_axes[a]['slope']:.2f}, "
                                      f"|err| {all_axes[a]['mean_abs_err']:.1f} px" for a in AXES)
              + f"; shift gain {result['shift'][name]}; mirror gain {result['mirror'][name]:.2f}")
        print(f"  probes: {result['probes'][name]}")


if __name__ == "__main__":
    cli.run(main)
