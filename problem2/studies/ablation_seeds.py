"""The ablations over seeds: every setting scored on the metrics that are not hostage to the hand labels.

    python -m problem2.studies.ablation_seeds --results problem2/results     # -> RESULTS/ablation_seeds.json

Each (setting, seed) run is read from its stored test predictions (RUN/test_predictions.json, or
test_predictions_last.json under the last-epoch rule, written by `python -m problem2 runs run ID --predictions`)
or, failing that, predicted from its checkpoint; runs with neither are counted as missing, so every cell says how
many seeds it averages. Every setting is scored under the declared rule (its last epoch) and again at its lowest
validation loss; where some setting has no run with last-epoch predictions (runs trained before the rule was
declared), the lowest validation loss is the only rule scored. Scores, sub-pixel
decoding: labelled PCK@0.05 and @0.2 (the assignment's), hand-swap-invariant PCK@0.05, and the mean
error in image pixels of head and feet (no label ambiguity); that error also with the window-fit decoding
(decoding.window_fit_refine), which separates what a setting does to the maps from what it does to the 3x3
Newton step that reads them.

ablation_seeds.json: results.SeededAblations (seed keys are strings, in memory as on disk).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from problem2.core import cli, metrics, stats
from problem2.core.results import JsonResult
from problem2.core.schema import DECLARED_SELECTION, DEFAULT_RESULTS, UNAMBIGUOUS
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import ablation_seed_runs
from problem2.experiments.runner import run_predictions
from problem2.figures import charts
from problem2.studies.evaluation import evaluation_split


@dataclass
class SeededSetting(JsonResult):
    """One ablation setting over seeds."""
    setting: str                              # the label the table prints
    runs: dict[str, str]                      # {seed: run id}
    per_seed: dict[str, dict]                 # {seed: {metric: value}} of the seeds that could be scored
    summary: dict[str, list]                  # {metric: [mean, sd (0 for one seed), n seeds]}
    contrast: dict | None = None              # {metric: interval of this setting minus the ablation's default,
                                              #  hierarchical bootstrap over seeds and test images}; None: default

    def n_seeds(self) -> int:
        return len(self.per_seed)


@dataclass
class SeededAblations(JsonResult):
    split: str
    n_images: int
    seeds: list
    metrics: list                             # metric names, e.g. 'pck@0.05', 'head_feet_px'
    decoding: str
    ablations: dict[str, list[SeededSetting]]  # {ablation name: settings in table order}, under `rule`
    rule: str = "best_val_loss"               # the checkpoint-selection rule of `ablations`
    other_rule: dict[str, list[SeededSetting]] | None = None  # the same at the lowest validation loss, when
                                                              # `ablations` holds the declared rule


SEEDED_ABLATIONS = {  # name -> [(label, setting in registry.ablation_seed_runs)]
    "sigma (heatmap px, at 64x64)": [("1", "sigma1"), ("2", "main"), ("3", "sigma3"), ("4", "sigma4")],
    "resolution (sigma 2 heatmap px)": [("32", "res32"), ("64", "main"), ("128", "res128")],
    "resolution (Gaussian fixed at 4 image px)": [("32, sigma 1", "res32_sigma1"), ("64, sigma 2", "main"),
                                                  ("128, sigma 4", "res128_sigma4")],
    "skip connections": [("with", "main"), ("without", "noskip")],
}
METRICS = ("pck@0.05", "pck@0.2", "swap_invariant_pck@0.05", "head_feet_px", "head_feet_px_fit")


def seeded_run_ids(seeds=(0, 1, 2)) -> list:
    """Every run the seeded ablations read, in table order (the main model's seeds included)."""
    settings = dict.fromkeys(s for rows in SEEDED_ABLATIONS.values() for _, s in rows)
    return list(dict.fromkeys(r for s in settings for r in ablation_seed_runs(s, seeds)))


def score(pred, gt) -> dict:
    return {"pck@0.05": metrics.compute_pck(pred, gt, [0.05])[0.05],
            "pck@0.2": metrics.compute_pck(pred, gt, [0.2])[0.2],
            "swap_invariant_pck@0.05": metrics.compute_pck(metrics.align_hands(pred, gt), gt, [0.05])[0.05],
            "head_feet_px": head_feet_px(pred, gt)}


def per_image(pred, gt) -> dict:
    """{metric: [N]} per test image, whose mean over the images is score()'s value (the fit-decoded head and feet
    error is scored beside it, in seeded_ablations)."""
    aligned = metrics.align_hands(pred, gt)
    return {"pck@0.05": metrics.correct(pred, gt, [0.05])[0].mean(axis=1),
            "pck@0.2": metrics.correct(pred, gt, [0.2])[0].mean(axis=1),
            "swap_invariant_pck@0.05": metrics.correct(aligned, gt, [0.05])[0].mean(axis=1),
            "head_feet_px": metrics.distances(pred, gt)[:, UNAMBIGUOUS].mean(axis=1)}


def contrasts(images: dict, default: str, n_boot: int = 4000) -> dict:
    """{setting: {metric: interval}} of every setting minus the default one, from {setting: {metric: [S, N]}}: a
    hierarchical bootstrap over each side's seeds and the shared test images (stats.hierarchical_bootstrap)."""
    out = {}
    for setting, scores in images.items():
        if setting == default:
            continue
        out[setting] = {}
        for m, a in scores.items():
            b = images[default].get(m)
            if len(a) and b is not None and len(b):
                draws = stats.hierarchical_bootstrap({"a": a, "b": b}, n_boot)
                out[setting][m] = stats.interval(float(np.mean(a) - np.mean(b)), draws["a"] - draws["b"])
    return out


def head_feet_px(pred, gt) -> float:
    """Mean error (image px) of the keypoints without label ambiguity."""
    return float(metrics.distances(pred, gt)[:, UNAMBIGUOUS].mean())


def scored_seeds(runs: dict, results_dir: Path, data_dir: Path, fingerprint: dict, score_fn,
                 decoding: str = "subpixel", selection: str = "best_val_loss") -> dict:
    """{seed: score_fn(predictions)} for the runs ({seed: run id}) that finished and can be scored at the checkpoint
    the selection rule picks; the others are left out."""
    per_seed = {}
    for seed, run_id in runs.items():
        pred = run_predictions(run_id, results_dir, data_dir, fingerprint, decoding, selection)
        if pred is not None:
            per_seed[seed] = score_fn(pred)
    return per_seed


def summary_cells(summary: dict) -> str:
    """'metric mean±sd (n=k)' for each metric of a summarise() result, for the command line."""
    return "  ".join(f"{m} {v[0]:.3f}±{v[1]:.3f} (n={v[2]})" if v[2] else f"{m} -" for m, v in summary.items())


def summarise(per_seed: dict, metric_names=METRICS) -> dict:
    """{metric: [mean, sd (0 for one seed), n seeds]} of {seed: {metric: value}}."""
    out = {}
    for m in metric_names:
        values = [v[m] for v in per_seed.values() if m in v]
        out[m] = [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0, len(values)] \
            if values else [None, None, 0]
    return out


def score_settings(test, data_dir: Path, results_dir: Path, seeds, selection: str) -> dict[str, list[SeededSetting]]:
    """Every ablation's settings over seeds, each run scored at the checkpoint a selection rule picks; test: the
    evaluation split (a KeypointDataset)."""
    fingerprint, gt = dataset_fingerprint(test), test.keypoints
    out = {}
    for name, settings in SEEDED_ABLATIONS.items():
        rows, images = [], {}
        for label, setting in settings:
            runs = {str(seed): run_id for seed, run_id in zip(seeds, ablation_seed_runs(setting, seeds))}
            # one read of each stored prediction per decoding: the per-seed scores and the per-image ones
            subpixel = scored_seeds(runs, results_dir, data_dir, fingerprint,
                                    lambda p: (score(p, gt), per_image(p, gt)), selection=selection)
            fitted = scored_seeds(runs, results_dir, data_dir, fingerprint, lambda p: (
                {"head_feet_px_fit": head_feet_px(p, gt)},
                {"head_feet_px_fit": metrics.distances(p, gt)[:, UNAMBIGUOUS].mean(axis=1)}), decoding="fit",
                selection=selection)
            per_seed = {seed: scores | fitted.get(seed, ({}, {}))[0] for seed, (scores, _) in subpixel.items()}
            images[label] = {m: np.stack([v[1][m] for v in scored.values()]) for scored in (subpixel, fitted) if scored
                             for m in next(iter(scored.values()))[1]}
            rows.append(SeededSetting(label, runs, per_seed, summarise(per_seed)))
        differences = contrasts(images, next(label for label, setting in settings if setting == "main"))
        for row in rows:
            row.contrast = differences.get(row.setting)
        out[name] = rows
    return out


def seeded_ablations(data_dir: Path, results_dir: Path = DEFAULT_RESULTS, seeds=(0, 1, 2)) -> SeededAblations:
    """ablation_seeds.json and its figure: under the declared rule with the lowest validation loss beside it, or
    under the lowest validation loss alone while some setting has no run scored at its last epoch."""
    results_dir = Path(results_dir)
    split = evaluation_split(data_dir)
    test = load_split(data_dir, split, "heatmap")
    declared = score_settings(test, data_dir, results_dir, seeds, DECLARED_SELECTION)
    complete = all(row.n_seeds() for rows in declared.values() for row in rows)
    best = score_settings(test, data_dir, results_dir, seeds, "best_val_loss")
    result = SeededAblations(split=split, n_images=len(test), seeds=list(seeds),
                             metrics=list(METRICS), decoding="subpixel", ablations=declared if complete else best,
                             rule=DECLARED_SELECTION if complete else "best_val_loss",
                             other_rule=best if complete else None)
    result.save(results_dir / "ablation_seeds.json")
    charts.plot_seeded_ablations(result, results_dir / "visualizations" / "ablation_seeds.png")
    return result


def main(argv=None):
    args = cli.analysis_parser("The ablations over seeds, from stored predictions or checkpoints (no training).",
                               "results directory holding the runs").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = seeded_ablations(ensure_data(args.data_dir), args.results)
    for name, rows in result.ablations.items():
        print(name)
        for r in rows:
            print(f"  {r.setting:14s} {summary_cells(r.summary)}")


if __name__ == "__main__":
    cli.run(main)
