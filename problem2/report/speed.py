"""The report's appendix on training speed (bench_train.json), the fast path against plain fp32 (studies.json)
and a sweep on Ray against the sequential one (bench_sweep.json, when present). Rendered from JSON only."""
from __future__ import annotations

from problem2.report.markdown import f2, f3, table

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


def floor_sentence(bench: dict) -> str:
    f = bench.get("compute_floor")
    if not f:
        return ""
    rates = f["matmul_gflops"]
    return (f"Matrix products on this device reach {rates['bf16']:.0f} GFLOP/s in bf16 and {rates['fp32']:.0f} in fp32 "
            f"(2048x2048, median). The default training (both models, 30 epochs, validation included) is "
            f"{sum(f['default_training_tflop'].values()):.0f} TFLOP of convolution and linear layers (3x forward per "
            f"training image), so even with every FLOP at the {f['floor_precision']} matmul rate and nothing else "
            f"costing time it cannot take less than **{f['floor_minutes']:.1f} min** here.")


def sweep_paragraph(sweep: dict) -> str:
    """Sequential against Ray on the same sweep of small runs (bench_sweep.py)."""
    m, env = sweep["median"], sweep["environment"]
    rows = [[f"round {i + 1}" + (" (Ray's workers start)" if i == 0 else ""), f"{r['sequential_seconds']:.1f}",
             f"{r['ray_seconds']:.1f}", f"{r['ratio']:.2f}", f"{r['ray_dispatch_seconds_per_run']:.2f}",
             f"{r['ray_task_setup_seconds']:.2f}", f"{r['sequential_setup_seconds']:.2f}"]
            for i, r in enumerate(sweep["per_round"])]
    return "\n\n".join([
        f"**A sweep on Ray** (`python -m problem2 bench sweep`): {sweep['runs']} HeatmapNet runs of {sweep['epochs']} "
        f"epochs on {sweep['train_images']} images, trained one after another in one process with "
        f"{sweep['sequential_threads']} threads, and as Ray tasks on {sweep['ray_workers']} one-CPU workers of the same "
        f"machine ({env.get('cpu', env['device'])}; 1-minute load average "
        f"{sweep['load_average_1min'][0]:.1f} before, {sweep['load_average_1min'][1]:.1f} after), the two ways taking turns for "
        f"{sweep['rounds']} rounds. Ray takes {sweep['ray_init_seconds']:.1f} s to start. Median ratio sequential / Ray "
        f"**{m['ratio']:.2f}**; Ray's dispatch costs {m['ray_dispatch_seconds_per_run']:.2f} s per run (W x wall - "
        f"the tasks' own seconds, over N) and a task's setup {m['ray_task_setup_seconds']:.2f} s against "
        f"{m['sequential_setup_seconds']:.2f} s in one process. "
        + (f"One thread against two changed the numbers: best validation losses differ by up to "
           f"{m['max_val_loss_difference']:.1e}." if m["max_val_loss_difference"] > 0 else
           "One thread against two left these short runs' best validation losses identical; that is not guaranteed "
           "(sums are ordered by the thread count), and over 30 epochs the main pair's numbers did move (README)."),
        table(["", "sequential s", "Ray s", "ratio", "dispatch s/run", "task setup s", "sequential setup s"], rows)])


def section_speed(bench: dict | None, s: dict | None, sweep: dict | None = None) -> str:
    out = ["## {§speed} Training speed and the fast path"]
    if bench:
        env = bench["environment"]
        out += [f"`python -m problem2 bench train`: one process, batch {bench['batch_size']}; the paths take turns in "
                f"{bench.get('rounds', 1)} round(s), each timing a path by the median of {bench.get('repeats', 10)} steps "
                f"after warm-up; img/s and ratios are medians over the rounds. On {env['device']} ({env['cpu_threads']} threads, "
                f"torch {env['torch']}); the project's precision here is {bench['project_precision']}.",
                speed_table(bench), floor_sentence(bench),
                "Keeping freed memory (runtime.keep_freed_memory) stops glibc from unmapping and re-faulting the "
                "tens-of-MB activation buffers every step; it changes no number."]
        if not env["device"].startswith("cuda"):
            out.append("CUDA is not measured in this reference run: `--device cuda` trains, evaluates and runs the "
                       "sweep on a GPU (a test covers it wherever CUDA exists), and the README records one measurement "
                       "made on an NVIDIA H100 whose raw output was not kept, so this report, rendered from JSON "
                       "only, does not show it.")
    if s and "precision" in s:
        pr = s["precision"]
        fast_seeds = sorted({r["seed"] for r in pr["rows"] if r["group"] == "fast"})
        fp32_seeds = sorted({r["seed"] for r in pr["rows"] if r["group"] == "fp32"})
        fast_precision = sorted({r["precision"] for r in pr["rows"] if r["group"] == "fast"})
        out += [f"Does the fast path change results? The main pair trained on the fast path ({'/'.join(fast_precision)}, "
                f"seeds {fast_seeds}) and in plain fp32 (seeds {fp32_seeds}); mean ± std over seeds. {pr['note']}.",
                precision_table(pr)]
    if sweep:
        out.append(sweep_paragraph(sweep))
    return "\n\n".join(out) if len(out) > 1 else ""
