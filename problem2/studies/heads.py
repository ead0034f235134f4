"""Is it the representation or the architecture? The heatmap-free heads (problem2/models/heads/) on RegressionNet's
encoder, beside the two specified models, over three seeds, on the course labels and on side labels.

    python -m problem2 heads [--results DIR]      # scores stored test predictions; writes RESULTS/heads.json


Rows: the specified RegressionNet (global pooling, coordinate loss) and its no-dropout twin, one row per head of
heads.HEADS, HeatmapNet's layers with a soft-argmax (a decoder, coordinate loss), and HeatmapNet (a decoder,
map loss). Scores: PCK@0.05 (bounding-box normaliser) on the evaluation split, labelled ('course'),
hand-swap-invariant ('course_swap') for runs trained on the course labels, and for runs trained and scored on
side labels ('side'). Contrasts: stats.compare_family (Welch over seeds, Holm over the family). Cost: FLOPs by
torch's counter, training images/s measured here, each model one after the other in one process.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from problem2.core import cli, metrics, runtime, stats
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.generate import ensure_data
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import head_runs, main_pair_run, seeded, swapmin_run
from problem2.experiments.runner import run_predictions
from problem2.figures import charts
from problem2.models.cost import count_flops, count_parameters
from problem2.models.heads import HEADS
from problem2.models.networks import build_model
from problem2.studies.bench import median_seconds, train_step_fn
from problem2.studies.evaluation import evaluation_split


@dataclass
class HeadRow(JsonResult):
    """One model in the representation-or-architecture table: its runs over seeds and their scores (PCK@0.05)."""
    key: str                             # 'regression', 'heatmap', or a head of heads.HEADS
    label: str
    features: str                        # 'global pooling' or 'spatial'
    loss: str                            # 'coordinate' or 'distribution'
    decoder: bool                        # an upsampling decoder (HeatmapNet's layers)
    runs: dict[str, list]                # {'course' | 'side': [run id per seed]}
    missing: list                        # runs with neither stored predictions nor a checkpoint
    scores: dict[str, list]              # {'course' | 'course_swap' | 'side': [PCK@0.05 per seed scored]}
    mean_px: dict[str, list]             # the same keys: [mean px error per seed]
    parameters: int
    gflops_forward: float                # per 128 x 128 image
    gflops_train: float                  # forward + backward per image
    train_img_per_s: float | None        # measured here, side by side (HeadStudy.environment)
    swapmin: dict | None = None          # {'run', 'course', 'course_swap'}: one seed with the hand-swap-min loss


@dataclass
class HeadContrast(JsonResult):
    """mean(a) - mean(b) over seeds on one label set, its interval over seeds and test images, Welch + Holm verdict
    over the study's family."""
    a: str
    b: str
    labels: str                          # 'side' or 'course_swap'
    question: str
    diff: float
    low: float
    high: float
    p: float
    beyond_noise: bool


@dataclass
class HeadStudy(JsonResult):
    """heads.json: is it the representation or the architecture? (heads_study.py)"""
    split: str
    n_images: int
    metric: str
    rows: list[HeadRow]
    contrasts: list[HeadContrast]
    environment: dict                    # CPU, threads and load while img/s was measured
    note: str

    def row(self, key: str) -> HeadRow:
        return next(r for r in self.rows if r.key == key)

    def n_seeds(self) -> int:
        """The most seeds any row was scored over on side labels (fewer are marked in the table)."""
        return max((len(r.scores["side"]) for r in self.rows), default=0)


SEEDS = (0, 1, 2)
THRESHOLD = 0.05
CONTRASTS = (  # (a, b, question): does changing b into a move PCK@0.05 beyond seed noise?
    ("simcc_gap", "regression_nodropout", "a distribution loss on pooled features"),
    ("rle", "regression", "a likelihood with a learned scale on pooled features"),
    ("integral", "regression", "spatial features (8 x 8 soft-argmax) instead of global pooling"),
    ("simcc", "integral", "a distribution loss on spatial features"),
    ("heatmap", "simcc", "the decoder (64 x 64 maps) beyond the best head without one"),
)


@dataclass(frozen=True)
class RowSpec:
    """One row of the table: what the model is, and the runs that score it."""
    label: str
    features: str                    # 'global pooling' or 'spatial'
    loss: str                        # 'coordinate' or 'distribution'
    decoder: bool
    model: str
    config: dict
    course: list                     # run ids per seed, trained on the course labels
    side: list                       # run ids per seed, trained on side labels
    decoding: str = "argmax"
    swapmin: str | None = None       # the run trained with the hand-swap-min loss (seed 0)


