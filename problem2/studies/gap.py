"""Quantify the heatmap - regression gap: seeds and intervals, label ambiguity, regression variants, cost.

    python -m problem2 studies            # trains (or reuses) the runs it needs in outputs/reproduction/


studies.json:
  seeds:      {seeds, per_seed: {seed: {method: report}}, summary: {method: {kind: {metric: [mean, std]}}},
               bootstrap: {threshold: {diff, low, high, ...}}}  heatmap_subpixel - regression, per-image
               PCK averaged over seeds, paired over evaluation images
  ambiguity:  {ceiling: {t: PCK}, models: {method: {pck, pck_swap_invariant, pck_per_keypoint}},
               hand_collapse: {...}, hand_map_values: {...}, side_labels: {method: report},
               two_hand_decoder: {standard, hand_swap_invariant}}
  regression_variants: {rows: [{label, run, method, pck, mean_px, pck_auc}]}  (side-labelled data)
  precision:  {rows: [{group, precision, seed, model, run, best_epoch, val_loss, ...}],
               summary: {model: {metric: {fast, fp32, diff, low, high, p, seed_std, within_seed_noise}}}}
  cost:       {rows: [{label, parameters, gflops_per_image, latency_batch1_ms, latency_batch32_ms,
               train_img_per_s}], environment}
Methods: 'regression', 'heatmap_argmax', 'heatmap_subpixel'; kinds: 'standard', 'hand_swap_invariant'.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from problem2.core import cli, metrics, runtime, stats, storage
from problem2.core.metrics import ASSIGNMENT_KEYS, ASSIGNMENT_THRESHOLDS
from problem2.core.results import Sections
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.generate import ensure_data
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import all_runs, checkpoint_path, run_log
from problem2.experiments.runner import run_parser, run_predictions, train_runs
from problem2.figures import charts
from problem2.models.cost import model_summary
from problem2.models.networks import build_model
from problem2.studies import ambiguity
from problem2.studies.bench import inference_latency
from problem2.studies.evaluation import METHODS, evaluate_pair, evaluation_split, method_reports
from problem2.training.checkpoint import load_codec, load_model
from problem2.training.loop import TrainConfig


@dataclass
class Studies(Sections):
    """studies.json (studies/gap.py): seeds and intervals, label ambiguity, regression variants, precision, cost."""
    split: str
    n_images: int
    seeds: dict | None = None
    ambiguity: dict | None = None
    regression_variants: dict | None = None
    precision: dict | None = None
    cost: dict | None = None


SEED_RUNS = {0: ("main_heatmap", "main_regression"), 1: ("seed1_heatmap", "seed1_regression"),
             2: ("seed2_heatmap", "seed2_regression")}
FP32_RUNS = {0: ("fp32_heatmap", "fp32_regression"), 1: ("fp32_seed1_heatmap", "fp32_seed1_regression")}
VARIANT_RUNS = [  # (label, run id, decoding); all on side-labelled data
    ("RegressionNet (specified)", "side_regression", None),
    ("HeatmapNet, argmax", "side_heatmap", "argmax"),
    ("HeatmapNet, sub-pixel", "side_heatmap", "subpixel"),
    ("RegressionNet, no dropout", "side_regression_nodropout", None),
    ("RegressionNet, flatten (no global pooling)", "side_regression_flatten", None),
    ("RegressionNet, CoordConv input", "side_regression_coordconv", None),
    ("RegressionNet, L1 loss", "side_regression_l1", None),
    ("HeatmapNet trunk + soft-argmax, coordinate loss", "side_softargmax", None),
]
STUDY_RUNS = list(dict.fromkeys([r for pair in SEED_RUNS.values() for r in pair] + ["side_heatmap"]
                                + [r for _, r, _ in VARIANT_RUNS]
                                + [r for pair in FP32_RUNS.values() for r in pair]))


def eval_set(data_dir: Path, hand_labels: str = "assignment"):
    return load_split(data_dir, evaluation_split(data_dir), "heatmap", hand_labels=hand_labels)


def pair_predictions(results_dir: Path, heatmap_run: str, regression_run: str, ds) -> dict:
    """Every method's predictions [N, K, 2] and the heatmaps [N, K, S, S], from the two runs' checkpoints."""
    return evaluate_pair(load_model(checkpoint_path(heatmap_run, results_dir)),
                         load_model(checkpoint_path(regression_run, results_dir)), ds)


def stored_pair(results_dir: Path, data_dir: Path, ds, heatmap_run: str, regression_run: str) -> dict:
    """Every method's predictions [N, K, 2] on the evaluation split ds (as labelled in the files: eval_set),
    from the two runs' stored test predictions (experiments.run_predictions: a run whose checkpoint is gone is
    scored from what it stored)."""
    fingerprint = dataset_fingerprint(ds)
    runs = {"regression": (regression_run, "argmax"), "heatmap_argmax": (heatmap_run, "argmax"),
            "heatmap_subpixel": (heatmap_run, "subpixel")}
    return {method: stored_run(results_dir, data_dir, fingerprint, run_id, decoding)
            for method, (run_id, decoding) in runs.items()}


def stored_run(results_dir: Path, data_dir: Path, fingerprint: dict, run_id: str, decoding: str) -> np.ndarray:
    pred = run_predictions(run_id, results_dir, data_dir, fingerprint, decoding)
    if pred is None:
        raise cli.UserError(f"run {run_id} in {results_dir} has neither its checkpoint nor stored test predictions "
                            f"from its logged best epoch: train it (python -m problem2 runs run {run_id})")
    return pred


# ---------------------------------------------------------------- 1. seeds and intervals

def per_image_pck(pred, gt, thresholds=ASSIGNMENT_THRESHOLDS) -> np.ndarray:
    """[T, N] fraction of each image's keypoints that are correct."""
    return metrics.correct(pred, gt, thresholds).mean(axis=2)


