"""The why, decomposed: a 2^4 factorial between the specified RegressionNet and HeatmapNet, on side labels.

    python -m problem2 factorial --results outputs/factorial      # -> RESULTS/factorial.json and its figure

Factors (experiments/factorial_plan.FACTORS), each at the specification's level 0 or a level 1: readout (global average ->
the 8 x 8 map at the same 256-feature width), dropout (0.5 -> 0), schedule (constant LR -> cosine to 0, the same
30 epochs) and receptive field (46 px -> 238 px, two dilated convolutions after Conv4). Every cell is trained over
FACTORIAL_SEEDS; the specified HeatmapNet on the same labels and seeds is the end point. Every run is scored under
one declared rule, RULE (its last epoch), and again under the best validation loss for the comparison of rules.

Statistics: each quantity's interval is a hierarchical bootstrap over the seeds and the 200 test images
(core.stats.hierarchical_bootstrap). The gap from the specified RegressionNet to HeatmapNet splits into each
factor's Shapley share (its effect averaged over every order in which the four could be switched on; the four add
up to the all-changed cell minus the specified one) and what the four leave to HeatmapNet.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from problem2.core import cli, metrics, stats, storage
from problem2.core.results import JsonResult
from problem2.core.schema import DECLARED_SELECTION, DEFAULT_RESULTS, UNAMBIGUOUS
from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split
from problem2.data.perturb import centre_signs
from problem2.experiments.registry import (
    COURSE_CELLS,
    FACTORIAL_SEEDS,
    FACTORS,
    INTERVENTIONS,
    course_run,
    factorial_cells,
    factorial_heatmap_run,
    factorial_run,
    run_finished,
    run_log,
    seeded,
    selected_checkpoint,
)
from problem2.experiments.runner import predictions_path, save_predictions
from problem2.figures.decomposition import plot_decomposition

RULE = DECLARED_SELECTION  # the declared checkpoint-selection rule (see docs/conventions.md)
OTHER_RULE = "best_val_loss"
METRICS = ("pck@0.05", "x_px", "y_px", "shift_x", "shift_y")  # per image; the shift gains under RULE only
SPEC, ALL = (0, 0, 0, 0), (1, 1, 1, 1)


@dataclass
class Cell(JsonResult):
    """One cell (or the HeatmapNet end point) over its seeds: per-seed means of each metric."""
    name: str                            # 'spec', 'readout+dropout', ... or 'HeatmapNet'
    levels: list | None                  # a 0/1 level per factor; None for HeatmapNet
    runs: list                           # run ids scored, in seed order
    per_seed: dict                       # {metric: [value per run]}


@dataclass
class Factorial(JsonResult):
    """factorial.json: the cells, the factors' effects and the decomposition of the gap, under each rule."""
    rule: str                            # the declared checkpoint-selection rule
    factors: dict                        # {factor: [level-0 name, level-1 name]}
    n_images: int
    n_boot: int
    cells: dict                          # {rule: [Cell]} (HeatmapNet last)
    effects: dict                        # {rule: {metric: {term: interval}}}: main effects, two-way interactions
    shapley: dict                        # {rule: {metric: {factor | 'rest' | 'gap': interval, 'share': ...}}}
    threshold_px: list | None = None     # PCK@0.05's distance in image px over the test images: [mean, min, max]


def run_ids(quick: bool = False) -> list:
    """The factorial's runs: every cell and HeatmapNet over FACTORIAL_SEEDS, the interventions and the ends on the
    course labels (studies/course_ends.py); quick (a smoke test of the stage):
    the two corner cells and HeatmapNet, seed 0."""
    if quick:
        return [factorial_run(SPEC), factorial_run(ALL), factorial_heatmap_run()]
    return [r for s in FACTORIAL_SEEDS for r in [*(factorial_run(c, s) for c in factorial_cells()),
                                                 factorial_heatmap_run(s), *(seeded(i, s) for i in INTERVENTIONS),
                                                 *(course_run(c, s) for c in (*COURSE_CELLS, None))]]


def cell_name(levels) -> str:
    on = [f for f, level in zip(FACTORS, levels) if level]
    return "+".join(on) if on else "spec"


def stored(run_id: str, results: Path, data_dir: Path, fingerprint: dict, rule: str) -> dict | None:
    """A finished run's stored test predictions under a rule (written now from its checkpoint when the file is
    missing or stale and the checkpoint is there), checked against its log and the evaluation split; None when
    the run is missing or still training."""
    if not run_finished(run_id, results):
        return None
    path = predictions_path(run_id, results, rule)
    log = run_log(run_id, results)
    epoch = len(log["epochs"]) if rule == "last_epoch" else log["best_epoch"]
    usable = lambda d: (d and d.get("run") == run_id and d["data"]["sha1"] == fingerprint["sha1"]  # noqa: E731
                        and d["checkpoint"]["epoch"] == epoch and (rule != "last_epoch" or "shifted" in d))
    data = storage.load_json(path)
    if not usable(data):
        checkpoint = selected_checkpoint(run_id, results, rule)
        if not checkpoint.exists():
            raise cli.UserError(f"{path} is missing or not from the {rule} epoch ({epoch}) of {run_id}'s log, and "
                                f"{checkpoint.name} is gone: train the run again (python -m problem2 runs run {run_id})")
        save_predictions(run_id, results, data_dir, rule)
        data = storage.load_json(path)
    return data


