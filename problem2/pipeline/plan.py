"""The pipeline's bookkeeping: which trainings it plans, how long they should take, one progress display,
stage caching, and the reproduction table against the committed reference run.

Time: each planned run costs epochs x (training images x training FLOPs + validation images x forward
FLOPs), counted by torch's FlopCounterMode, at the seconds per FLOP that a short speed probe measures on
this machine for its model family (a training step of HeatmapNet and of RegressionNet, batch 32);
analysis stages cost what they took in the reference run. Finished epochs count as done, so the ETA
stays right after a restart.
"""
from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from problem2.core import stats, storage
from problem2.core.results import load_optional
from problem2.experiments.registry import all_runs, epochs_done
from problem2.models.cost import count_flops
from problem2.models.networks import HeatmapNet, RegressionNet, build_model
from problem2.pipeline import provenance
from problem2.studies.evaluation import Metrics
from problem2.studies.result_files import load_sections
from problem2.training.loop import TrainConfig

OVERHEAD = 1.08  # data loading, checkpoint writes and the optimiser beyond the probed step (reference logs)


def speed_probe(device: torch.device, precision: str, batch_size: int = 32, budget_s: float = 3.0) -> dict:
    """{family: seconds per training-FLOP} from the fastest of the training steps of each model family that fit
    in budget_s here. A fresh process reaches its steady speed only after a few seconds (measured on a 2-core AMD
    EPYC: the median of 3 steps after 1 overestimated the default tier's 34 min of training at 43 to 48 min)."""
    from problem2.studies.bench import fastest_seconds, train_step_fn
    out = {}
    for cls in (HeatmapNet, RegressionNet):
        torch.manual_seed(0)
        model = cls()
        flops = count_flops(model, training=True)
        seconds = fastest_seconds(train_step_fn(model, batch_size, precision, device), budget_s)
        out[cls.__name__] = seconds / (flops * batch_size)
    return out


def speed_family(model) -> str:
    """Which probed model a model's seconds per FLOP are taken from: with a decoder (HeatmapNet's layers) or an
    encoder only (RegressionNet and the heads on its encoder)."""
    return "HeatmapNet" if any(isinstance(m, HeatmapNet) for m in model.modules()) else "RegressionNet"


class Plan:
    """Estimated seconds of every planned epoch and stage; one progress bar over them."""

    def __init__(self, run_ids: list, results: Path, epochs: int, n_train: int, n_val: int, probe: dict,
                 stage_seconds: dict):
        specs = all_runs(TrainConfig())
        self.epoch_cost, self.done = {}, 0.0
        for run_id in run_ids:
            spec = specs[run_id]
            model = build_model(spec.model, **spec.model_config)
            flops = count_flops(model, training=True) * n_train + count_flops(model) * n_val
            self.epoch_cost[run_id] = OVERHEAD * flops * probe[speed_family(model)]
            self.done += min(epochs_done(run_id, results), epochs) * self.epoch_cost[run_id]
        self.stage_cost = stage_seconds
        self.training = sum(c * epochs for c in self.epoch_cost.values())
        self.total = self.training + sum(stage_seconds.values())
        self.left_at_start = self.total - self.done
        self.bar = None

    def describe(self) -> str:
        return (f"estimate: {duration(self.total - self.done)} of work left of {duration(self.total)} in all "
                f"({len(self.epoch_cost)} trainings: {duration(self.training)}; analysis stages: "
                f"{duration(self.total - self.training)})")

    def start(self, enabled: bool = True):
        self.bar = tqdm(total=round(self.total), initial=round(self.done), unit="s", disable=not enabled,
                        dynamic_ncols=True, desc="pipeline",
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed} elapsed, ETA {remaining}] {postfix}")
        return self

    def epoch_finished(self, run_id: str):
        self._advance(self.epoch_cost[run_id])

    def stage_finished(self, name: str):
        self._advance(self.stage_cost.get(name, 0.0))

    def note(self, text: str):
        if self.bar is not None and not self.bar.disable:
            self.bar.set_postfix_str(text)
        else:
            print(text, flush=True)

    def _advance(self, seconds: float):
        self.done += seconds
        if self.bar is not None:
            self.bar.update(max(0, round(self.done) - self.bar.n))

    def close(self):
        if self.bar is not None:
            self.bar.close()