def row_specs(seeds=SEEDS, quick: bool = False) -> dict:
    """{key: RowSpec} in table order, the heads' from HEADS; runs of the given seeds (the single-seed rows: seed 0
    only). quick: the course-label runs only (a smoke test of the stage: no side-label or swap-min runs)."""
    if quick:
        return {k: replace(spec, side=[], swapmin=None) for k, spec in row_specs(seeds).items()}
    first = (0,) if 0 in seeds else ()
    return {
        "regression": RowSpec("RegressionNet (specified)", "global pooling", "coordinate", False, "RegressionNet", {},
                              [main_pair_run("regression", s) for s in seeds],
                              [seeded("side_regression", s) for s in seeds], swapmin=swapmin_run("regression")),
        "regression_nodropout": RowSpec("RegressionNet without dropout", "global pooling", "coordinate", False,
                                        "RegressionNet", {"dropout": 0.0},
                                        [seeded("axis_regression_nodropout", s) for s in seeds],
                                        ["side_regression_nodropout" for _ in first]),
        **{k: RowSpec(h.label, h.features, h.loss, False, h.model, h.config, head_runs(k, seeds=seeds),
                      head_runs(k, "side", seeds), swapmin=swapmin_run(k)) for k, h in HEADS.items()},
        "softargmax": RowSpec("HeatmapNet trunk + soft-argmax", "spatial", "coordinate", True, "SoftArgmaxNet", {},
                              ["softargmax" for _ in first], ["side_softargmax" for _ in first]),
        "heatmap": RowSpec("HeatmapNet (specified), sub-pixel", "spatial", "distribution", True, "HeatmapNet", {},
                           [main_pair_run("heatmap", s) for s in seeds], [seeded("side_heatmap", s) for s in seeds],
                           "subpixel", swapmin_run("heatmap")),
    }


def run_ids(seeds=SEEDS, quick: bool = False) -> list:
    """Every run the study scores (for the pipeline's plan)."""
    return list(dict.fromkeys(r for spec in row_specs(seeds, quick).values()
                              for r in [*spec.course, *spec.side, spec.swapmin] if r))


def score(pred: np.ndarray, gt: np.ndarray) -> tuple:
    """(PCK@0.05, hand-swap-invariant PCK@0.05, mean px) of [N, K, 2] predictions."""
    pck = lambda p: metrics.compute_pck(p, gt, [THRESHOLD])[THRESHOLD]  # noqa: E731
    return pck(pred), pck(metrics.align_hands(pred, gt)), float(metrics.distances(pred, gt).mean())


def train_speed(model_name: str, config: dict, repeats: int) -> float:
    """Training images per second of one optimiser step at batch 32 on random data (median of repeats)."""
    torch.manual_seed(0)
    device = torch.device("cpu")
    step = train_step_fn(build_model(model_name, **config), 32, runtime.resolve_precision("auto", device), device)
    return 32 / median_seconds(step, repeats, warmup=2)


def per_image(pred: np.ndarray, gt: np.ndarray) -> tuple:
    """(PCK@0.05, hand-swap-invariant PCK@0.05) per test image [N]: score()'s first two, before the mean."""
    correct = lambda p: metrics.correct(p, gt, [THRESHOLD])[0].mean(axis=1)  # noqa: E731
    return correct(pred), correct(metrics.align_hands(pred, gt))