def default_keypoints(block: dict) -> np.ndarray:
    """[N, K, 2] by the decoding every model reports by default (sub-pixel where there is one)."""
    return np.asarray(block["subpixel"] if "subpixel" in block else block["argmax"], np.float64)


def per_image(data: dict, gt: np.ndarray, view: str = "upright") -> dict:
    """{metric: [N]} for one run: PCK@0.05 over the 5 keypoints, mean |x| and |y| error (px), and the shift gains
    (predicted / true displacement of the head and feet when the image moves towards the centre); gt in the
    run's view (data/views.py)."""
    pred = default_keypoints(data["keypoints"])
    err = np.abs(pred - gt)
    out = {"pck@0.05": metrics.correct(pred, gt, [0.05])[0].mean(axis=1),
           "x_px": err[..., 0].mean(axis=1), "y_px": err[..., 1].mean(axis=1)}
    if "shifted" in data:
        step = data["shifted"]["step_px"]
        for i, axis in enumerate("xy"):
            moved = default_keypoints(data["shifted"][axis])
            shift = (moved - pred)[:, UNAMBIGUOUS, i] * centre_signs(gt, i, view)[:, None]
            out[f"shift_{axis}"] = shift.mean(axis=1) / step
    return out


def shapley(values: dict) -> dict:
    """{factor: Shapley value} of the game v(S) = values[S] - values[SPEC] over the factors (S a levels tuple):
    each factor's effect averaged over every order of switching the four on. They add up to values[ALL] - values[SPEC]."""
    n, names = len(FACTORS), list(FACTORS)
    out = {}
    for i, factor in enumerate(names):
        total = 0.0
        for others in itertools.product((0, 1), repeat=n - 1):
            without = others[:i] + (0,) + others[i:]
            with_ = others[:i] + (1,) + others[i:]
            k = sum(others)
            total += math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) * (values[with_] - values[without])
        out[factor] = total
    return out


def effects(values: dict) -> dict:
    """{term: effect} of a two-level factorial from its cell means: a main effect is mean(level 1) - mean(level 0);
    an interaction 'a x b' is half the difference between a's effect at b = 1 and at b = 0."""
    names = list(FACTORS)
    cells = list(values)
    out = {}
    for i, f in enumerate(names):
        out[f] = np.mean([values[c] for c in cells if c[i]], axis=0) - np.mean([values[c] for c in cells if not c[i]], axis=0)
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        out[f"{a} x {b}"] = (np.mean([values[c] for c in cells if c[i] == c[j]], axis=0)
                             - np.mean([values[c] for c in cells if c[i] != c[j]], axis=0))
    return out


def decompose(groups: dict, n_boot: int, seed: int = 0) -> tuple[dict, dict]:
    """(effects, shapley) of one metric with intervals; groups: {levels tuple or 'HeatmapNet': scores [S, N]}."""
    draws = stats.hierarchical_bootstrap({str(k): v for k, v in groups.items()}, n_boot, seed)
    point = {k: float(np.mean(v)) for k, v in groups.items()}
    boot = {k: draws[str(k)] for k in groups}
    cells = [c for c in groups if c != "HeatmapNet"]
    eff = {term: stats.interval(est, effects({c: boot[c] for c in cells})[term])
           for term, est in effects({c: point[c] for c in cells}).items()}
    sh_point, sh_boot = shapley({c: point[c] for c in cells}), shapley({c: boot[c] for c in cells})
    gap_point, gap_boot = point["HeatmapNet"] - point[SPEC], boot["HeatmapNet"] - boot[SPEC]
    parts = {f: (sh_point[f], sh_boot[f]) for f in FACTORS}
    parts["rest"] = (point["HeatmapNet"] - point[ALL], boot["HeatmapNet"] - boot[ALL])
    decomposition = {"gap": stats.interval(gap_point, gap_boot),
                     "levels": {name: stats.interval(point[key], boot[key])
                                for name, key in (("spec", SPEC), ("all", ALL), ("HeatmapNet", "HeatmapNet"))}}
    for name, (est, reps) in parts.items():  # a share of the gap only where there is a gap to share
        share = stats.interval(est / gap_point, reps / gap_boot) if decomposition["gap"]["excludes_zero"] else None
        decomposition[name] = stats.interval(est, reps) | {"share": share}
    return eff, decomposition


