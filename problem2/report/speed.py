"""The report's appendix on training speed (bench_train.json), the fast path against plain fp32 (studies.json)
and a sweep on Ray against the sequential one (bench_sweep.json, when present). This module builds the tables; the
prose is in templates/speed.md."""
from __future__ import annotations

from problem2.report.markdown import f2, f3, render, table

PATH_LABELS = {"plain_fp32_default_malloc": "plain fp32 eager, glibc malloc defaults",
               "plain_fp32": "plain fp32 eager, freed memory kept",
               "project": "project: + bf16 autocast, channels_last"}
PRECISION_METRIC_LABELS = {"val_loss": "val loss (best epoch)", "val_mean_px": "val mean px",
                           "val_pck@0.05": "val PCK@0.05", "eval_pck@0.05": "eval PCK@0.05",
                           "eval_mean_px": "eval mean px"}


def speed_table(bench: dict) -> str:
    models = [k for k in bench if isinstance(bench[k], dict) and "speedup" in bench[k]]
    rows = [[PATH_LABELS[p]] + [f"{bench[m][f'{p}_img_per_s']:.1f}" for m in models] for p in PATH_LABELS]
    rows.append(["speed-up, project / plain fp32 (same allocator)"] + [f"{bench[m]['speedup']:.2f}x" for m in models])
    rows.append(["speed-up, project / plain fp32 (glibc defaults)"]
                + [f"{bench[m]['speedup_vs_default_malloc']:.2f}x" for m in models])
    return table(["training step, img/s (median)"] + models, rows)


def precision_table(pr: dict) -> str:
    rows = []
    for model, metrics_ in pr["summary"].items():
        for key, r in metrics_.items():
            fmt = (lambda v: f"{v:.2e}") if key == "val_loss" else (f3 if "pck" in key else f2)
            interval = f"[{fmt(r['low'])}, {fmt(r['high'])}]" if "low" in r else "-"
            rows.append([model, PRECISION_METRIC_LABELS[key], f"{fmt(r['fast'][0])} ± {fmt(r['fast'][1])}",
                         f"{fmt(r['fp32'][0])} ± {fmt(r['fp32'][1])}", fmt(r["diff"]), interval,
                         "yes" if r["within_seed_noise"] else "**no**"])
    return table(["model", "metric", "fast path", "plain fp32", "difference", "95% interval",
                  "no difference detected (Welch, Holm over the table)"], rows)


def floor(bench: dict) -> dict | None:
    """The compute floor of the default training on this device (bench_train.json compute_floor), or None."""
    f = bench.get("compute_floor")
    return f and {"bf16": f["matmul_gflops"]["bf16"], "fp32": f["matmul_gflops"]["fp32"],
                  "tflop": sum(f["default_training_tflop"].values()), "precision": f["floor_precision"],
                  "minutes": f["floor_minutes"]}


def sweep_table(sweep: dict) -> str:
    """Sequential against Ray, round by round (bench_sweep.py)."""
    rows = [[f"round {i + 1}" + (" (Ray's workers start)" if i == 0 else ""), f"{r['sequential_seconds']:.1f}",
             f"{r['ray_seconds']:.1f}", f"{r['ratio']:.2f}", f"{r['ray_dispatch_seconds_per_run']:.2f}",
             f"{r['ray_task_setup_seconds']:.2f}", f"{r['sequential_setup_seconds']:.2f}"]
            for i, r in enumerate(sweep["per_round"])]
    return table(["", "sequential s", "Ray s", "ratio", "dispatch s/run", "task setup s", "sequential setup s"], rows)


def section_speed(bench: dict | None, s: dict | None, sweep: dict | None = None) -> str:
    """The speed appendix (templates/speed.md); '' when none of its three files exists."""
    pr = s["precision"] if s and "precision" in s else None
    groups = lambda key, group: sorted({r[key] for r in pr["rows"] if r["group"] == group})  # noqa: E731
    return render(
        "speed",
        bench=bench and {"batch_size": bench["batch_size"], "rounds": bench.get("rounds", 1),
                         "repeats": bench.get("repeats", 10), "env": bench["environment"],
                         "precision": bench["project_precision"], "table": speed_table(bench), "floor": floor(bench),
                         "cuda": bench["environment"]["device"].startswith("cuda")},
        precision=pr and {"fast_precision": groups("precision", "fast"), "fast_seeds": groups("seed", "fast"),
                          "fp32_seeds": groups("seed", "fp32"), "note": pr["note"], "table": precision_table(pr)},
        sweep=sweep and {**sweep, "machine": sweep["environment"].get("cpu", sweep["environment"]["device"]),
                         "table": sweep_table(sweep)})