def mean_std(values) -> list:
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


def seed_study(results_dir: Path, data_dir: Path, ds, seed0_preds: dict) -> dict:
    """seed0_preds: pair_predictions of the main pair on ds (shared with the ambiguity study); the other seeds
    from their stored predictions."""
    per_seed, per_image = {}, {"heatmap_subpixel": [], "regression": []}
    for seed, (hm_run, reg_run) in SEED_RUNS.items():
        preds = seed0_preds if seed == 0 else stored_pair(results_dir, data_dir, ds, hm_run, reg_run)
        per_seed[seed] = method_reports(preds, ds.keypoints)
        for m in per_image:
            per_image[m].append(per_image_pck(preds[m], ds.keypoints))
    summary = {}
    for m in METHODS:
        summary[m] = {}
        for kind in ("standard", "hand_swap_invariant"):
            reps = [per_seed[s][m][kind] for s in per_seed]
            summary[m][kind] = {**{f"pck@{t}": mean_std([r["pck"][t] for r in reps]) for t in ASSIGNMENT_KEYS},
                                "mean_px": mean_std([r["mean_px"] for r in reps]),
                                "pck_auc": mean_std([r["pck_auc"] for r in reps])}
    hm, reg = np.mean(per_image["heatmap_subpixel"], axis=0), np.mean(per_image["regression"], axis=0)
    bootstrap = {t: metrics.paired_bootstrap(hm[i], reg[i], seed=i) for i, t in enumerate(ASSIGNMENT_KEYS)}
    return {"seeds": list(SEED_RUNS), "per_seed": per_seed, "summary": summary, "bootstrap": bootstrap,
            "bootstrap_note": "heatmap_subpixel - regression; per-image PCK averaged over the seeds, "
                              "paired percentile bootstrap over evaluation images (10000 resamples)"}


# ---------------------------------------------------------------- 1b. the fast path against plain fp32

PRECISION_METRICS = ("val_loss", "val_mean_px", "val_pck@0.05", "eval_pck@0.05", "eval_mean_px")


def pooled_std(a: list, b: list) -> float:
    """Within-group standard deviation pooled over two groups (needs >= 3 values in all)."""
    dof = len(a) + len(b) - 2
    ss = sum((x - statistics.fmean(g)) ** 2 for g in (a, b) for x in g)
    return (ss / dof) ** 0.5 if dof > 0 else float("nan")