def score_rule(results: Path, data_dir: Path, rule: str, seeds=FACTORIAL_SEEDS) -> list[Cell]:
    """Every cell and HeatmapNet, over the seeds whose runs are finished and stored under the rule."""
    split = evaluation_split(data_dir)
    ds = load_split(data_dir, split, "heatmap", hand_labels="side")
    fingerprint = dataset_fingerprint(load_split(data_dir, split, "heatmap"))
    gt = np.asarray(ds.keypoints, np.float64)
    out = []
    for levels in [*factorial_cells(), None]:
        runs = [factorial_heatmap_run(s) if levels is None else factorial_run(levels, s) for s in seeds]
        per_seed, done = {}, []
        for run_id in runs:
            data = stored(run_id, results, data_dir, fingerprint, rule)
            if data is None:
                continue
            done.append(run_id)
            for metric, values in per_image(data, gt).items():
                per_seed.setdefault(metric, []).append(values.tolist())
        out.append(Cell("HeatmapNet" if levels is None else cell_name(levels),
                        None if levels is None else list(levels), done, per_seed))
    return out


def run_factorial(data_dir: Path, results: Path = DEFAULT_RESULTS, n_boot: int = 4000) -> Factorial:
    """factorial.json from the stored predictions of the factorial's runs (those not trained yet are left out;
    a metric is decomposed only when every cell has at least one seed)."""
    cells, eff, sh = {}, {}, {}
    for rule in (RULE, OTHER_RULE):
        scored = score_rule(results, data_dir, rule)
        cells[rule] = scored
        eff[rule], sh[rule] = {}, {}
        for metric in METRICS:
            if not all(c.per_seed.get(metric) for c in scored):
                continue
            groups = {("HeatmapNet" if c.levels is None else tuple(c.levels)): np.asarray(c.per_seed[metric])
                      for c in scored}
            eff[rule][metric], sh[rule][metric] = decompose(groups, n_boot)
    n_images = len(next((c.per_seed["pck@0.05"][0] for c in cells[RULE] if c.per_seed), []))
    gt = load_split(data_dir, evaluation_split(data_dir), "heatmap", hand_labels="side").keypoints
    threshold = 0.05 * metrics.normalizer(gt)  # [N] px: how close a keypoint must be to count
    result = Factorial(RULE, {f: [lv[0][0], lv[1][0]] for f, lv in FACTORS.items()}, n_images, n_boot,
                       {r: [summarise(c) for c in cs] for r, cs in cells.items()}, eff, sh,
                       [float(threshold.mean()), float(threshold.min()), float(threshold.max())])
    result.save(Path(results) / "factorial.json")
    draw_figure(result, Path(results) / "visualizations")
    return result


FIGURE_METRICS = {"pck@0.05": "PCK@0.05 (side labels)", "x_px": "mean |x error| (px)"}


def draw_figure(result: Factorial, vis_dir: Path):
    """factorial_waterfall.png: from the specified RegressionNet to HeatmapNet, each factor's Shapley part and
    what the four leave, under the declared rule (nothing when a metric could not be decomposed yet)."""
    parts_of = result.shapley.get(result.rule, {})
    panels = []
    for metric, ylabel in FIGURE_METRICS.items():
        if metric not in parts_of:
            continue
        d = parts_of[metric]
        parts = {FACTOR_LABELS[f]: d[f] for f in FACTORS} | {"rest (decoder)": d["rest"]}
        panels.append((d["levels"]["spec"], parts, d["levels"]["HeatmapNet"], ylabel))
    if panels:
        seeds = min(len(c.runs) for c in result.cells[result.rule])
        plot_decomposition(panels, vis_dir / "factorial_waterfall.png",
                           f"From RegressionNet to HeatmapNet: each factor's Shapley part of the gap\n"
                           f"({result.rule.replace('_', '-')} rule; 95% intervals over seeds and test images; "
                           f"{seeds} seeds a cell at least)")


FACTOR_LABELS = {"readout": "spatial readout", "dropout": "no dropout", "schedule": "cosine schedule",
                 "field": "238 px field"}


def summarise(cell: Cell) -> Cell:
    """The cell with each run's per-image values replaced by its mean (what factorial.json keeps)."""
    return Cell(cell.name, cell.levels, cell.runs, {m: [float(np.mean(v)) for v in vals] for m, vals in cell.per_seed.items()})


def main(argv=None):
    p = cli.Parser(description="Decompose the RegressionNet-HeatmapNet gap over the factorial's runs (factorial.json).")
    p.add_argument("--results", type=cli.existing_dir, default=DEFAULT_RESULTS, help="results directory holding runs/factor_*")
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--boot", type=cli.positive_int, default=4000, help="bootstrap replicates")
    args = p.parse_args(argv)
    from problem2.data.generate import ensure_data
    result = run_factorial(ensure_data(args.data_dir), args.results, args.boot)
    parts = result.shapley.get(RULE, {}).get("pck@0.05", {})
    for name in ("gap", *FACTORS, "rest"):
        if name in parts:
            p = parts[name]
            print(f"PCK@0.05 {name:9s} {p['estimate']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}]")
    if not parts:
        print("not decomposed yet: some cell has no finished run (factorial.json lists what each cell has)")
