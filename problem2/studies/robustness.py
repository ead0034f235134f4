"""The robustness suite: the evaluation split under held-out perturbations (perturb.py), every model scored
on the same perturbed images, and the drop from its clean score.

    python -m problem2 robustness --results problem2/results    # -> RESULTS/robustness.json and two figures


Scoring, per perturbation and model (heatmap models decoded sub-pixel): labelled PCK@0.05 and @0.2,
hand-swap-invariant PCK@0.05, and the mean error in image pixels.
- Keypoints that a transform moves outside the image (x or y outside [0, 127]) are not scored: no model
  can point there. `outside` is their fraction. PCK's normaliser is the bounding box of all of an image's
  transformed keypoints, inside the image or not.
- Occlusion is scored on all keypoints, and separately on the hidden one and the visible ones.
- Each image n draws its randomness from (SEED, n), so every model sees the same perturbed images.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from problem2.core import cli, metrics, storage
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS, IMAGE_SIZE, UNAMBIGUOUS
from problem2.data import perturb as P
from problem2.data.augment import AugmentConfig, cutout_hide_rate
from problem2.data.files import images_to_tensor
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import checkpoint_path, run_finished, run_log
from problem2.figures import charts, overlays
from problem2.studies.evaluation import evaluation_split, predict_default
from problem2.training.checkpoint import load_model


@dataclass
class RobustnessRow(JsonResult):
    family: str
    strength: str                        # '-' where the perturbation has no strength
    group: str
    outside: float                       # fraction of keypoints moved outside the image (not scored)
    scores: dict[str, dict]              # {model: {metric: value}}
    hidden: dict[str, dict] | None = None    # occlusion: {model: metrics on the hidden keypoint}
    visible: dict[str, dict] | None = None   # occlusion: {model: metrics on the others}

    @property
    def name(self) -> str:
        return self.family if self.strength == "-" else f"{self.family} {self.strength}"


@dataclass
class Robustness(JsonResult):
    """robustness.json: every model under every perturbation of the evaluation split."""
    split: str
    n_images: int
    seed: int
    models: dict[str, str]               # {label: checkpoint, relative to the results directory}
    metrics: list
    rows: list[RobustnessRow]            # the first is 'clean'
    clean_seeds: dict | None = None      # {label: {runs: {seed: run}, per_seed, summary: {metric: [mean, sd, n]}}}
    augmentation: dict | None = None     # {augmented model: its augment.AugmentConfig as its log records it}
    cutout_hide_rate: dict | None = None  # {augmented model: share of its training items whose cutout hides a keypoint}

    def clean(self, model: str, metric: str) -> float:
        return self.rows[0].scores[model][metric]

    def row(self, name: str) -> RobustnessRow:
        """The row of a perturbation by its name, e.g. 'rotate ±30°' or 'invert'."""
        return next(r for r in self.rows if r.name == name)


SEED = 2024
CLEAN = P.Perturbation("clean", "-", "none", lambda image, keypoints, rng: (image, keypoints, None))


def suite() -> list[P.Perturbation]:
    """Every perturbation, weakest first within a family. The training data has figure centres in 40..88,
    3 px black lines on white, no noise, no rotation."""
    G, F, C = "geometric", "photometric", "content"
    return [
        P.Perturbation("off-centre figure", "1-12 px", G, P.off_centre(1, 12)),
        P.Perturbation("off-centre figure", "13-24 px", G, P.off_centre(13, 24)),
        P.Perturbation("shift", "8 px", G, P.shift_any_direction(8)),
        P.Perturbation("shift", "16 px", G, P.shift_any_direction(16)),
        P.Perturbation("scale", "0.8", G, P.scale(0.8)),
        P.Perturbation("scale", "1.2", G, P.scale(1.2)),
        P.Perturbation("rotate", "±15°", G, P.rotate(15, either_way=True)),
        P.Perturbation("rotate", "±30°", G, P.rotate(30, either_way=True)),
        P.Perturbation("flip", "horizontal", G, P.hflip()),
        P.Perturbation("noise", "sd 0.05", F, P.gaussian_noise(0.05)),
        P.Perturbation("noise", "sd 0.1", F, P.gaussian_noise(0.1)),
        P.Perturbation("noise", "sd 0.2", F, P.gaussian_noise(0.2)),
        P.Perturbation("blur", "sigma 1", F, P.blur(1.0)),
        P.Perturbation("blur", "sigma 2", F, P.blur(2.0)),
        P.Perturbation("contrast", "x0.5", F, P.contrast(0.5)),
        P.Perturbation("contrast", "x0.25", F, P.contrast(0.25)),
        P.Perturbation("brightness", "-0.25", F, P.brightness(-0.25)),
        P.Perturbation("brightness", "-0.5", F, P.brightness(-0.5)),
        P.Perturbation("invert", "-", F, P.invert()),
        P.Perturbation("occlusion", "9 px", C, P.occlude(9)),
        P.Perturbation("occlusion", "15 px", C, P.occlude(15)),
        P.Perturbation("line width", "2 px", C, P.line_width(2)),
        P.Perturbation("line width", "5 px", C, P.line_width(5)),
    ]


METRICS = ("pck@0.05", "pck@0.2", "swap_invariant_pck@0.05", "mean_px", "x_abs_px", "y_abs_px", "y_bias_px")


def scores(pred: np.ndarray, gt: np.ndarray, scored: np.ndarray) -> dict:
    """METRICS over the keypoints where scored [N, K] is True (NaN when none is). x_abs_px, y_abs_px: mean
    |error| per axis on head and feet (no label ambiguity); y_bias_px: their mean signed y error."""
    if not scored.any():
        return {m: float("nan") for m in METRICS}
    hits = metrics.correct(pred, gt, [0.05, 0.2])
    swap_free = metrics.correct(metrics.align_hands(pred, gt), gt, [0.05])[0]
    unambiguous = scored[:, UNAMBIGUOUS]
    err = (pred - gt)[:, UNAMBIGUOUS][unambiguous]  # [M, 2]
    return {"pck@0.05": float(hits[0][scored].mean()), "pck@0.2": float(hits[1][scored].mean()),
            "swap_invariant_pck@0.05": float(swap_free[scored].mean()),
            "mean_px": float(metrics.distances(pred, gt)[scored].mean()),
            "x_abs_px": float(np.abs(err[:, 0]).mean()), "y_abs_px": float(np.abs(err[:, 1]).mean()),
            "y_bias_px": float(err[:, 1].mean())}


def inside_image(keypoints: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """[N, K] True where a keypoint lies in the image (both coordinates in [0, size - 1])."""
    return ((keypoints >= 0) & (keypoints <= size - 1)).all(-1)


def predict_all(models: dict, images: np.ndarray) -> dict:
    """{label: [N, K, 2] image px} for uint8 images [N, H, W], each model decoded by its codec's default (heatmap
    models: sub-pixel)."""
    x = images_to_tensor(images)
    return {label: predict_default(model, x) for label, model in models.items()}


def score_perturbation(perturbation: P.Perturbation, models: dict, images, keypoints, seed: int):
    """One row: the perturbed set, every model's predictions and scores; also returns (images, gt, preds)."""
    images_p, gt, hidden = P.apply_to_set(perturbation, images, keypoints, seed)
    inside = inside_image(gt)
    preds = predict_all(models, images_p)
    row = RobustnessRow(perturbation.family, perturbation.strength, perturbation.group,
                        float(1 - inside.mean()), {k: scores(p, gt, inside) for k, p in preds.items()})
    if hidden is not None:
        row.hidden = {k: scores(p, gt, inside & hidden) for k, p in preds.items()}
        row.visible = {k: scores(p, gt, inside & ~hidden) for k, p in preds.items()}
    return row, (images_p, gt, preds)


