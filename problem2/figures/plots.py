"""Every figure the project draws (matplotlib, Agg). Keypoints are (x, y) in image pixels.

One module on purpose, although it is longer than the others (~370 lines): every figure shares one owner of
its colours, markers and pixel conventions, so the report's pictures stay alike (plots depend on nothing but
numpy, matplotlib and the schema; the study modules call them).

Images are drawn with imshow's default pixel-centre convention, which is the codec's: pixel
(column i, row j) is centred at (i, j), so keypoints overlay without any offset.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from problem2.core import runtime  # noqa: E402
from problem2.core.metrics import ASSIGNMENT_THRESHOLDS, as_array  # noqa: E402
from problem2.core.schema import KEYPOINT_NAMES, SKELETON  # noqa: E402

SHORT_NAMES = ["head", "L hand", "R hand", "L foot", "R foot"]
COLORS = {"gt": "#1a9850", "heatmap": "#d73027", "regression": "#4575b4", "subpixel": "#f46d43", "aimed": "#762a83",
          "fit": "#35978f"}


MIN_FONT_PT = 9       # every text of every figure, at the size it is saved (dpi 110, shown at 100%)
BEFORE_SAVE: list = []  # callables(fig, path) run on each figure before it is written (tests check text there)


def figure_texts(fig) -> list:
    """Every non-empty text a reader sees: titles, axis labels, tick labels in view, annotations, legends."""
    texts = list(fig.texts) + [t for legend in fig.legends for t in (*legend.get_texts(), legend.get_title())]
    if getattr(fig, "_suptitle", None) is not None:
        texts.append(fig._suptitle)
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison and not ax.get_title():
            continue
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        if ax.axison:
            texts += [*_tick_labels_in_view(ax.xaxis), *_tick_labels_in_view(ax.yaxis)]
        legend = ax.get_legend()
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    unique = {id(t): t for t in texts}  # the suptitle is also one of fig.texts
    return [t for t in unique.values() if t.get_visible() and t.get_text().strip()]


def _tick_labels_in_view(axis) -> list:
    """The labels of the major ticks that are drawn (matplotlib keeps labels for ticks outside the view)."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * (high - low)
    return [label for tick in axis.get_major_ticks() if low - slack <= tick.get_loc() <= high + slack
            for label in (tick.label1, tick.label2) if label.get_visible()]


def text_problems(fig) -> list:
    """What a reader would stumble on: text smaller than MIN_FONT_PT, and pairs of texts that overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    drawn = lambda t: not isinstance(t, matplotlib.text.Annotation) or t._check_xy(renderer)  # noqa: E731
    texts = [t for t in figure_texts(fig) if drawn(t)]  # an annotation of a point off the axes is not drawn
    problems = [f"{t.get_text()!r} is {t.get_fontsize():.1f} pt" for t in texts if t.get_fontsize() < MIN_FONT_PT]
    boxes = [(t, t.get_window_extent(renderer).expanded(0.98, 0.9)) for t in texts]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            if box_a.overlaps(box_b):
                problems.append(f"{a.get_text()!r} overlaps {b.get_text()!r}")
    return problems


def _save(fig, save_path) -> Path:
    save_path = Path(save_path)
    runtime.check_writable(save_path)
    for check in BEFORE_SAVE:
        check(fig, save_path)
    save_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    runtime.traced("write", save_path)
    return save_path


def _image(ax, image):
    image = as_array(image).squeeze()
    ax.imshow(image, cmap="gray", vmin=0, vmax=image.max() if image.max() > 1 else 1)
    ax.set_xticks([])
    ax.set_yticks([])


def draw_skeleton(ax, points, color, marker="o", label=None, names=False):
    """Keypoints [K, 2] with the skeleton lines (head to each limb end)."""
    points = as_array(points)
    for a, b in SKELETON:
        ax.plot(*points[[a, b]].T, color=color, lw=1, alpha=0.7)
    ax.scatter(*points.T, c=color, s=22, marker=marker, label=label, zorder=3,
               edgecolors="white" if marker == "o" else None, linewidths=0.5)
    if names:
        for k, (name, (x, y)) in enumerate(zip(SHORT_NAMES, points)):
            dx, dy, ha = name_offset(points, k)
            ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=9, color=color, ha=ha,
                        va="center")


def name_offset(points, k: int) -> tuple:
    """(dx, dy, ha) in points for keypoint k's name: the head's above it, a limb end's on its outer side (the one
    further from its pair's other end), so that the names of two close hands or feet do not overprint."""
    if k == 0:
        return 0, 9, "center"
    pair = {1: 2, 2: 1, 3: 4, 4: 3}[k] if len(points) == len(SHORT_NAMES) else k
    outer_left = points[k][0] < points[pair][0] or (points[k][0] == points[pair][0] and k in (1, 3))
    dy = -7 if k >= 3 else 0
    return (-6, dy, "right") if outer_left else (6, dy, "left")


