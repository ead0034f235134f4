"""Charts of results: PCK curves, training and learning curves, ablations, robustness, bars, accuracy against cost.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from problem2.core.metrics import ASSIGNMENT_THRESHOLDS, as_array
from problem2.figures.style import COLORS, MODEL_STYLE, SHORT_NAMES, reader_label, save_figure


def plot_pck_curves(pck_heatmap, pck_regression, save_path, extra: dict | None = None, title=None):
    """PCK against threshold for both methods; the assignment's thresholds are marked.

    pck_heatmap, pck_regression: {threshold: PCK}; extra: {label: {threshold: PCK}} more curves.
    """
    curves = {"heatmap": pck_heatmap, "regression": pck_regression, **(extra or {})}
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, pck in curves.items():
        t = sorted(pck)
        color = COLORS["subpixel"] if "subpixel" in label else COLORS.get(label.split()[0])
        ax.plot(t, [pck[x] for x in t], label=reader_label(label), color=color, lw=1.6,
                ls=":" if "subpixel" in label else "--" if "swap" in label else "-")
    for t in ASSIGNMENT_THRESHOLDS:
        ax.axvline(t, color="gray", lw=0.6, ls=":")
        for label, pck in curves.items():
            if t in pck:
                ax.plot(t, pck[t], "o", ms=3.5, color=COLORS.get(label.split()[0], "k"))
    ax.set(xlabel="threshold (fraction of the ground-truth bounding-box diagonal)", ylabel="PCK",
           ylim=(0, 1.01), title=title or "PCK curves (dotted lines: 0.05, 0.1, 0.15, 0.2)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    return save_figure(fig, save_path)


def plot_metric_vs_setting(settings, panels: list, save_path, xlabel, title):
    """Side-by-side panels [(ylabel, {label: values})] over a varied setting, each axis from 0.

    Colour follows the decoding named in the label (argmax / subpixel); swap-invariant series are dashed.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False, layout="constrained")
    xs = list(range(len(settings)))
    for ax, (ylabel, series) in zip(axes[0], panels):
        for label, values in series.items():
            color = COLORS["subpixel"] if "subpixel" in label else COLORS["regression"]
            ax.plot(xs, values, "o--" if "swap" in label else "o-", label=reader_label(label), color=color)
        ax.set_xticks(xs, [str(s) for s in settings])
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(0, 1.0 if "PCK" in ylabel else ax.get_ylim()[1] * 1.1)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, save_path)


def plot_bars(labels, series: dict, save_path, ylabel, title, ylim=None, errors: dict | None = None):
    """Grouped bars: one group per label, one bar per series (optional error bars); horizontal when the labels
    are long, so that they read without rotation."""
    horizontal = max(len(str(label)) for label in labels) > 12
    width = 0.8 / len(series)
    xs = np.arange(len(labels))
    if horizontal:
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(labels) * max(1, len(series)) / 1.5 + 1.6), layout="constrained")
    else:
        fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels) * max(1, len(series)) / 1.5), 4.2),
                               layout="constrained")
    for i, (name, values) in enumerate(series.items()):
        err = errors.get(name) if errors else None
        offset = (i - (len(series) - 1) / 2) * width
        if horizontal:
            ax.barh(xs[::-1] - offset, values, width, label=name, xerr=err, capsize=3)
        else:
            ax.bar(xs + offset, values, width, label=name, yerr=err, capsize=3)
    if horizontal:
        ax.set_yticks(xs[::-1], labels)
        ax.set(xlabel=ylabel, title=title)
        if ylim:
            ax.set_xlim(*ylim)
        ax.grid(alpha=0.3, axis="x")
    else:
        ax.set_xticks(xs, labels)
        ax.set(ylabel=ylabel, title=title)
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)  # beside the data, not on it
    return save_figure(fig, save_path)


def plot_training_curves(training_log: dict, save_path):
    """Per model: train/val loss (log scale) and the validation mean error in pixels, per epoch."""
    models = training_log["models"]
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.4 * len(models)), squeeze=False, layout="constrained")
    for row, (name, log) in zip(axes, models.items()):
        epochs = [e["epoch"] for e in log["epochs"]]
        row[0].semilogy(epochs, [e["train_loss"] for e in log["epochs"]], label="training")
        row[0].semilogy(epochs, [e["val_loss"] for e in log["epochs"]], label="validation")
        row[0].axvline(log["best_epoch"], color="gray", ls=":", label=f"best epoch {log['best_epoch']}")
        row[0].set(title=f"{reader_label(name)}: loss", xlabel="epoch", ylabel="MSE loss (log scale)")
        row[0].legend(fontsize=9)
        row[1].plot(epochs, [e["val_mean_px"] for e in log["epochs"]], color=COLORS.get(name, "C2"))
        maps = log.get("model") != "RegressionNet" and "regression" not in name  # heatmaps, decoded by argmax
        row[1].set(title=f"{reader_label(name)}: validation error", xlabel="epoch",
                   ylabel="mean error (px, argmax)" if maps else "mean error (px)")
        for ax in row:
            ax.grid(alpha=0.3)
    return save_figure(fig, save_path)


