"""The sweep benchmark: N small runs trained sequentially in this process with T threads, and as Ray tasks on
this machine with W one-thread workers, side by side, in alternating rounds (fresh output each time).

    python -m problem2 bench sweep                      # 8 runs, 2 epochs, 256 training images, 3 rounds
    python -m problem2 bench sweep --runs 12 --out sweep.json


Per round: the wall time of each way; the ratio sequential / Ray (> 1: Ray is faster); and what Ray adds per
run: dispatch = (W x Ray wall - the tasks' own seconds) / N (scheduling, idle slots, starting workers) and the
task's setup (its seconds minus its epochs'), beside the same setup of a sequential run. The first round starts
Ray's workers (cold); later rounds reuse them. ray.init is timed apart. The two ways use different thread
counts, so their results may differ in the last digits: max_val_loss_difference says by how much.
"""
from __future__ import annotations

import contextlib
import io
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from problem2.core import runtime
from problem2.core.results import Sections
from problem2.data.generate import generate_dataset
from problem2.experiments.executor import RayExecutor
from problem2.experiments.registry import ablation_seed_runs, run_log
from problem2.experiments.runner import train_runs
from problem2.training.loop import TrainConfig


@dataclass
class BenchSweep(Sections):
    """bench_sweep.json (studies/bench_sweep.py): a sweep of small runs, sequential against Ray tasks."""
    environment: dict
    epochs: int | None = None
    first_round: dict | None = None
    load_average_1min: list | None = None
    median: dict | None = None
    per_round: list | None = None
    ray_cpus_per_run: float | None = None
    ray_init_seconds: float | None = None
    ray_workers: int | None = None
    rounds: int | None = None
    runs: int | None = None
    sequential_threads: int | None = None
    train_images: int | None = None


SWEEP_SETTINGS = ("sigma1", "sigma3", "sigma4", "noskip", "res32", "res32_sigma1")  # HeatmapNet runs, own dirs


def sweep_runs(n: int) -> list:
    """n distinct HeatmapNet run ids, each with its own run directory."""
    ids = [r for seed in (0, 1, 2) for s in SWEEP_SETTINGS for r in ablation_seed_runs(s, (seed,))]
    if n > len(ids):
        raise ValueError(f"at most {len(ids)} runs")
    return ids[:n]


def bench_sweep(n_runs: int = 8, epochs: int = 2, images: int = 256, rounds: int = 3, threads: int = 2,
                workers: int = 2) -> dict:
    """Wall time of the same sweep, sequential (threads) against Ray (workers x 1 CPU), per round; medians."""
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        tmp = Path(tmp)
        data = generate_dataset(tmp / "data", seed=641, sizes={"train": images, "val": images // 2,
                                                               "test": images // 2}, progress=False)
        cfg, run_ids = TrainConfig(epochs=epochs), sweep_runs(n_runs)
        import ray
        t0 = time.perf_counter()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        init_seconds = time.perf_counter() - t0
        per_round = []
        try:
            for r in range(rounds):
                seq = _sequential(run_ids, data, cfg, tmp / f"seq{r}", threads)
                par = _on_ray(run_ids, data, cfg, tmp / f"ray{r}")
                per_round.append(_compare(seq, par, run_ids, workers, tmp / f"seq{r}", tmp / f"ray{r}"))
        finally:
            ray.shutdown()
    median = lambda key: statistics.median(r[key] for r in per_round)  # noqa: E731
    return {"runs": n_runs, "epochs": epochs, "train_images": images, "rounds": rounds,
            "sequential_threads": threads, "ray_workers": workers, "ray_cpus_per_run": 1,
            "ray_init_seconds": init_seconds, "load_average_1min": [load_before, os.getloadavg()[0]],
            "median": {k: median(k) for k in per_round[0]}, "first_round": per_round[0], "per_round": per_round,
            "environment": runtime.environment(torch.device("cpu"))}


def _sequential(run_ids, data, cfg, out, threads) -> dict:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # not the per-run lines
            train_runs(run_ids, data, cfg, out, progress=False)
        return {"wall": time.perf_counter() - t0}
    finally:
        torch.set_num_threads(before)


def _on_ray(run_ids, data, cfg, out) -> dict:
    executor = RayExecutor(num_cpus=1)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        train_runs(run_ids, data, cfg, out, progress=False, executor=executor)
    return {"wall": time.perf_counter() - t0,
            "task_seconds": {e["run"]: e["task_seconds"] for e in executor.events if e["event"] == "finished"}}


def _compare(seq: dict, par: dict, run_ids: list, workers: int, seq_dir: Path, ray_dir: Path) -> dict:
    epoch_seconds = lambda d, r: sum(e["epoch_seconds"] for e in run_log(r, d)["epochs"])  # noqa: E731
    task_total = sum(par["task_seconds"].values())
    n = len(run_ids)
    return {"sequential_seconds": seq["wall"], "ray_seconds": par["wall"], "ratio": seq["wall"] / par["wall"],
            "ray_dispatch_seconds_per_run": (workers * par["wall"] - task_total) / n,
            "ray_task_setup_seconds": statistics.median(par["task_seconds"][r] - epoch_seconds(ray_dir, r)
                                                        for r in run_ids),
            "sequential_setup_seconds": (seq["wall"] - sum(epoch_seconds(seq_dir, r) for r in run_ids)) / n,
            "max_val_loss_difference": max(abs(run_log(r, seq_dir)["best_val_loss"]
                                               - run_log(r, ray_dir)["best_val_loss"]) for r in run_ids)}