def plot_pck_curves(pck_heatmap, pck_regression, save_path, extra: dict | None = None, title=None):
    """PCK against threshold for both methods; the assignment's thresholds are marked.

    pck_heatmap, pck_regression: {threshold: PCK}; extra: {label: {threshold: PCK}} more curves.
    """
    curves = {"heatmap": pck_heatmap, "regression": pck_regression, **(extra or {})}
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, pck in curves.items():
        t = sorted(pck)
        color = COLORS["subpixel"] if "subpixel" in label else COLORS.get(label.split()[0])
        ax.plot(t, [pck[x] for x in t], label=label, color=color, lw=1.6,
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
    return _save(fig, save_path)


def visualize_predictions(image, pred_keypoints, gt_keypoints, save_path, title=None):
    """One image with ground truth (green, when given) and prediction (red), skeletons and keypoint names."""
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    _image(ax, image)
    if gt_keypoints is not None:
        draw_skeleton(ax, gt_keypoints, COLORS["gt"], label="ground truth")
    draw_skeleton(ax, pred_keypoints, COLORS["heatmap"], marker="x", label="prediction", names=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=9, frameon=False)  # below the image
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, save_path)


def plot_prediction_grid(images, gt, predictions: dict, save_path, titles=None, suptitle=None):
    """Rows = images, columns = methods: {method: [N, K, 2]} on the same images with the ground truth."""
    n, methods = len(images), list(predictions)
    fig, axes = plt.subplots(n, len(methods), figsize=(3.0 * len(methods), 2.8 * n), squeeze=False,
                             layout="constrained")
    for i in range(n):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            _image(ax, images[i])
            draw_skeleton(ax, gt[i], COLORS["gt"])
            draw_skeleton(ax, predictions[method][i], COLORS.get(method.split()[0], "C3"), "x", names=True)
            err = np.linalg.norm(as_array(predictions[method][i]) - as_array(gt[i]), axis=-1).mean()
            ax.set_xlim(-0.5, 127.5)  # the image's own frame: a prediction off the image is clipped, not zoomed out
            ax.set_ylim(127.5, -0.5)
            label = f"{method}: {err:.1f} px" + (f"\n{titles[i]}" if titles else "")
            ax.set_title(label, fontsize=9)
    fig.suptitle(suptitle or "green o: ground truth, x: prediction", fontsize=9)
    return _save(fig, save_path)


def plot_heatmap_stages(image, snapshots: dict, save_path, keypoint_names=KEYPOINT_NAMES):
    """Rows = training epochs, columns = the image then each keypoint's predicted heatmap, on one colour scale."""
    epochs = sorted(snapshots)
    k = len(keypoint_names)
    top = max(1.0, max(float(as_array(snapshots[e]).max()) for e in epochs))
    fig, axes = plt.subplots(len(epochs), k + 1, figsize=(1.9 * (k + 1) + 0.8, 1.9 * len(epochs) + 0.6),
                             squeeze=False, layout="constrained")
    for r, epoch in enumerate(epochs):
        _image(axes[r, 0], image)
        axes[r, 0].set_ylabel(f"epoch {epoch}", fontsize=9)
        maps = as_array(snapshots[epoch])
        for c in range(k):
            ax = axes[r, c + 1]
            shown = ax.imshow(maps[c], cmap="magma", vmin=0, vmax=top)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(keypoint_names[c], fontsize=9)
    fig.colorbar(shown, ax=axes[:, 1:], shrink=0.6, label="predicted heatmap value (target peak 1)")
    fig.suptitle("Predicted heatmaps of one validation image across training", fontsize=10)
    return _save(fig, save_path)


