"""The factorial's ends on the course labels: the specified RegressionNet, the best pooled cell (no dropout, cosine,
238 px field) and HeatmapNet, trained on the hand labels as the course gives them (experiments/factorial_plan:
COURSE_CELLS, course_run), beside the same three on side labels (the factorial's own runs).

    python -m problem2 course_ends --results outputs/factorial     # -> RESULTS/course_ends.json

The prediction (factorial_plan.COURSE_PREDICTION) was written on 2026-12-04 before any of these runs trained; its
test (EXPECTED, below) was written before any of them was scored. Each run is scored per image: PCK@0.05 as the
labels stand, hand-swap-invariant (the better naming of the hands per image), on the hands alone (invariant) and on
the head and feet alone; intervals are hierarchical bootstraps over seeds and test images (core.stats).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from problem2.core import cli, metrics, stats
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS, HAND_PAIR, UNAMBIGUOUS
from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split
from problem2.experiments.registry import (
    COURSE_CELLS,
    COURSE_PREDICTION,
    FACTORIAL_SEEDS,
    course_run,
    factorial_heatmap_run,
    factorial_run,
)
from problem2.studies.factorial import OTHER_RULE, RULE, default_keypoints, stored
from problem2.studies.interventions import judge, overall

ENDS = {"specified": COURSE_CELLS[0], "best pooled": COURSE_CELLS[1], "HeatmapNet": None}
METRICS = ("pck@0.05", "pck@0.05 invariant", "hands invariant", "head and feet", "hand to midpoint px",
           "hand to nearest hand px")
CONTRASTS = (("HeatmapNet", "specified"), ("best pooled", "specified"), ("HeatmapNet", "best pooled"))
# the prediction's test, written 2026-12-04 before any course-label run was scored: on the course labels, HeatmapNet
# minus the best pooled cell is within 0.05 of zero on the head and feet, and above 0.10 on the hands (invariant)
EXPECTED = {("HeatmapNet - best pooled", "head and feet"): ("same", 0.05),
            ("HeatmapNet - best pooled", "hands invariant"): ("above", 0.10)}


@dataclass
class CourseEnds(JsonResult):
    """course_ends.json: the three ends on each kind of labels, their differences and the prediction's verdicts."""
    rule: str                            # the declared checkpoint-selection rule
    n_boot: int
    prediction: str
    labels: dict                         # {'course' | 'side': {rule: {'runs': {end: [ids]}, 'per_seed': {end:
                                         #   {metric: [mean per run]}}, 'differences': {'a - b': {metric: interval}}}}}
    verdicts: dict                       # {rule: {'a - b, metric': verdict}} (course labels)
    verdict: dict                        # {rule: overall verdict}


def per_image(data: dict, gt: np.ndarray) -> dict:
    """{metric: [N]} of one run's stored predictions against labels gt [N, K, 2] (image px): PCK@0.05 over the five
    keypoints as labelled and hand-swap-invariant, over the two hands (invariant) and over the head and feet; and
    where the hand predictions lie: their mean distance (px) from the midpoint of the two true hands and from the
    nearer true hand (measured after the prediction was judged, to see whether the regressor averages the hands)."""
    pred = default_keypoints(data["keypoints"])
    given = metrics.correct(pred, gt, [0.05])[0]                                  # [N, K] bool
    invariant = metrics.correct(metrics.align_hands(pred, gt), gt, [0.05])[0]
    hands, truth = pred[:, list(HAND_PAIR)], gt[:, list(HAND_PAIR)]                # [N, 2, 2]
    to_truth = np.linalg.norm(hands[:, :, None] - truth[:, None], axis=-1)       # [N, predicted, true]
    return {"pck@0.05": given.mean(axis=1), "pck@0.05 invariant": invariant.mean(axis=1),
            "hands invariant": invariant[:, list(HAND_PAIR)].mean(axis=1),
            "head and feet": given[:, UNAMBIGUOUS].mean(axis=1),
            "hand to midpoint px": np.linalg.norm(hands - truth.mean(axis=1, keepdims=True), axis=-1).mean(axis=1),
            "hand to nearest hand px": to_truth.min(axis=2).mean(axis=1)}


