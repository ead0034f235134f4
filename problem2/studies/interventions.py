"""Interventions that test the border mechanism's predictions by training (issue 31): each changes one thing of a
factorial cell (experiments/factorial_plan.INTERVENTIONS) and is scored per axis against that cell, same seeds, same labels,
under the declared rule (factorial.RULE: the last epoch).

    python -m problem2 interventions --results outputs/factorial     # -> RESULTS/interventions.json

Each prediction below was written down before its runs were trained (2026-12-03), and is reported as confirmed or
refuted by the intervals, whichever it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from problem2.core import cli, stats
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split
from problem2.experiments.registry import FACTORIAL_SEEDS, INTERVENTIONS, factorial_run, seeded
from problem2.studies.factorial import OTHER_RULE, RULE, per_image, stored

PREDICTIONS = {  # intervention -> (the cell it changes, its prediction, the (its metric, the cell's metric) pairs)
    "transposed_regression": ((0, 0, 0, 0), "x and y exchange roles: its x error and x shift gain become the "
                              "specified model's y ones, and its y ones the specified model's x ones",
                              (("x_px", "y_px"), ("y_px", "x_px"), ("shift_x", "shift_y"), ("shift_y", "shift_x"))),
    "pad_reflect_regression": ((0, 0, 0, 0), "without zeros at the border y collapses like x: a y shift gain near 0 "
                               "and a larger y error", (("y_px", "y_px"), ("shift_y", "shift_y"))),
    "pad_replicate_regression": ((0, 0, 0, 0), "as reflect padding", (("y_px", "y_px"), ("shift_y", "shift_y"))),
    "pad_circular_regression": ((0, 0, 0, 0), "no border at all: both shift gains near 0, both errors larger",
                                (("x_px", "x_px"), ("y_px", "y_px"), ("shift_x", "shift_x"), ("shift_y", "shift_y"))),
    "pad_circular_wide_regression": ((0, 1, 1, 1), "the 238 px field keeps position by reading the border: without "
                                     "one, the best pooled cell loses both axes",
                                     (("x_px", "x_px"), ("y_px", "y_px"), ("shift_x", "shift_x"),
                                      ("shift_y", "shift_y"))),
    "long_wide_regression": ((0, 1, 1, 1), "30 epochs of cosine are converged: 90 move PCK@0.05 and the errors by "
                             "less than the seeds do", (("pck@0.05", "pck@0.05"), ("x_px", "x_px"), ("y_px", "y_px"))),
    "best_l1_regression": ((0, 1, 1, 1), "regression's best shot, L1: no better than MSE on the best pooled cell "
                           "(PCK@0.05 within the seeds' spread)", (("pck@0.05", "pck@0.05"), ("x_px", "x_px"))),
    "best_rle_regression": ((0, 1, 1, 1), "regression's best shot, RLE with its flow prior: better than MSE on the best "
                            "pooled cell, closing part of what is left to HeatmapNet", (("pck@0.05", "pck@0.05"),
                                                                                        ("x_px", "x_px"))),
    "flatten_regression": ((0, 0, 0, 0), "reading the whole map instead of its average, the flatten head follows the "
                           "figure in x better than pooling does, even under dropout 0.5: a larger x shift gain and a "
                           "smaller x error", (("shift_x", "shift_x"), ("x_px", "x_px"))),
    "flatten_nodropout_regression": ((0, 1, 0, 0), "its failure is the dropout on 16,384 inputs, not the map: without "
                                     "dropout the flatten head beats the pooled head without dropout in PCK@0.05 and x "
                                     "error", (("pck@0.05", "pck@0.05"), ("x_px", "x_px"))),
}


# The predictions above as tests of their differences (intervention metric - cell metric), written down 2026-12-03
# before any intervention run had been scored: 'up' (the interval above 0 confirms it, below 0 refutes it), 'down'
# (the reverse) or ('same', margin) (the interval inside +-margin confirms it, wholly outside refutes it). Margins:
# 1 px for an error, 0.1 for a shift gain, 0.02 for PCK@0.05 (about the seeds' spread of the specified cells).
SAME_ERROR, SAME_SHIFT, SAME_PCK = ("same", 1.0), ("same", 0.1), ("same", 0.02)
EXPECTED = {
    "transposed_regression": {"x_px - y_px": SAME_ERROR, "y_px - x_px": SAME_ERROR, "shift_x - shift_y": SAME_SHIFT,
                              "shift_y - shift_x": SAME_SHIFT},
    "pad_reflect_regression": {"y_px - y_px": "up", "shift_y - shift_y": "down"},
    "pad_replicate_regression": {"y_px - y_px": "up", "shift_y - shift_y": "down"},
    "pad_circular_regression": {"x_px - x_px": "up", "y_px - y_px": "up", "shift_x - shift_x": "down",
                                "shift_y - shift_y": "down"},
    "pad_circular_wide_regression": {"x_px - x_px": "up", "y_px - y_px": "up", "shift_x - shift_x": "down",
                                     "shift_y - shift_y": "down"},
    "long_wide_regression": {"pck@0.05 - pck@0.05": SAME_PCK, "x_px - x_px": SAME_ERROR, "y_px - y_px": SAME_ERROR},
    "best_l1_regression": {"pck@0.05 - pck@0.05": SAME_PCK, "x_px - x_px": SAME_ERROR},
    "best_rle_regression": {"pck@0.05 - pck@0.05": "up", "x_px - x_px": "down"},
    "flatten_regression": {"shift_x - shift_x": "up", "x_px - x_px": "down"},  # added 21:25, before their runs trained
    "flatten_nodropout_regression": {"pck@0.05 - pck@0.05": "up", "x_px - x_px": "down"},
}


def judge(difference: dict, expected) -> str:
    """'confirmed', 'refuted' or 'not established' for one difference (an interval) against what was expected."""
    low, high = difference["low"], difference["high"]
    if expected == "up":
        return "confirmed" if low > 0 else "refuted" if high < 0 else "not established"
    if expected == "down":
        return "confirmed" if high < 0 else "refuted" if low > 0 else "not established"
    margin = expected[1]
    return ("confirmed" if -margin < low and high < margin else
            "refuted" if low >= margin or high <= -margin else "not established")


def overall(verdicts: dict) -> str:
    """An intervention's verdict from its differences': refuted if any is, confirmed if all are, else not established."""
    if not verdicts:
        return "not established"
    values = set(verdicts.values())
    return "refuted" if "refuted" in values else "confirmed" if values == {"confirmed"} else "not established"


@dataclass
class Intervention(JsonResult):
    name: str
    prediction: str
    base: str                            # the factorial cell it changes
    runs: list                           # its runs scored (seeds in order)
    base_runs: list
    per_seed: dict                       # {metric: [per-run mean]}
    base_per_seed: dict
    differences: dict                    # {'its metric - cell metric': interval over seeds and images}
    verdicts: dict | None = None         # {difference: judge(...)} against EXPECTED
    verdict: str | None = None           # overall(verdicts)
    other_rule: dict | None = None       # the same under OTHER_RULE: {differences, verdicts, verdict} (no shift gains)


@dataclass
class Interventions(JsonResult):
    """interventions.json."""
    rule: str
    n_boot: int
    interventions: list[Intervention]


def evaluation_truth(data_dir: Path, view: str) -> tuple[np.ndarray, dict]:
    """(side-label keypoints [N, K, 2], the split's fingerprint as stored predictions record it) in a view."""
    split = evaluation_split(data_dir)
    gt = np.asarray(load_split(data_dir, split, "heatmap", hand_labels="side", view=view).keypoints, np.float64)
    return gt, dataset_fingerprint(load_split(data_dir, split, "heatmap", view=view))


def score_runs(runs: list, results: Path, data_dir: Path, view: str, truth: tuple,
               rule: str = RULE) -> tuple[list, dict]:
    """(the runs scored, {metric: [seeds, N]}) of those finished and stored under a rule; truth: evaluation_truth."""
    gt, fingerprint = truth
    done, scores = [], {}
    for run_id in runs:
        data = stored(run_id, results, data_dir, fingerprint, rule)
        if data is not None:
            done.append(run_id)
            for metric, values in per_image(data, gt, view).items():
                scores.setdefault(metric, []).append(values)
    return done, scores


def contrast(scores: dict, base_scores: dict, pairs, expected: dict, n_boot: int) -> tuple[dict, dict]:
    """({'its metric - cell metric': interval over seeds and images}, {difference: verdict}) of one intervention
    against its cell, for the metric pairs both were scored in."""
    differences = {}
    for mine, theirs in pairs:
        if scores.get(mine) and base_scores.get(theirs):
            draws = stats.hierarchical_bootstrap({"a": scores[mine], "b": base_scores[theirs]}, n_boot)
            estimate = float(np.mean(scores[mine]) - np.mean(base_scores[theirs]))
            differences[f"{mine} - {theirs}"] = stats.interval(estimate, draws["a"] - draws["b"])
    return differences, {k: judge(d, expected[k]) for k, d in differences.items()}


def run_interventions(data_dir: Path, results: Path = DEFAULT_RESULTS, n_boot: int = 4000) -> Interventions:
    """interventions.json: each intervention against its cell, over the seeds each has, under the declared rule and
    again under the other one (whose verdicts the report compares)."""
    truths, bases = {}, {}  # each view's split loaded once, each base cell scored once per rule

    def score(runs: list, view: str, rule: str) -> tuple[list, dict]:
        if view not in truths:
            truths[view] = evaluation_truth(data_dir, view)
        return score_runs(runs, results, data_dir, view, truths[view], rule)

    out = []
    for name, (base, prediction, pairs) in PREDICTIONS.items():
        judged = {}
        for rule in (RULE, OTHER_RULE):
            runs, scores = score([seeded(name, s) for s in FACTORIAL_SEEDS], INTERVENTIONS[name].get("view", "upright"),
                                 rule)
            if (base, rule) not in bases:
                bases[base, rule] = score([factorial_run(base, s) for s in FACTORIAL_SEEDS], "upright", rule)
            base_runs, base_scores = bases[base, rule]
            judged[rule] = (runs, scores, base_runs, base_scores,
                            *contrast(scores, base_scores, pairs, EXPECTED[name], n_boot))
        runs, scores, base_runs, base_scores, differences, verdicts = judged[RULE]
        _, other_scores, _, _, other_differences, other_verdicts = judged[OTHER_RULE]
        mean = lambda s: {m: [float(np.mean(v)) for v in vals] for m, vals in s.items()}  # noqa: E731
        out.append(Intervention(
            name, prediction, factorial_run(base), runs, base_runs, mean(scores), mean(base_scores), differences,
            verdicts, overall(verdicts) if runs else None,
            {"differences": other_differences, "verdicts": other_verdicts,
             "verdict": overall(other_verdicts) if other_scores else None}))
    result = Interventions(RULE, n_boot, out)
    result.save(Path(results) / "interventions.json")
    return result


def main(argv=None):
    args = cli.analysis_parser("Score the interventions against their factorial cells (interventions.json).",
                               "results directory holding the runs").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = run_interventions(ensure_data(args.data_dir), args.results)
    for i in result.interventions:
        print(f"{i.name} ({len(i.runs)} seeds, {i.verdict or 'not trained'}): " + "; ".join(
            f"{k} {d['estimate']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}] {i.verdicts[k]}"
            for k, d in i.differences.items()))