AUGMENTED_RUNS = {"augment_heatmap": "HeatmapNet augmented", "augment_regression": "RegressionNet augmented",
                  "augment_aimed_heatmap": "HeatmapNet augmented, aimed cutout"}
SEED_RUNS = {  # each model kind over seeds 0, 1, 2: the clean scores' spread (clean_over_seeds)
    "HeatmapNet": {"0": "main_heatmap", "1": "seed1_heatmap", "2": "seed2_heatmap"},
    "RegressionNet": {"0": "main_regression", "1": "seed1_regression", "2": "seed2_regression"},
    "HeatmapNet augmented": {"0": "augment_heatmap", "1": "augment_heatmap_seed1", "2": "augment_heatmap_seed2"},
    "RegressionNet augmented": {"0": "augment_regression", "1": "augment_regression_seed1",
                                "2": "augment_regression_seed2"},
    "HeatmapNet augmented, aimed cutout": {"0": "augment_aimed_heatmap", "1": "augment_aimed_heatmap_seed1",
                                           "2": "augment_aimed_heatmap_seed2"},
}


def seed_run_ids(seeds=(0, 1, 2)) -> list:
    """The runs whose clean scores the suite reports over seeds: every model kind of SEED_RUNS at each seed."""
    return [runs[str(seed)] for seed in seeds for runs in SEED_RUNS.values()]