def plot_axis_scatter(predictions: dict, gt, keypoints, save_path):
    """Predicted against true x and y (image px) per model, over the given keypoints; the diagonal is exact."""
    gt = as_array(gt)
    fig, axes = plt.subplots(len(predictions), 2, figsize=(8.4, 4.2 * len(predictions)), squeeze=False,
                             layout="constrained")
    for row, (name, pred) in zip(axes, predictions.items()):
        pred = as_array(pred)
        for i, (ax, axis) in enumerate(zip(row, ("x", "y"))):
            true, guess = gt[:, keypoints, i], pred[:, keypoints, i]
            # correlation after centring each keypoint: how well the figure's position is followed
            t, g = (true - true.mean(0)).ravel(), (guess - guess.mean(0)).ravel()
            corr = np.corrcoef(t, g)[0, 1] if g.std() > 1e-9 else 0.0
            true, guess = true.ravel(), guess.ravel()
            ax.scatter(true, guess, s=5, alpha=0.35, color=COLORS.get(name, "C2"), edgecolors="none")
            ax.plot([0, 127], [0, 127], color="gray", lw=0.8, ls="--")
            ax.set(xlim=(0, 127), ylim=(0, 127), aspect="equal", xlabel=f"true {axis} (px)",
                   ylabel=f"predicted {axis} (px)",
                   title=f"{name}: {axis}  (corr {corr:.2f}, |err| {np.abs(guess - true).mean():.1f} px)")
            ax.title.set_fontsize(9)
            ax.grid(alpha=0.3)
    names = ", ".join(SHORT_NAMES[k] for k in keypoints)
    fig.suptitle(f"Predicted against true coordinates ({names}; test split)\n"
                 "corr: after centring each keypoint on its mean", fontsize=10)
    return save_figure(fig, save_path)


def plot_seeded_ablations(seeded, save_path):
    """Per ablation: labelled and swap-invariant PCK@0.05, and head+feet error under both decodings, mean ± sd
    over the seeds each setting has (n under each setting's name); settings without any seed are left out.
    seeded: SeededAblations."""
    names = list(seeded.ablations)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.2 * len(names)), squeeze=False, layout="constrained")
    for row, name in zip(axes, names):
        rows = seeded.ablations[name]
        xs = np.arange(len(rows))
        for ax, metrics_ in ((row[0], (("pck@0.05", "course labels", COLORS["subpixel"]),
                                       ("swap_invariant_pck@0.05", "swap-invariant", COLORS["gt"]))),
                             (row[1], (("head_feet_px", "3 x 3 Newton step", COLORS["heatmap"]),
                                       ("head_feet_px_fit", "window fit", COLORS["fit"])))):
            for metric, label, color in metrics_:
                if metric not in rows[0].summary:
                    continue
                have = [i for i, r in enumerate(rows) if r.summary[metric][2]]
                mean = [rows[i].summary[metric][0] for i in have]
                sd = [rows[i].summary[metric][1] for i in have]
                ax.errorbar(xs[have], mean, yerr=sd, fmt="o-", capsize=3, color=color, label=label)
            ax.set_xticks(xs, [f"{r.setting}\nn={r.summary['pck@0.05'][2]}" for r in rows], fontsize=9)
            ax.set_xlim(-0.5, len(rows) - 0.5)
            ax.grid(alpha=0.3)
        row[0].set(ylabel="PCK@0.05", title=f"{name}: PCK@0.05")
        row[1].set(ylabel="mean error (px)", title="head and feet error")
        row[0].legend(fontsize=9)
        row[1].legend(fontsize=9)
        for ax in row:
            ax.title.set_fontsize(9)
    # one scale per column, so that the rows compare at a glance: PCK over every row's range (at least 0.1 wide, so
    # that a noise-sized gap looks noise-sized), errors from 0
    low, high = min(ax.get_ylim()[0] for ax in axes[:, 0]), max(ax.get_ylim()[1] for ax in axes[:, 0])
    mid = (low + high) / 2
    for ax in axes[:, 0]:
        ax.set_ylim(min(low, mid - 0.05), max(high, mid + 0.05))
    for ax in axes[:, 1]:
        ax.set_ylim(0, max(0.5, *(a.get_ylim()[1] for a in axes[:, 1])))
    rule = "last epoch" if seeded.rule == "last_epoch" else "lowest validation loss"
    fig.suptitle(f"Ablations over seeds (mean ± sd; {seeded.split} split, sub-pixel decoding, each run at its {rule}; "
                 "one scale per column)", fontsize=10)
    return save_figure(fig, save_path)


