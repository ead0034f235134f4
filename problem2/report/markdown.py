"""Markdown pieces of the report: number formats, tables, figures (one owner, so every table looks alike)."""
from __future__ import annotations

from problem2.core.metrics import ASSIGNMENT_KEYS

T = list(ASSIGNMENT_KEYS)  # result keys of the assignment's thresholds


def f1(v) -> str:
    return f"{v:.1f}"


def f2(v) -> str:
    return f"{v:.2f}"


def f3(v) -> str:
    return f"{v:.3f}"


def mean_sd(summary: list, fmt=f3, with_n: bool = False) -> str:
    """'mean ± sd' (and ' (n=k)') of a [mean, sd, n seeds] summary; '-' when no seed has it."""
    mean, sd, n = summary
    return "-" if not n else f"{fmt(mean)} ± {fmt(sd)}" + (f" (n={n})" if with_n else "")


def table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fig(name: str, caption: str) -> str:
    return f"![{caption}](visualizations/{name})\n\n*{caption}*"