def precision_study(results_dir: Path, data_dir: Path, ds, seed_reports: dict) -> dict:
    """Does the fast path (precision 'auto') move results beyond seed-to-seed noise? Runs of SEED_RUNS
    (fast) against FP32_RUNS (plain fp32), compared on the best epoch's validation numbers from the
    training logs and on the evaluation split. seed_reports: seed_study()['per_seed'] (the fast runs).
    Verdicts by stats.compare_family (Welch, Holm over the 10 comparisons)."""
    rows = []
    for group, runs in (("fast", SEED_RUNS), ("fp32", FP32_RUNS)):
        for seed, (hm_run, reg_run) in runs.items():
            reports = seed_reports[seed] if group == "fast" else method_reports(
                stored_pair(results_dir, data_dir, ds, hm_run, reg_run), ds.keypoints)
            for model, run_id, method in (("heatmap", hm_run, "heatmap_subpixel"), ("regression", reg_run, "regression")):
                log = run_log(run_id, results_dir)
                best = log["epochs"][log["best_epoch"] - 1]
                scored = reports[method]["standard"]
                rows.append({"group": group, "precision": log["config"]["resolved_precision"], "seed": seed,
                             "model": model, "run": run_id, "best_epoch": log["best_epoch"],
                             "val_loss": best["val_loss"], "val_mean_px": best["val_mean_px"],
                             "val_pck@0.05": best["val_pck@0.05"], "eval_pck@0.05": scored["pck"]["0.05"],
                             "eval_mean_px": scored["mean_px"]})
    values = {(model, key, group): [r[key] for r in rows if r["model"] == model and r["group"] == group]
              for model in ("heatmap", "regression") for key in PRECISION_METRICS for group in ("fast", "fp32")}
    family = stats.compare_family({(model, key): (values[model, key, "fast"], values[model, key, "fp32"])
                                   for model in ("heatmap", "regression") for key in PRECISION_METRICS})
    summary = {model: {} for model in ("heatmap", "regression")}
    for (model, key), c in family.items():
        fast, fp32 = values[model, key, "fast"], values[model, key, "fp32"]
        summary[model][key] = {"fast": mean_std(fast), "fp32": mean_std(fp32), "diff": c.diff, "low": c.low,
                               "high": c.high, "p": c.p, "seed_std": pooled_std(fast, fp32),
                               "within_seed_noise": not c.beyond_noise}
    return {"rows": rows, "summary": summary,
            "note": "fast = precision 'auto' (the project's default path), fp32 = plain fp32; best epoch by "
                    "validation loss; eval = the evaluation split (heatmap decoded sub-pixel); diff = mean(fast) - "
                    f"mean(fp32) with its 95% interval [low, high]; within seed noise unless {stats.METHOD_NOTE} "
                    f"(one family of {len(family)}) rejects equal means"}


# ---------------------------------------------------------------- 3. regression variants

def regression_variants(results_dir: Path, data_dir: Path) -> dict:
    ds = eval_set(data_dir, "side")
    fingerprint = dataset_fingerprint(eval_set(data_dir))  # predictions are stored on the split as labelled
    rows = []
    for label, run_id, decoding in VARIANT_RUNS:
        pred = stored_run(results_dir, data_dir, fingerprint, run_id, decoding or "argmax")
        rep = metrics.localization_report(pred, ds.keypoints)["standard"]
        rows.append({"label": label, "run": run_id, "decoding": decoding, "pck": rep["pck"],
                     "mean_px": rep["mean_px"], "pck_auc": rep["pck_auc"]})
    return {"labels": "side", "split": evaluation_split(data_dir), "rows": rows}


# ---------------------------------------------------------------- 4. cost

COST_RUNS = ["main_heatmap", "ablation_res32", "ablation_res128", "ablation_noskip", "main_regression",
             "side_regression_flatten", "side_regression_coordconv", "side_softargmax"]


def cost_study(results_dir: Path, repeats: int = 20) -> dict:
    device = torch.device("cpu")
    precision = runtime.resolve_precision("auto", device)
    rows = []
    specs = all_runs(TrainConfig())
    for run_id in COST_RUNS:  # cost and speed depend on the architecture, not on the trained weights
        torch.manual_seed(0)
        model = build_model(specs[run_id].model, **specs[run_id].model_config).eval()
        log = run_log(run_id, results_dir)
        summary = model_summary(model)
        latency = inference_latency(model, device, precision, repeats=repeats)
        rows.append({"label": f"{summary['name']} {summary['config']}", "run": run_id,
                     "parameters": summary["parameters"], "gflops_per_image": summary["gflops_per_image"],
                     "latency_batch1_ms": latency["batch1_ms"], "latency_batch32_ms": latency["batch32_ms"],
                     "train_img_per_s": statistics.median(e["train_img_per_s"] for e in log["epochs"])})
    return {"rows": rows, "precision": precision, "environment": runtime.environment(device),
            "note": "latency: median forward time in eval mode; train img/s: median over the run's epochs"}


