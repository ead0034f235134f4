"""Throughput benchmarks, each measured side by side in one process (report ratios, not lone times).

    python -m problem2 bench data        # samples/s of a full pass over the dataset, each output type
    python -m problem2 bench train       # img/s of a plain fp32 eager step vs the project's step
    python -m problem2 bench train --out problem2/results/bench_train.json   # as the report shows it
    python -m problem2 bench latency     # inference latency (median, batch 1 and 32) of every model
    python -m problem2 bench sweep       # a sweep of small runs: sequential against Ray tasks (bench_sweep.py)


Timings are medians of repeated runs after warm-up; the machine's other load shows up as noise.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from problem2.core import cli, runtime, storage
from problem2.core.results import Sections
from problem2.data.generate import ensure_data
from problem2.data.keypoints import load_split
from problem2.models.cost import count_flops
from problem2.models.networks import HeatmapNet, RegressionNet


@dataclass
class BenchTrain(Sections):
    """bench_train.json (studies/bench.py train): training images/s of each path, side by side."""
    batch_size: int
    environment: dict
    HeatmapNet: dict | None = None
    RegressionNet: dict | None = None
    compute_floor: dict | None = None
    device: str | None = None
    keep_freed_memory_supported: bool | None = None
    project_precision: str | None = None
    repeats: int | None = None
    rounds: int | None = None


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fastest_seconds(fn, budget_s: float, min_repeats: int = 3) -> float:
    """Seconds of the fastest call of fn, calling it (after one untimed call) until budget_s have passed and at
    least min_repeats times: the steady speed, which a fresh process reaches only after a few seconds."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_repeats or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_data(data_dir: Path, repeats: int = 3) -> dict:
    """Samples/s of a full pass (every __getitem__) per output type and heatmap size."""
    out = {}
    for output_type, size in (("heatmap", 64), ("heatmap", 128), ("regression", 64)):
        ds = load_split(data_dir, "train", output_type, size)
        seconds = median_seconds(lambda: [ds[i] for i in range(len(ds))], repeats, warmup=1)
        out[f"{output_type}" + (f"_{size}" if output_type == "heatmap" else "")] = len(ds) / seconds
    return out