def score_rows(results: Path, data_dir: Path, repeats: int, seeds=SEEDS, quick: bool = False) -> tuple[list, dict]:
    """(the table's rows, {row key: {'side' | 'course_swap': per-image PCK@0.05 [seeds, N]}} for the contrasts)."""
    split = evaluation_split(data_dir)
    course, side = load_split(data_dir, split), load_split(data_dir, split, hand_labels="side")
    fingerprint = dataset_fingerprint(course)  # predictions are stored on the split as labelled in the files
    rows, images = [], {}
    for key, spec in row_specs(seeds, quick).items():
        scores, mean_px, missing = {"course": [], "course_swap": [], "side": []}, {"course": [], "side": []}, []
        on_images = {"side": [], "course_swap": []}
        for labels, runs, gt in (("course", spec.course, course.keypoints), ("side", spec.side, side.keypoints)):
            for run_id in runs:
                pred = run_predictions(run_id, results, data_dir, fingerprint, spec.decoding)
                if pred is None:
                    missing.append(run_id)
                    continue
                pck, pck_swap, px = score(pred, gt)
                scores[labels].append(pck)
                mean_px[labels].append(px)
                plain, swapped = per_image(pred, gt)
                on_images["side" if labels == "side" else "course_swap"].append(plain if labels == "side" else swapped)
                if labels == "course":
                    scores["course_swap"].append(pck_swap)
        images[key] = {labels: np.stack(v) for labels, v in on_images.items() if v}
        swapmin = None
        pred = run_predictions(spec.swapmin, results, data_dir, fingerprint, spec.decoding) if spec.swapmin else None
        if pred is not None:
            pck, pck_swap, _ = score(pred, course.keypoints)
            swapmin = {"run": spec.swapmin, "course": pck, "course_swap": pck_swap}
        elif spec.swapmin:
            missing.append(spec.swapmin)
        model = build_model(spec.model, **spec.config)
        rows.append(HeadRow(key, spec.label, spec.features, spec.loss, spec.decoder,
                            {"course": spec.course, "side": spec.side}, missing, scores, mean_px, count_parameters(model), count_flops(model) / 1e9,
                            count_flops(model, training=True) / 1e9,
                            train_speed(spec.model, spec.config, repeats) if repeats else None, swapmin))
    return rows, images


def contrasts(rows: list[HeadRow], images: dict | None = None, n_boot: int = 4000) -> list[HeadContrast]:
    """Each CONTRASTS pair on side labels and hand-swap-invariant course labels: Welch's test over seeds with Holm's
    correction over the family decides; the interval is a hierarchical bootstrap over seeds and test images where
    the per-image scores are given (images: score_rows'), else Welch's."""
    by_key = {r.key: r for r in rows}
    pairs = {(a, b, labels, q): (by_key[a].scores[labels], by_key[b].scores[labels])
             for a, b, q in CONTRASTS for labels in ("side", "course_swap")}
    out = []
    for (a, b, labels, q), c in stats.compare_family(pairs).items():
        if c is None:
            continue
        low, high = c.low, c.high
        ours, theirs = (images or {}).get(a, {}).get(labels), (images or {}).get(b, {}).get(labels)
        if ours is not None and theirs is not None:
            draws = stats.hierarchical_bootstrap({"a": ours, "b": theirs}, n_boot)
            ci = stats.interval(c.diff, draws["a"] - draws["b"])
            low, high = ci["low"], ci["high"]
        out.append(HeadContrast(a, b, labels, q, c.diff, low, high, c.p, bool(c.beyond_noise)))
    return out


def run_heads_study(data_dir: Path, results: Path = DEFAULT_RESULTS, repeats: int = 10, seeds=SEEDS,
                    quick: bool = False) -> HeadStudy:
    """Score every row from stored predictions, compare, measure speed; write heads.json and the figure."""
    rows, images = score_rows(results, data_dir, repeats, seeds, quick)
    env = runtime.environment(torch.device("cpu")) | {"load_average_1min": os.getloadavg()[0],
                                                      "torch_threads": torch.get_num_threads()}
    study = HeadStudy(evaluation_split(data_dir), len(load_split(data_dir, evaluation_split(data_dir))),
                      f"PCK@{THRESHOLD}", rows, contrasts(rows, images), env,
                      f"per seed: PCK@{THRESHOLD} (bounding-box normaliser) of the run's best epoch; contrasts: "
                      f"Welch's two-sided t test on the per-seed values with Holm's correction over the family at "
                      f"alpha {stats.ALPHA}, and the 95% interval of the difference from a bootstrap over seeds and "
                      f"test images; img/s: one training step at batch 32 (median of {repeats}), the models "
                      f"one after the other in one process")
    study.save(Path(results) / "heads.json")
    charts.plot_accuracy_vs_flops(study, Path(results) / "visualizations" / "heads_accuracy_flops.png")
    return study


def main(argv=None):
    p = cli.Parser(description="Score the heatmap-free heads beside the specified models (heads.json).")
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--results", type=cli.existing_dir, default=DEFAULT_RESULTS, help="results directory holding the runs")
    p.add_argument("--repeats", type=cli.positive_int, default=10, help="timed training steps per model")
    args = p.parse_args(argv)
    study = run_heads_study(ensure_data(args.data_dir), args.results, args.repeats)
    for r in study.rows:
        print(f"{r.label:40s} " + "  ".join(f"{k} {np.mean(v):.3f}" if v else f"{k} -" for k, v in r.scores.items()))


if __name__ == "__main__":
    cli.run(main)