def plot_metric_vs_setting(settings, panels: list, save_path, xlabel, title):
    """Side-by-side panels [(ylabel, {label: values})] over a varied setting, each axis from 0.

    Colour follows the decoding named in the label (argmax / subpixel); swap-invariant series are dashed.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False, layout="constrained")
    xs = list(range(len(settings)))
    for ax, (ylabel, series) in zip(axes[0], panels):
        for label, values in series.items():
            color = COLORS["subpixel"] if "subpixel" in label else COLORS["regression"]
            ax.plot(xs, values, "o--" if "swap" in label else "o-", label=label.replace("swap-inv.", "swap-invariant"),
                    color=color)
        ax.set_xticks(xs, [str(s) for s in settings])
        ax.set(xlabel=xlabel, ylabel=ylabel)
        ax.set_ylim(0, 1.0 if "PCK" in ylabel else ax.get_ylim()[1] * 1.1)
        ax.grid(alpha=0.3)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=10)
    return _save(fig, save_path)


def plot_failure_gallery(images, gt, pred_heatmap, pred_regression, heatmaps, keypoint_idx, save_path,
                         titles, suptitle):
    """Rows = cases: the image with GT and both predictions, then the failing keypoint's heatmap."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(7.6, 3.2 * n), squeeze=False, layout="constrained")
    for i in range(n):
        ax = axes[i, 0]
        _image(ax, images[i])
        draw_skeleton(ax, gt[i], COLORS["gt"])
        draw_skeleton(ax, pred_heatmap[i], COLORS["heatmap"], "x")
        draw_skeleton(ax, pred_regression[i], COLORS["regression"], "+")
        k = keypoint_idx[i]
        ax.scatter(*as_array(gt[i])[k], s=160, facecolors="none", edgecolors="yellow", lw=1.5, zorder=4)
        ax.set_title(titles[i], fontsize=9)
        ax = axes[i, 1]
        stride = 128 / heatmaps[i].shape[-1]
        ax.imshow(as_array(heatmaps[i]), cmap="magma", extent=(-0.5 * stride, 128 - 0.5 * stride,
                                                                128 - 0.5 * stride, -0.5 * stride))
        ax.scatter(*as_array(gt[i])[k], c=COLORS["gt"], s=25, marker="o")
        ax.set_title(f"{KEYPOINT_NAMES[k]} heatmap (max {as_array(heatmaps[i]).max():.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(suptitle + "\ngreen o: GT, red x: heatmap, blue +: regression, yellow ring: failing keypoint",
                 fontsize=9)
    return _save(fig, save_path)


def plot_image_pairs(top_images, bottom_images, save_path, top_label, bottom_label, top_points=None,
                     bottom_points=None):
    """Two rows of images (e.g. generated vs course data), optional keypoints drawn on each."""
    n = len(top_images)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for row, (imgs, pts, label) in enumerate([(top_images, top_points, top_label),
                                              (bottom_images, bottom_points, bottom_label)]):
        for i in range(n):
            _image(axes[row, i], imgs[i])
            if pts is not None:
                draw_skeleton(axes[row, i], pts[i], COLORS["gt"], names=i == 0)
        axes[row, 0].set_ylabel(label, fontsize=9)
    return _save(fig, save_path)


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
    return _save(fig, save_path)


def plot_training_curves(training_log: dict, save_path):
    """Per model: train/val loss (log scale) and the validation mean error in pixels, per epoch."""
    models = training_log["models"]
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.4 * len(models)), squeeze=False, layout="constrained")
    for row, (name, log) in zip(axes, models.items()):
        epochs = [e["epoch"] for e in log["epochs"]]
        row[0].semilogy(epochs, [e["train_loss"] for e in log["epochs"]], label="train loss")
        row[0].semilogy(epochs, [e["val_loss"] for e in log["epochs"]], label="val loss")
        row[0].axvline(log["best_epoch"], color="gray", ls=":", label=f"best epoch {log['best_epoch']}")
        row[0].set(title=f"{name}: MSE loss", xlabel="epoch")
        row[0].legend(fontsize=9)
        row[1].plot(epochs, [e["val_mean_px"] for e in log["epochs"]], color=COLORS.get(name, "C2"))
        decoded = ", heatmaps decoded by argmax" if log.get("model") != "RegressionNet" and "regression" not in name \
            else ""
        row[1].set(title=f"{name}: validation mean error{decoded}", xlabel="epoch", ylabel="mean error (px)")
        for ax in row:
            ax.grid(alpha=0.3)
    return _save(fig, save_path)


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
    return _save(fig, save_path)