def train_step_fn(model, batch_size: int, precision: str, device: torch.device):
    """A closure running one optimiser step on random data, as the project's loop does it."""
    mem_format = runtime.memory_format(device, precision)
    model = model.to(device, memory_format=mem_format).train()
    x = torch.rand(batch_size, 1, 128, 128, device=device).contiguous(memory_format=mem_format)
    with torch.no_grad():
        target = torch.rand(batch_size, *model(x[:1]).shape[1:], device=device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step():
        with runtime.autocast(device, precision):
            out = model(x)
        loss = F.mse_loss(out.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def matmul_gflops(device: torch.device, dtype: torch.dtype, size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a square matrix product: what the device's matrix units reach in practice."""
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))

    def product():
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
    return 2 * size ** 3 / median_seconds(product, repeats) / 1e9


def default_training_tflop(epochs: int = 30, n_train: int = 1000, n_val: int = 200) -> dict:
    """Matrix FLOPs of the default training, per model: 3 x forward per training image (forward +
    backward), 1 x forward per validation image, every epoch."""
    return {cls.__name__: count_flops(cls()) * (3 * n_train + n_val) * epochs / 1e12
            for cls in (HeatmapNet, RegressionNet)}


def compute_floor(device: torch.device, precision: str, repeats: int = 5) -> dict:
    """The least time the default training could take if every FLOP ran at the matmul rate."""
    rates = {"bf16": matmul_gflops(device, torch.bfloat16, repeats=repeats),
             "fp32": matmul_gflops(device, torch.float32, repeats=repeats)}
    tflop = default_training_tflop()
    return {"matmul_gflops": rates, "default_training_tflop": tflop,
            "floor_minutes": sum(tflop.values()) * 1e3 / rates[precision] / 60, "floor_precision": precision}


TRAIN_PATHS = (  # (label, precision, keep freed memory): measured in this order, side by side
    ("plain_fp32_default_malloc", "fp32", False),  # PyTorch as installed: fp32 eager, glibc defaults
    ("plain_fp32", "fp32", True),                  # the same with the project's allocator setting
    ("project", "auto", True),                     # the project's path: + bf16 autocast, channels_last
)


def bench_train(device_name: str = "auto", batch_size: int = 32, repeats: int = 10, rounds: int = 3) -> dict:
    """img/s of a training step of both models on each path of TRAIN_PATHS, and the ratios.

    The paths take turns: each round times every path once (median of `repeats` steps after
    warm-up), so a slow spell of the machine hits them alike; img/s and ratios are medians over
    the rounds of the per-round values.
    speedup = project / plain_fp32 (the same allocator: what autocast + channels_last buy);
    speedup_vs_default_malloc = project / plain_fp32_default_malloc (everything the project changes).
    compute_floor: the device's matmul rates and the default training's least possible time.
    """
    device = runtime.pick_device(device_name)
    fast = runtime.resolve_precision("auto", device)
    out = {"device": str(device), "project_precision": fast, "batch_size": batch_size, "repeats": repeats,
           "rounds": rounds, "keep_freed_memory_supported": runtime.keep_freed_memory(),
           "environment": runtime.environment(device)}
    for cls in (HeatmapNet, RegressionNet):
        steps = {}
        for label, precision, _ in TRAIN_PATHS:
            torch.manual_seed(0)
            steps[label] = train_step_fn(cls(), batch_size, runtime.resolve_precision(precision, device), device)
        per_round = {label: [] for label in steps}
        for _ in range(rounds):
            for label, _, keep_memory in TRAIN_PATHS:
                runtime.keep_freed_memory(keep_memory)
                per_round[label].append(batch_size / median_seconds(steps[label], repeats))
        ratio = lambda a, b: statistics.median(x / y for x, y in zip(per_round[a], per_round[b]))  # noqa: E731
        row = {f"{label}_img_per_s": statistics.median(v) for label, v in per_round.items()}
        row["speedup"] = ratio("project", "plain_fp32")
        row["speedup_vs_default_malloc"] = ratio("project", "plain_fp32_default_malloc")
        row["per_round_img_per_s"] = per_round
        out[cls.__name__] = row
    runtime.keep_freed_memory()
    out["compute_floor"] = compute_floor(device, fast, max(3, repeats // 2))
    return out


@torch.no_grad()
def inference_latency(model, device: torch.device, precision: str, batch_sizes=(1, 32), repeats: int = 20) -> dict:
    """Median seconds per forward pass at each batch size (eval mode)."""
    mem_format = runtime.memory_format(device, precision)
    model = model.to(device, memory_format=mem_format).eval()
    out = {}
    for b in batch_sizes:
        x = torch.rand(b, 1, 128, 128, device=device).contiguous(memory_format=mem_format)

        def forward():
            with runtime.autocast(device, precision):
                model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        out[f"batch{b}_ms"] = 1000 * median_seconds(forward, repeats)
    return out


def _print_rows(result: dict) -> None:
    for key, value in result.items():
        if isinstance(value, dict) and key != "environment":
            print(f"{key:14s} " + "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in value.items()))
        elif key != "environment":
            print(f"{key}: {value}")


def main(argv=None):
    p = cli.Parser(description="Throughput benchmarks (medians, side by side).")
    p.add_argument("what", choices=["data", "train", "latency", "sweep"])
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--device", type=cli.device_name, default="auto", help="device for 'train' and 'latency'")
    p.add_argument("--repeats", type=cli.positive_int, default=10, help="timed repetitions (median reported)")
    p.add_argument("--rounds", type=cli.positive_int, default=3, help="'train', 'sweep': rounds in which the ways take turns")
    p.add_argument("--out", type=Path, default=None, help="'train', 'sweep': also write the result as JSON here")
    p.add_argument("--runs", type=cli.positive_int, default=8, help="'sweep': small runs in the sweep")
    p.add_argument("--epochs", type=cli.positive_int, default=2, help="'sweep': epochs per run")
    p.add_argument("--images", type=cli.positive_int, default=256, help="'sweep': training images per run")
    args = p.parse_args(argv)
    if args.what == "data":
        result = {"samples_per_s": bench_data(ensure_data(args.data_dir), max(1, args.repeats // 3))}
    elif args.what in ("train", "sweep"):
        if args.what == "train":
            result = bench_train(args.device, repeats=args.repeats, rounds=args.rounds)
        else:
            from problem2.studies.bench_sweep import bench_sweep
            result = bench_sweep(args.runs, args.epochs, args.images, args.rounds)
        if args.out:
            storage.save_json(result, args.out)
    else:
        device = runtime.pick_device(args.device)
        precision = runtime.resolve_precision("auto", device)
        result = {cls.__name__: inference_latency(cls(), device, precision, repeats=args.repeats)
                  for cls in (HeatmapNet, RegressionNet)}
    _print_rows(result)


if __name__ == "__main__":
    cli.run(main)