def end_run(end: str, labels: str, seed: int) -> str:
    """The run id of one end (a key of ENDS) on 'course' or 'side' labels at one seed."""
    levels = ENDS[end]
    if labels == "course":
        return course_run(levels, seed)
    return factorial_heatmap_run(seed) if levels is None else factorial_run(levels, seed)


def score(results: Path, data_dir: Path, labels: str, gt: np.ndarray, fingerprint: dict, rule: str,
          n_boot: int) -> dict:
    """The three ends on one kind of labels (gt [N, K, 2], those labels' keypoints of the evaluation split) under one
    rule: runs, per-seed means and the CONTRASTS' intervals (over the seeds each end has; a contrast only when both
    ends have a scored run). fingerprint: the evaluation split's dataset_fingerprint."""
    runs, scores = {}, {}
    for end in ENDS:
        runs[end] = []
        for seed in FACTORIAL_SEEDS:
            run_id = end_run(end, labels, seed)
            data = stored(run_id, results, data_dir, fingerprint, rule)
            if data is not None:
                runs[end].append(run_id)
                for metric, values in per_image(data, gt).items():
                    scores.setdefault(end, {}).setdefault(metric, []).append(values)
    differences = {}
    for a, b in CONTRASTS:
        if a in scores and b in scores:
            draws = stats.hierarchical_bootstrap({m + side: scores[end][m] for m in METRICS
                                                  for end, side in ((a, " a"), (b, " b"))}, n_boot)
            differences[f"{a} - {b}"] = {m: stats.interval(float(np.mean(scores[a][m]) - np.mean(scores[b][m])),
                                                           draws[m + " a"] - draws[m + " b"]) for m in METRICS}
    per_seed = {end: {m: [float(np.mean(v)) for v in vals] for m, vals in s.items()} for end, s in scores.items()}
    return {"runs": runs, "per_seed": per_seed, "differences": differences}


def judge_prediction(differences: dict) -> dict:
    """{'contrast, metric': verdict} of EXPECTED against the course-label differences present."""
    out = {}
    for (contrast, metric), expected in EXPECTED.items():
        d = differences.get(contrast, {}).get(metric)
        if d is None:
            continue
        if expected[0] == "above":  # above a threshold: the interval shifted by it, judged against zero
            d, expected = {"low": d["low"] - expected[1], "high": d["high"] - expected[1]}, "up"
        out[f"{contrast}, {metric}"] = judge(d, expected)
    return out


def run_course_ends(data_dir: Path, results: Path = DEFAULT_RESULTS, n_boot: int = 4000) -> CourseEnds:
    """course_ends.json from the stored predictions of the three ends on both kinds of labels, under both rules."""
    split = evaluation_split(data_dir)
    fingerprint = dataset_fingerprint(load_split(data_dir, split, "heatmap"))
    labels = {}
    for kind, hand_labels in (("course", "assignment"), ("side", "side")):
        gt = np.asarray(load_split(data_dir, split, "heatmap", hand_labels=hand_labels).keypoints, np.float64)
        labels[kind] = {rule: score(results, data_dir, kind, gt, fingerprint, rule, n_boot)
                        for rule in (RULE, OTHER_RULE)}
    verdicts = {rule: judge_prediction(labels["course"][rule]["differences"]) for rule in (RULE, OTHER_RULE)}
    result = CourseEnds(RULE, n_boot, COURSE_PREDICTION, labels, verdicts,
                        {rule: overall(v) if v else None for rule, v in verdicts.items()})
    result.save(Path(results) / "course_ends.json")
    return result


def main(argv=None):
    args = cli.analysis_parser("Score the factorial's ends on the course labels beside side labels (course_ends.json).",
                               "results directory holding the runs").parse_args(argv)
    from problem2.data.generate import ensure_data
    result = run_course_ends(ensure_data(args.data_dir), args.results)
    for kind, by_rule in result.labels.items():
        for contrast, ds in by_rule[result.rule]["differences"].items():
            print(f"{kind} labels, {contrast}: " + "; ".join(
                f"{m} {d['estimate']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]" for m, d in ds.items()))
    print(f"prediction ({result.rule}): {result.verdict[result.rule]}: {result.verdicts[result.rule]}")


if __name__ == "__main__":
    main()
