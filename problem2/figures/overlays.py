"""Figures of images: predictions over test images, heatmaps across training, failure galleries, image pairs.

Images are drawn with imshow's default pixel-centre convention, which is the codec's: pixel (column i, row j) is
centred at (i, j), so keypoints overlay without any offset.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from problem2.core.metrics import as_array
from problem2.core.schema import KEYPOINT_NAMES
from problem2.figures.style import (
    COLORS,
    MODEL_MARKS,
    SHORT_NAMES,
    draw_skeleton,
    reader_label,
    save_figure,
    show_image,
)


def visualize_predictions(image, pred_keypoints, gt_keypoints, save_path, title=None):
    """One image with ground truth (green, when given) and prediction (red), skeletons and keypoint names;
    keypoints [5, 2] (x, y) in image pixels, the stick figure's five in the course's order."""
    for name, points in (("pred_keypoints", pred_keypoints), ("gt_keypoints", gt_keypoints)):
        if points is not None and as_array(points).shape != (len(SHORT_NAMES), 2):
            raise ValueError(f"{name} must be [{len(SHORT_NAMES)}, 2] (x, y) of the stick figure's keypoints; "
                             f"got shape {list(as_array(points).shape)}")
    fig, ax = plt.subplots(figsize=(3.2, 3.2))
    show_image(ax, image)
    if gt_keypoints is not None:
        draw_skeleton(ax, gt_keypoints, COLORS["gt"], label="ground truth")
    draw_skeleton(ax, pred_keypoints, COLORS["heatmap"], marker="x", label="prediction", names=True)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=9, frameon=False)  # below the image
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, save_path)


def plot_prediction_grid(images, gt, predictions: dict, save_path, titles=None, suptitle=None):
    """Rows = images, columns = methods: {method: [N, K, 2]} on the same images with the ground truth."""
    n, methods = len(images), list(predictions)
    fig, axes = plt.subplots(n, len(methods), figsize=(3.0 * len(methods), 2.8 * n), squeeze=False,
                             layout="constrained")
    for i in range(n):
        for j, method in enumerate(methods):
            ax = axes[i, j]
            show_image(ax, images[i])
            draw_skeleton(ax, gt[i], COLORS["gt"])
            draw_skeleton(ax, predictions[method][i], COLORS.get(method.split()[0], "C3"), "x", names=True)
            err = np.linalg.norm(as_array(predictions[method][i]) - as_array(gt[i]), axis=-1).mean()
            ax.set_xlim(-0.5, 127.5)  # the image's own frame: a prediction off the image is clipped, not zoomed out
            ax.set_ylim(127.5, -0.5)
            label = f"{reader_label(method)}: {err:.1f} px" + (f"\n{titles[i]}" if titles else "")
            ax.set_title(label, fontsize=9)
    fig.suptitle(reader_label(suptitle or "green o: ground truth, x: prediction"), fontsize=9)
    return save_figure(fig, save_path)


def plot_heatmap_stages(image, snapshots: dict, save_path, keypoint_names=KEYPOINT_NAMES):
    """Rows = training epochs, columns = the image then each keypoint's predicted heatmap, on one colour scale."""
    epochs = sorted(snapshots)
    k = len(keypoint_names)
    top = max(1.0, max(float(as_array(snapshots[e]).max()) for e in epochs))
    fig, axes = plt.subplots(len(epochs), k + 1, figsize=(1.9 * (k + 1) + 0.8, 1.9 * len(epochs) + 0.6),
                             squeeze=False, layout="constrained")
    for r, epoch in enumerate(epochs):
        show_image(axes[r, 0], image)
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
    return save_figure(fig, save_path)


def plot_failure_gallery(images, gt, pred_heatmap, pred_regression, heatmaps, keypoint_idx, save_path,
                         titles, suptitle):
    """Rows = cases: the image with GT and both predictions, then the failing keypoint's heatmap."""
    n = len(images)
    fig, axes = plt.subplots(n, 2, figsize=(7.6, 3.2 * n), squeeze=False, layout="constrained")
    for i in range(n):
        ax = axes[i, 0]
        show_image(ax, images[i])
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
    fig.suptitle(suptitle + "\ngreen o: ground truth, yellow ring: failing keypoint\n"
                 "red x: HeatmapNet (hm), blue +: RegressionNet (reg)", fontsize=9)
    return save_figure(fig, save_path)


def plot_image_pairs(top_images, bottom_images, save_path, top_label, bottom_label, top_points=None,
                     bottom_points=None):
    """Two rows of images (e.g. generated vs course data), optional keypoints drawn on each."""
    n = len(top_images)
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4.2), squeeze=False)
    for row, (imgs, pts, label) in enumerate([(top_images, top_points, top_label),
                                              (bottom_images, bottom_points, bottom_label)]):
        for i in range(n):
            show_image(axes[row, i], imgs[i])
            if pts is not None:
                draw_skeleton(axes[row, i], pts[i], COLORS["gt"], names=i == 0)
        axes[row, 0].set_ylabel(label, fontsize=9)
    return save_figure(fig, save_path)


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
        show_image(ax, image)
        ax.axis("on")
        draw_skeleton(ax, gt, COLORS["gt"])
        for i, (model, points) in enumerate(preds.items()):
            color, marker = MODEL_MARKS.get(model, (f"C{i}", "x"))
            ax.scatter(*as_array(points).T, c=color, s=30, marker=marker, linewidths=1.3, zorder=4)
            handles.setdefault(model, plt.Line2D([], [], color=color, marker=marker, ls="", markersize=7))
        ax.set_xlim(-0.5, image.shape[1] - 0.5)
        ax.set_ylim(image.shape[0] - 0.5, -0.5)
        ax.set_title(title, fontsize=9)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("First test image under the strongest setting of each perturbation", fontsize=10)
    return save_figure(fig, save_path)