# ---------------------------------------------------------------- all

def ambiguity_study(results_dir: Path, data_dir: Path, ds, main_preds: dict, vis_dir: Path) -> dict:
    """ambiguity.ambiguity_study on the main pair and the side-label pair."""
    side_ds = eval_set(data_dir, "side")
    side_preds = stored_pair(results_dir, data_dir, ds, "side_heatmap", "side_regression")
    heatmap_codec = load_codec(checkpoint_path(SEED_RUNS[0][0], results_dir))
    return ambiguity.ambiguity_study(ds, main_preds, heatmap_codec, side_ds, side_preds, vis_dir)


def run_studies(data_dir: Path, cfg: TrainConfig | None = None, results_dir: Path = DEFAULT_RESULTS,
                progress: bool = True, latency_repeats: int = 20) -> dict:
    cfg = cfg or TrainConfig()
    results_dir = Path(results_dir)
    vis_dir = results_dir / "visualizations"
    train_runs(STUDY_RUNS, data_dir, cfg, results_dir, progress=progress, weights=SEED_RUNS[0])
    ds = eval_set(data_dir)
    main_preds = pair_predictions(results_dir, *SEED_RUNS[0], ds)
    result = {"split": ds.annotation_file.name.split("_")[0], "n_images": len(ds),
              "seeds": seed_study(results_dir, data_dir, ds, main_preds),
              "ambiguity": ambiguity_study(results_dir, data_dir, ds, main_preds, vis_dir),
              "regression_variants": regression_variants(results_dir, data_dir),
              "cost": cost_study(results_dir, latency_repeats)}
    result["precision"] = precision_study(results_dir, data_dir, ds, result["seeds"]["per_seed"])
    storage.save_json(result, results_dir / "studies.json")
    draw_study_figures(result, vis_dir)
    return result


METHOD_NAMES = {"regression": "RegressionNet", "heatmap_argmax": "HeatmapNet, argmax",
                "heatmap_subpixel": "HeatmapNet, sub-pixel"}


def draw_study_figures(result: dict, vis_dir: Path) -> None:
    labels = [f"PCK@{t}" for t in ASSIGNMENT_KEYS]
    summary = result["seeds"]["summary"]
    n = len(result["seeds"]["seeds"])
    charts.plot_bars(labels, {METHOD_NAMES[m]: [summary[m]["standard"][f"pck@{t}"][0] for t in ASSIGNMENT_KEYS]
                             for m in METHODS},
                    vis_dir / "seeds_pck.png", f"PCK (mean over {n} seeds)", f"Mean ± sd over {n} seeds",
                    ylim=(0, 1.1), errors={METHOD_NAMES[m]: [summary[m]["standard"][f"pck@{t}"][1]
                                                             for t in ASSIGNMENT_KEYS] for m in METHODS})
    amb = result["ambiguity"]
    series = {"ceiling (image only)": [amb["ceiling"][t] for t in ASSIGNMENT_KEYS]}
    series |= {METHOD_NAMES[m]: [amb["models"][m]["pck"][t] for t in ASSIGNMENT_KEYS] for m in METHODS}
    series["HeatmapNet, two-hand decoder"] = [amb["two_hand_decoder"]["standard"]["pck"][t] for t in ASSIGNMENT_KEYS]
    charts.plot_bars(labels, series, vis_dir / "ambiguity_ceiling.png", "PCK (course labels)",
                    "Models against the best PCK reachable with ambiguous hand labels", ylim=(0, 1.1))
    rows = result["regression_variants"]["rows"]
    charts.plot_bars([r["label"] for r in rows], {"PCK@0.05": [r["pck"]["0.05"] for r in rows],
                                                 "PCK@0.1": [r["pck"]["0.1"] for r in rows]},
                    vis_dir / "regression_variants.png", "PCK (side labels)",
                    "One change at a time (side labels)", ylim=(0, 1.1))


def main(argv=None):
    p = run_parser("Seeds, label-ambiguity, regression-variant and cost studies.")
    args = p.parse_args(argv)
    result = run_studies(ensure_data(args.data_dir), TrainConfig(epochs=args.epochs), args.results)
    print({t: round(v["diff"], 3) for t, v in result["seeds"]["bootstrap"].items()})


if __name__ == "__main__":
    cli.run(main)