def default_models(results_dir: Path) -> dict:
    """{label: checkpoint path relative to results_dir}: the main pair, and the augmented pair where trained."""
    candidates = {"HeatmapNet": "heatmap_model.pth", "RegressionNet": "regression_model.pth"}
    candidates |= {label: str(checkpoint_path(run, results_dir).relative_to(results_dir))
                   for run, label in AUGMENTED_RUNS.items()}
    for path in candidates.values():  # looked for: one that appears later makes the stage stale (provenance.py)
        storage.traced("read", Path(results_dir) / path)
    return {label: path for label, path in candidates.items() if (Path(results_dir) / path).exists()}


def strongest(perturbations: list) -> list:
    """The last (strongest) setting of each family, in suite order."""
    return list({p.family: p for p in perturbations}.values())


def run_robustness(data_dir: Path, results_dir: Path = DEFAULT_RESULTS, models: dict | None = None,
                   perturbations: list | None = None, seed: int = SEED, n_images: int | None = None) -> Robustness:
    """Score every model on every perturbation (default: suite()) of the evaluation split's first n_images
    (default: all); write robustness.json and figures."""
    results_dir = Path(results_dir)
    models = models or default_models(results_dir)
    if not models:
        raise cli.UserError(f"no checkpoints in {results_dir}: train the main pair first (python -m problem2 train)")
    loaded = {label: load_model(results_dir / path) for label, path in models.items()}
    split = evaluation_split(data_dir)
    ds = load_split(data_dir, split, "heatmap")
    images, keypoints = ds.images[:n_images], ds.keypoints[:n_images]
    result = Robustness(split, len(images), seed, dict(models), list(METRICS), [])
    examples = {}
    for perturbation in [CLEAN, *(perturbations or suite())]:
        row, (images_p, gt, preds) = score_perturbation(perturbation, loaded, images, keypoints, seed)
        result.rows.append(row)
        examples[perturbation.family] = (perturbation.name, images_p[0], gt[0], {k: p[0] for k, p in preds.items()})
    result.clean_seeds = clean_over_seeds(data_dir, results_dir, {label: SEED_RUNS[label] for label in models
                                                                  if label in SEED_RUNS})
    augmented = {label: run for run, label in AUGMENTED_RUNS.items() if label in models and run_finished(run, results_dir)}
    if augmented:  # the augmentation each scored model was trained with, from its log
        result.augmentation = {label: run_log(run, results_dir)["data"]["train"]["augment"]
                               for label, run in augmented.items()}
        train = load_split(data_dir, "train", "heatmap")
        result.cutout_hide_rate = {label: cutout_hide_rate(train.keypoints, AugmentConfig(**config))
                                   for label, config in result.augmentation.items()}
    result.save(results_dir / "robustness.json")
    vis = results_dir / "visualizations"
    charts.plot_robustness(result, vis / "robustness.png")
    overlays.plot_robustness_examples(list(examples.values()), vis / "robustness_examples.png")
    return result


def clean_over_seeds(data_dir: Path, results_dir: Path, seed_runs: dict) -> dict:
    """{label: {runs, per_seed, summary}}: clean scores on the whole evaluation split of each model kind's seeds
    that finished (from their stored test predictions, so that a pruned checkpoint still counts)."""
    from problem2.studies.ablation_seeds import scored_seeds, summarise
    test = load_split(data_dir, evaluation_split(data_dir), "heatmap")
    fingerprint, everything = dataset_fingerprint(test), np.ones(test.keypoints.shape[:2], dtype=bool)
    out = {}
    for label, runs in seed_runs.items():
        per_seed = scored_seeds(runs, results_dir, data_dir, fingerprint,
                                lambda p: scores(p, test.keypoints, everything))
        out[label] = {"runs": runs, "per_seed": per_seed, "summary": summarise(per_seed, METRICS)}
    return out


def main(argv=None):
    args = cli.analysis_parser("Score the trained models on perturbed test images (no training).",
                               "results directory holding the checkpoints").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = run_robustness(ensure_data(args.data_dir), args.results)
    labels = list(result.models)
    print(f"{'perturbation':32s}" + "".join(f"{label:>26s}" for label in labels))
    for row in result.rows:
        print(f"{row.name:32s}" + "".join(
            f"{row.scores[k]['pck@0.05']:>14.3f} ({row.scores[k]['pck@0.05'] - result.clean(k, 'pck@0.05'):+.3f})"
            for k in labels))


if __name__ == "__main__":
    cli.run(main)