def plot_robustness(result, save_path):
    """Per perturbation (rows, the clean images first), PCK@0.05 and mean error of every model, both axes from 0.
    result: robustness.Robustness."""
    rows = result.rows
    labels = ["clean (no perturbation)" if r.family == "clean" else r.name for r in rows]
    models = list(result.models)
    ys = np.arange(len(rows))[::-1]
    height = 0.8 / len(models)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.36 * len(rows) + 1.8), sharey=True, layout="constrained")
    for ax, metric, xlabel in ((axes[0], "pck@0.05", "PCK@0.05 (course labels)"), (axes[1], "mean_px", "mean error (px)")):
        for i, model in enumerate(models):
            color, alpha = MODEL_STYLE.get(model, (f"C{i}", 1.0))
            values = [r.scores[model][metric] for r in rows]
            ax.barh(ys + (len(models) - 1 - 2 * i) * height / 2, values, height, color=color, alpha=alpha, label=model)
        ax.axhline(ys[0] - 0.5, color="gray", lw=0.8)  # the clean row above, the perturbations below
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_xlim(0, 1)
    axes[1].set_xlim(0, None)
    axes[0].set_yticks(ys, labels)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=9, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle(f"Robustness on {result.n_images} perturbed {result.split} images", fontsize=10)
    return save_figure(fig, save_path)


def plot_learning_curves(result, save_path):
    """PCK@0.05 and head+feet error in x and in y against training images (log scale), mean ± sd over seeds.
    result: results.DataEfficiency."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4), layout="constrained")
    for model, name, color in (("heatmap", "HeatmapNet", COLORS["heatmap"]),
                               ("regression", "RegressionNet", COLORS["regression"])):
        points = [p for p in result.curve(model) if p.summary["pck@0.05"][2]]
        sizes = [p.train_images for p in points]
        for ax, metric in zip(axes, ("pck@0.05", "x_abs_px", "y_abs_px")):
            ax.errorbar(sizes, [p.summary[metric][0] for p in points], yerr=[p.summary[metric][1] for p in points],
                        fmt="o-", capsize=3, color=color, label=name)
    controls = [p for p in getattr(result, "step_controls", []) if p.summary["pck@0.05"][2]]
    for ax, metric in zip(axes, ("pck@0.05", "x_abs_px", "y_abs_px")):  # at their 1000 images, set a little apart
        for i, (p, marker) in enumerate(zip(controls, "s^D")):
            ax.plot([p.train_images * 1.08 ** (i + 1)], [p.summary[metric][0]], marker, mfc="none", ls="",
                    color=COLORS["regression"], label=f"RegressionNet, {p.train_images} images, "
                                                      f"{p.steps_of // p.train_images}x the epochs")
    for ax, label in zip(axes, ("PCK@0.05 (course labels)", "head+feet |x error| (px)", "head+feet |y error| (px)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({p.train_images for p in result.points}),
                      [str(p) for p in sorted({p.train_images for p in result.points})], fontsize=9)
        ax.minorticks_off()
        ax.set(xlabel="training images", ylabel=label)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 1)
    fig.legend(*axes[0].get_legend_handles_labels(), fontsize=9, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"Learning curves (mean ± sd over seeds {result.seeds}; {result.split} split, "
                 f"{result.n_images} images)", fontsize=10)
    return save_figure(fig, save_path)


def plot_accuracy_vs_flops(study, save_path):
    """heads.json: PCK@0.05 (mean ± sd over seeds) of every model, one row each, ordered by forward GFLOPs per image
    (named in the row's label, so that rows of one cost are not spread along a cost axis); one panel for side
    labels, one for the course labels scored hand-swap-invariant. Filled markers: no decoder."""
    rows = sorted(study.rows, key=lambda r: (r.gflops_forward, r.label))
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 1.6), sharey=True, layout="constrained")
    panels = (("side", "trained and scored on side labels"), ("course_swap", "course labels, hand-swap-invariant"))
    ys = np.arange(len(rows))[::-1]
    for ax, (labels, title) in zip(axes, panels):
        for y, row in zip(ys, rows):
            values = row.scores[labels]
            if values:
                ax.errorbar(np.mean(values), y, xerr=np.std(values, ddof=1) if len(values) > 1 else 0, marker="o",
                            ms=7, capsize=3, ls="none", mfc="white" if row.decoder else None,
                            color=COLORS["heatmap"] if row.decoder else COLORS["regression"])
        ax.set(title=title, xlim=(0, 1.02), xlabel=f"{study.metric} (mean ± sd over seeds)")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
    axes[0].set_yticks(ys, [f"{r.label} ({r.gflops_forward:.2f} GFLOPs)" for r in rows], fontsize=9)
    fig.suptitle("Every model by its cost (forward GFLOPs per 128 x 128 image); open marker: with a decoder",
                 fontsize=10)
    return save_figure(fig, save_path)