def duration(seconds: float) -> str:
    """'45 s', '12 min' or '4.7 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 3 * 3600 else f"{seconds / 3600:.1f} h"


def stages_to_reuse(results: Path, data_dir: Path, stages: list, settings_of, run_ids: list, epochs: int,
                    runs_of) -> set:
    """The stages the pipeline will reuse: current now (provenance.py) with settings_of(stage), and scoring no run
    of run_ids that still has epochs to train (runs_of(stage): its run ids)."""
    to_train = {r for r in run_ids if epochs_done(r, results) < epochs}
    return {s for s in stages if provenance.stage_is_current(results, s, settings_of(s), data_dir)
            and not to_train & set(runs_of(s))}


def stage_estimates(reference: Path, n_eval: int, quick: bool, stages: list) -> dict:
    """Seconds per analysis stage: the reference run's, scaled to this run's evaluation size."""
    recorded = (storage.load_json(Path(reference) / "pipeline.json", {}) or {}).get("stages", {})
    ref_metrics = load_optional(Metrics, reference, "metrics.json")
    ref_eval = ref_metrics.n_images if ref_metrics else 200
    scale = {"bench": 2 / 30 if quick else 1.0}  # repeats x rounds: 2 x 1 against 10 x 3
    return {s: recorded.get(s, {}).get("seconds", 10.0) * scale.get(s, n_eval / ref_eval) for s in stages}


class Pipeline:
    """Runs named stages in order, reusing one that provenance.py finds current with the same settings and data;
    each stage that runs is traced and recorded in RESULTS/provenance.json."""

    def __init__(self, results_dir: Path, settings: dict, plan: Plan | None = None, data_dir: Path | None = None,
                 refresh=()):
        self.results_dir = results_dir
        self.data_dir = data_dir
        self.refresh = set(refresh)  # stages to recompute even when current (provenance tracks inputs, not code)
        self.state_path = results_dir / "pipeline.json"
        self.state = storage.load_json(self.state_path, {}) or {}
        self.state["settings"] = settings
        self.state.setdefault("stages", {})
        self.plan = plan

    def stage(self, name: str, fn, settings: dict):
        record = self.state["stages"].get(name, {})
        if name not in self.refresh and provenance.stage_is_current(self.results_dir, name, settings, self.data_dir):
            self._say(f"== {name}: unchanged, reused ({record.get('seconds', 0):.0f} s when computed)")
        else:
            self._say(f"== {name}")
            run_stage(self.results_dir, name, fn, settings, self.data_dir)
            self.state["stages"][name] = {"seconds": provenance.load(self.results_dir)["stages"][name]["seconds"]}
            storage.save_json(self.state, self.state_path)
        if self.plan:
            self.plan.stage_finished(name)

    def _say(self, text: str):
        if self.plan and self.plan.bar is not None and not self.plan.bar.disable:
            self.plan.bar.write(text)
        else:
            print(text, flush=True)


def run_stage(results: Path, name: str, fn, settings: dict, data_dir: Path | None = None):
    """fn() traced, then recorded in RESULTS/provenance.json as stage `name`; returns what fn returned."""
    t0 = time.perf_counter()
    with storage.trace_files() as trace:
        out = fn()
    provenance.record(results, name, settings, trace, data_dir, time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------- reproduction against the reference

HEADLINE = [("regression", "pck", "0.05"), ("regression", "pck", "0.2"), ("regression", "mean_px", None),
            ("heatmap_subpixel", "pck", "0.05"), ("heatmap_subpixel", "pck", "0.2"),
            ("heatmap_subpixel", "mean_px", None), ("heatmap_argmax", "pck", "0.05")]


def reproduction(results: Path, reference: Path) -> dict:
    """Each headline number of this run next to the reference's, within seed noise or not.

    Seed noise: the 95% prediction interval of one more run from the reference's seeds (stats.prediction_interval
    over the per-seed values in studies.json); a number outside it is flagged. Runs on other data or protocols
    are marked not comparable instead.
    """
    ours, ref = load_optional(Metrics, results, "metrics.json"), load_optional(Metrics, reference, "metrics.json")
    studies = load_sections(reference, "studies.json") or {}
    if ours is None or ref is None:
        return {"rows": [], "comparable": False, "note": "metrics.json missing"}
    ours_p = storage.load_json(Path(results) / "pipeline.json", {}) or {}
    ref_p = storage.load_json(Path(reference) / "pipeline.json", {}) or {}
    same_protocol = (ours.n_images == ref.n_images and ours.split == ref.split
                     and ours_p.get("settings", {}).get("train", {}).get("epochs")
                     == ref_p.get("settings", {}).get("train", {}).get("epochs"))
    per_seed = studies.get("seeds", {}).get("per_seed", {})
    rows = []
    for method, metric, t in HEADLINE:
        this = getattr(ours.methods[method].standard, metric)
        that = getattr(ref.methods[method].standard, metric)
        this, that = (this[t], that[t]) if t else (this, that)
        key = f"pck@{t}" if t else "mean_px"
        seeds = [r[method]["standard"][metric][t] if t else r[method]["standard"][metric] for r in per_seed.values()]
        band = stats.prediction_interval(seeds)
        verdict = ("not comparable" if not same_protocol else "no seed noise recorded" if band is None
                   else "within seed noise" if band[0] <= this <= band[1] else "OUTSIDE seed noise")
        rows.append({"method": method, "metric": key, "this_run": this, "reference": that,
                     "seed_band": band, "verdict": verdict})
    return {"rows": rows, "comparable": same_protocol,
            "note": f"within seed noise: inside the 95% prediction interval of one more run from the reference's "
                    f"{len(per_seed)} seeds (mean ± t · sd · sqrt(1 + 1/n))"}


def reproduction_table(rep: dict) -> str:
    from problem2.report.document import table
    if not rep["rows"]:
        return f"(no reproduction table: {rep['note']})"
    rows = [[r["method"], r["metric"], f"{r['this_run']:.3f}", f"{r['reference']:.3f}",
             "-" if r["seed_band"] is None else f"{r['seed_band'][0]:.3f} to {r['seed_band'][1]:.3f}", r["verdict"]]
            for r in rep["rows"]]
    head = "" if rep["comparable"] else "(other data or epochs than the reference: the numbers are not expected to match)\n\n"
    return head + table(["method", "metric", "this run", "reference", "seeds' 95% band", "verdict"], rows) + \
        f"\n\n{rep['note']}."
