"""The gap between two models as a waterfall: where one starts, each cause's part (with its interval), where the
other ends. Drawn from factorial.json (studies/factorial.py).
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from problem2.figures.style import COLORS, save_figure


def draw_waterfall(ax, start: dict, parts: dict, end: dict, ylabel: str, names: tuple = ("RegressionNet", "HeatmapNet")):
    """One panel. start, end: {'estimate', 'low', 'high'} of the two models' levels; parts: {label: interval with
    'share'}, in drawing order, each a step from the level before; a step's whisker is its own interval, drawn at
    the level it reaches. A step towards `end` is green, one away from it red; its label is its share of the gap."""
    labels = [names[0], *parts, names[1]]
    level = start["estimate"]
    ax.bar(0, level, color=COLORS["regression"], width=0.6)
    ax.errorbar(0, level, yerr=[[level - start["low"]], [start["high"] - level]], color="k", capsize=3, lw=1)
    for i, (label, part) in enumerate(parts.items(), 1):
        step = part["estimate"]
        towards = (step >= 0) == (end["estimate"] >= start["estimate"])
        colour = COLORS["gt"] if towards else COLORS["heatmap"]
        ax.bar(i, step, bottom=level, color=colour, width=0.6, alpha=0.85)
        top = level + step
        ax.errorbar(i, top, yerr=[[step - part["low"]], [part["high"] - step]], color="k", capsize=3, lw=1)
        share = part.get("share")
        if share is not None:
            above = max(level, level + part["high"])  # over the bar and its whisker, so that neither hides it
            ax.annotate(f"{100 * share['estimate']:.0f}%".replace("-0%", "0%"), (i, above), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=9)
        ax.plot([i - 0.3, i + 1.3], [top, top], color="gray", lw=0.6, ls=":")
        level = top
    n = len(parts) + 1
    ax.bar(n, end["estimate"], color=COLORS["subpixel"], width=0.6)
    ax.errorbar(n, end["estimate"], yerr=[[end["estimate"] - end["low"]], [end["high"] - end["estimate"]]],
                color="k", capsize=3, lw=1)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=9)
    ax.set_ylabel(ylabel)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.06 * (high - low))  # room for the labels of the highest steps


def plot_decomposition(panels: list, save_path, title: str):
    """panels: [(start, parts, end, ylabel)] side by side (see draw_waterfall)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, (start, parts, end, ylabel) in zip(axes[0], panels):
        draw_waterfall(ax, start, parts, end, ylabel)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, save_path)
