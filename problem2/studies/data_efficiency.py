"""Learning curves: both models under the main protocol (30 epochs, batch 32, Adam 1e-3) on the first N images
of the training pool, N in registry.DATA_SIZES (nested sets; beyond the 1000 of the split, extra images drawn
by the generator, see generate.training_pool), seeds 0 and 1, all scored on the same evaluation split.

    python -m problem2 data_efficiency --results problem2/results   # scores the finished runs (no training)


The number of epochs is fixed, so a smaller set also means fewer optimiser steps: the curve measures the
protocol, as a user would run it, not a fixed compute budget. N = 1000 is the main pair (seed 0) and seed1_*.
Step controls separate the two: RegressionNet on the same 1000 images for k x the epochs (k in
registry.STEP_CONTROLS), the optimiser steps of the k x 1000 point.
Metrics: labelled PCK@0.05 and @0.2, and the mean |error| in x and in y of head and feet (image pixels).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from problem2.core import cli
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import DATA_SIZES, STEP_CONTROLS, data_run, run_finished, run_log, step_control_run
from problem2.figures import charts
from problem2.studies.ablation_seeds import scored_seeds, summarise, summary_cells
from problem2.studies.evaluation import evaluation_split
from problem2.studies.robustness import scores


@dataclass
class LearningPoint(JsonResult):
    """One model at one training-set size, over seeds."""
    model: str                           # 'heatmap' or 'regression'
    train_images: int
    runs: dict[str, str]                 # {seed: run id}
    per_seed: dict[str, dict]            # {seed: {metric: value}} of the seeds trained so far
    summary: dict[str, list]             # {metric: [mean, sd (0 for one seed), n seeds]}
    epochs: int | None = None            # a step control's epochs; None: the protocol's
    steps_of: int | None = None          # a step control: the training-set size whose optimiser steps it matches


@dataclass
class DataEfficiency(JsonResult):
    """data_efficiency.json: learning curves of both models on the evaluation split."""
    split: str
    n_images: int
    seeds: list
    metrics: list
    points: list[LearningPoint]          # model-major, sizes ascending
    step_controls: list[LearningPoint] = field(default_factory=list)  # 1000 images, k x the epochs

    def curve(self, model: str) -> list[LearningPoint]:
        return [p for p in self.points if p.model == model]


SEEDS = (0, 1)
MODELS = ("heatmap", "regression")
METRICS = ("pck@0.05", "pck@0.2", "x_abs_px", "y_abs_px")
def data_run_ids(sizes=DATA_SIZES, seeds=SEEDS) -> list:
    """Every run the curves read, smallest sets first, then the step controls."""
    return [data_run(n, model, seed) for n in sizes for seed in seeds for model in MODELS] + \
        [step_control_run(k) for k in STEP_CONTROLS]


def learning_curves(data_dir: Path, results_dir: Path = DEFAULT_RESULTS, sizes=DATA_SIZES,
                    seeds=SEEDS) -> DataEfficiency:
    """Score every finished run of the curves; write data_efficiency.json and visualizations/learning_curves.png."""
    results_dir = Path(results_dir)
    split = evaluation_split(data_dir)
    test = load_split(data_dir, split, "heatmap")
    fingerprint = dataset_fingerprint(test)
    everything = np.ones(test.keypoints.shape[:2], dtype=bool)
    result = DataEfficiency(split, len(test), list(seeds), list(METRICS), [])

    def scored(runs: dict) -> tuple:
        """(per seed, summary) of the finished runs among {seed: run id}."""
        per_seed = scored_seeds(runs, results_dir, data_dir, fingerprint, lambda p: {
            m: v for m, v in scores(p, test.keypoints, everything).items() if m in METRICS})
        return per_seed, summarise(per_seed, METRICS)

    for model in MODELS:
        for n in sizes:
            runs = {str(seed): data_run(n, model, seed) for seed in seeds}
            result.points.append(LearningPoint(model, n, runs, *scored(runs)))
    for k in STEP_CONTROLS:  # does regression gain from more images, or from the steps they bring?
        runs = {"0": step_control_run(k)}
        epochs = run_log(runs["0"], results_dir)["config"]["epochs"] if run_finished(runs["0"], results_dir) else None
        result.step_controls.append(LearningPoint("regression", 1000, runs, *scored(runs), epochs=epochs,
                                                  steps_of=k * 1000))
    result.save(results_dir / "data_efficiency.json")
    charts.plot_learning_curves(result, results_dir / "visualizations" / "learning_curves.png")
    return result


def main(argv=None):
    args = cli.analysis_parser("Learning curves from the finished data-size runs (no training).",
                               "results directory holding the runs").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = learning_curves(ensure_data(args.data_dir), args.results)
    for p in result.points:
        print(f"{p.model:10s} {p.train_images:5d}  {summary_cells(p.summary)}")


if __name__ == "__main__":
    cli.run(main)
