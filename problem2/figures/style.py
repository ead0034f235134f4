"""What every figure shares: colours, keypoint names, the skeleton, saving (with the legibility check tests hook into),
and the check itself (no text under 9 pt, no two texts overlapping). Keypoints are (x, y) in image pixels.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import patheffects

from problem2.core import storage
from problem2.core.metrics import as_array
from problem2.core.schema import SKELETON

SHORT_NAMES = ["head", "L hand", "R hand", "L foot", "R foot"]
READER_WORDS = (("heatmap_subpixel", "HeatmapNet, sub-pixel"), ("heatmap", "HeatmapNet"), ("regression", "RegressionNet"),
                ("subpixel", "sub-pixel"), ("swap-inv.", "swap-invariant"))


def reader_label(label: str) -> str:
    """A series label as the report names it: model names for the code's 'heatmap' and 'regression', 'sub-pixel'
    for 'subpixel' (labels already in the reader's words pass unchanged)."""
    for code, words in READER_WORDS:
        if code in label and words not in label:
            label = label.replace(code, words)
    return label
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


def save_figure(fig, save_path) -> Path:
    save_path = Path(save_path)
    storage.check_writable(save_path)
    for check in BEFORE_SAVE:
        check(fig, save_path)
    save_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(save_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    storage.traced("write", save_path)
    return save_path


def show_image(ax, image):
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
                        va="center", path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])


def name_offset(points, k: int) -> tuple:
    """(dx, dy, ha) in points for keypoint k's name: the head's above it, a limb end's on its outer side (the one
    further from its pair's other end), so that the names of two close hands or feet do not overprint."""
    if k == 0:
        return 0, 15, "center"  # above the head circle (radius 8 image px)
    pair = {1: 2, 2: 1, 3: 4, 4: 3}[k] if len(points) == len(SHORT_NAMES) else k
    outer_left = points[k][0] < points[pair][0] or (points[k][0] == points[pair][0] and k in (1, 3))
    dy = -7 if k >= 3 else 0
    return (-6, dy, "right") if outer_left else (6, dy, "left")


MODEL_STYLE = {"HeatmapNet": (COLORS["heatmap"], 1.0), "RegressionNet": (COLORS["regression"], 1.0),
               "HeatmapNet augmented": (COLORS["heatmap"], 0.45), "RegressionNet augmented": (COLORS["regression"], 0.45),
               "HeatmapNet augmented, aimed cutout": (COLORS["aimed"], 1.0)}
# on an image, where translucent marks vanish over the strokes: an opaque hue and a marker of its own per model
MODEL_MARKS = {"HeatmapNet": (COLORS["heatmap"], "x"), "RegressionNet": (COLORS["regression"], "x"),
               "HeatmapNet augmented": ("#f46d43", "+"), "RegressionNet augmented": ("#e7298a", "+"),
               "HeatmapNet augmented, aimed cutout": (COLORS["aimed"], "1")}