def plot_seeded_ablations(seeded, save_path):
    """Per ablation: labelled and swap-invariant PCK@0.05, and head+feet error under both decodings, mean ± sd
    over the seeds each setting has (n under each setting's name); settings without any seed are left out.
    seeded: SeededAblations."""
    names = list(seeded.ablations)
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.2 * len(names)), squeeze=False, layout="constrained")
    for row, name in zip(axes, names):
        rows = seeded.ablations[name]
        xs = np.arange(len(rows))
        for ax, metrics_ in ((row[0], (("pck@0.05", "labelled", COLORS["subpixel"]),
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
        low, high = row[0].get_ylim()  # span at least 0.1: a noise-sized gap (~0.01) must look noise-sized
        mid = (low + high) / 2
        row[0].set_ylim(min(low, mid - 0.05), max(high, mid + 0.05))
        row[1].set(ylabel="mean error (px)", title="head and feet error")
        row[1].set_ylim(0, max(row[1].get_ylim()[1], 0.5))
        row[0].legend(fontsize=9)
        row[1].legend(fontsize=9)
        for ax in row:
            ax.title.set_fontsize(9)
    fig.suptitle(f"Ablations over seeds (mean ± sd; {seeded.split} split, sub-pixel decoding)", fontsize=10)
    return _save(fig, save_path)


MODEL_STYLE = {"HeatmapNet": (COLORS["heatmap"], 1.0), "RegressionNet": (COLORS["regression"], 1.0),
               "HeatmapNet augmented": (COLORS["heatmap"], 0.45), "RegressionNet augmented": (COLORS["regression"], 0.45),
               "HeatmapNet augmented, aimed cutout": (COLORS["aimed"], 1.0)}


def plot_robustness(result, save_path):
    """Per perturbation (rows, the clean images first), PCK@0.05 and mean error of every model, both axes from 0.
    result: robustness.Robustness."""
    rows = result.rows
    labels = ["clean (no perturbation)" if r.family == "clean" else r.name for r in rows]
    models = list(result.models)
    ys = np.arange(len(rows))[::-1]
    height = 0.8 / len(models)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.36 * len(rows) + 1.8), sharey=True, layout="constrained")
    for ax, metric, xlabel in ((axes[0], "pck@0.05", "PCK@0.05 (labelled)"), (axes[1], "mean_px", "mean error (px)")):
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
    return _save(fig, save_path)


def plot_robustness_examples(examples: list, save_path, max_columns: int = 6):
    """examples: [(title, uint8 image [H, W], ground truth [K, 2], {model: [K, 2]})], one panel each, in as few
    columns as keep the last row full where possible; the models' colours in a legend below."""
    rows_n = -(-len(examples) // max_columns)
    columns = -(-len(examples) // rows_n)
    fig, axes = plt.subplots(rows_n, columns, figsize=(2.3 * columns, 2.5 * rows_n + 0.9), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    handles = {"ground truth": plt.Line2D([], [], color=COLORS["gt"], marker="o", ls="")}
    for ax, (title, image, gt, preds) in zip(axes.ravel(), examples):
        _image(ax, image)
        ax.axis("on")
        draw_skeleton(ax, gt, COLORS["gt"])
        for i, (model, points) in enumerate(preds.items()):
            color, alpha = MODEL_STYLE.get(model, (f"C{i}", 1.0))
            ax.scatter(*as_array(points).T, c=color, alpha=alpha, s=18, marker="x", zorder=4)
            handles.setdefault(model, plt.Line2D([], [], color=color, alpha=alpha, marker="x", ls=""))
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_title(title, fontsize=9)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("First test image under the strongest setting of each perturbation", fontsize=10)
    return _save(fig, save_path)


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
    for ax, label in zip(axes, ("PCK@0.05 (labelled)", "head+feet |x error| (px)", "head+feet |y error| (px)")):
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
    return _save(fig, save_path)


def plot_accuracy_vs_flops(study, save_path):
    """heads.json: PCK@0.05 (mean ± sd over seeds) against forward GFLOPs per image, one marker per model; one panel
    for side labels, one for the course labels scored hand-swap-invariant. Filled markers: no decoder."""
    markers = "osD^v<>ph*"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    panels = (("side", "trained and scored on side labels"), ("course_swap", "course labels, hand-swap-invariant"))
    for ax, (labels, title) in zip(axes, panels):
        for i, row in enumerate(study.rows):
            values = row.scores[labels]
            if not values:
                continue
            ax.errorbar(row.gflops_forward, np.mean(values), yerr=np.std(values, ddof=1) if len(values) > 1 else 0,
                        marker=markers[i % len(markers)], ms=8, capsize=3, ls="none", label=row.label,
                        mfc="white" if row.decoder else None, color=f"C{i}")
        ax.set(title=title, xlabel="forward GFLOPs per 128 x 128 image", xlim=(0.35, 0.9), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{study.metric} (mean ± sd over seeds)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, fontsize=9, loc="outside right center", title="open marker: decoder")
    return _save(fig, save_path)
