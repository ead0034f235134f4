"""The report's section on the heatmap-free heads (heads.json): representation or architecture? This module computes
the numbers, the shares of the gap and the verdicts (the answer's sentences are chosen by them, never typed); the
prose is in templates/heads.md and heads_details.md."""
from __future__ import annotations

import statistics

from problem2.core import stats
from problem2.report.markdown import NOT_RUN, f2, f3, fig, render, table
from problem2.studies.heads import HeadStudy

LABEL_SETS = {"side": "side labels", "course_swap": "course labels, hand-swap-invariant",
              "course": "course labels"}
GOAL_MARGIN, GOAL_GFLOPS = 0.05, 0.55  # the goal: within 0.05 of HeatmapNet at <= 0.55 GFLOPs


def mean(values: list) -> float | None:
    return statistics.fmean(values) if values else None


def cell(values: list, n_seeds: int) -> str:
    """'mean ± sd' over seeds, marked when fewer than the study's n_seeds; '-' for none."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{f3(values[0])} (one seed)"
    return f"{f3(statistics.fmean(values))} ± {f3(statistics.stdev(values))}" + (
        "" if len(values) == n_seeds else f" (n={len(values)})")


def shares(study: HeadStudy, labels: str = "side") -> dict:
    """{row key: fraction of the HeatmapNet - RegressionNet gap that the row closes} on one label set."""
    low, high = mean(study.row("regression").scores[labels]), mean(study.row("heatmap").scores[labels])
    if low is None or high is None or high == low:
        return {}
    return {r.key: (mean(r.scores[labels]) - low) / (high - low) for r in study.rows if r.scores[labels]}


def best_head(study: HeadStudy, labels: str = "side"):
    """The row without a decoder (the specified models aside) with the highest mean PCK on `labels`."""
    heads = [r for r in study.rows if not r.decoder and r.key not in ("regression", "regression_nodropout")
             and r.scores[labels]]
    return max(heads, key=lambda r: mean(r.scores[labels])) if heads else None


def best_by_share(study: HeadStudy, share: dict, features: str, loss: str | None = None) -> str | None:
    """The key of the row without a decoder, on `features` (and with `loss`, if given), that closes the largest
    share of the gap (share: shares(study)); None when there is none."""
    by_key = {r.key: r for r in study.rows}
    keys = [k for k in share if by_key[k].features == features and not by_key[k].decoder
            and loss in (None, by_key[k].loss)]
    return max(keys, key=share.get) if keys else None


def answer(study: HeadStudy) -> dict:
    """The numbers of the section's opening paragraph: which of the two explains the gap (lead, chosen by the shares
    of the gap that the best spatial head and the best distribution loss on pooled features close), the best head
    without a decoder against HeatmapNet, and what the decoder adds ({'scored': False} until the runs are scored)."""
    best, share = best_head(study), shares(study)
    hm = study.row("heatmap")
    if best is None or not share or not hm.scores["side"]:
        return {"scored": False}
    by_key = {r.key: r for r in study.rows}
    best_spatial = best_by_share(study, share, "spatial")
    best_pooled = best_by_share(study, share, "global pooling", "distribution")
    s_spatial = share[best_spatial] if best_spatial else 0.0
    s_pooled = share[best_pooled] if best_pooled else 0.0
    decoder = {(c.a, c.b, c.labels): c for c in study.contrasts}.get(("heatmap", "simcc", "side"))
    scores = lambda r: {"label": r.label, "side": mean(r.scores["side"]),  # noqa: E731
                        "course_swap": mean(r.scores["course_swap"])}
    return {"scored": True, "best": scores(best), "hm": scores(hm),
            "lead": "architecture" if s_spatial >= 0.8 and s_pooled < 0.3 else
                    "representation" if s_pooled >= 0.8 else "both",
            "shares": best_spatial and best_pooled and {
                "spatial": share[best_spatial], "spatial_label": by_key[best_spatial].label,
                "pooled": share[best_pooled], "pooled_label": by_key[best_pooled].label},
            "decoder": decoder and {"diff": decoder.diff, "low": decoder.low, "high": decoder.high,
                                    "words": stats.noise_words(decoder, study.n_seeds())},
            "swapmin": bool(best.swapmin and best.scores["course_swap"]) and {
                "with": best.swapmin["course_swap"], "without": best.scores["course_swap"][0]}}


def section_heads(study: HeadStudy | None, axis_sentence: str = "",
                  pooled_cells: dict | None = None) -> tuple[str, str]:
    """(the main section: the answer, the table, the figure; its appendix: contrasts, swap-min loss, speed), from
    templates/heads.md and heads_details.md."""
    if study is None:
        return render("heads", run=False, not_run=NOT_RUN), ""
    n_seeds = study.n_seeds()
    header = ["model", "features", "loss", "decoder", "PCK@0.05 side labels", "course, swap-invariant",
              "course labels", "GFLOPs fwd", "train img/s"]
    rows = [[r.label, r.features, r.loss, "yes" if r.decoder else "no", cell(r.scores["side"], n_seeds),
             cell(r.scores["course_swap"], n_seeds), cell(r.scores["course"], n_seeds), f2(r.gflops_forward),
             "-" if r.train_img_per_s is None else f"{r.train_img_per_s:.0f}"] for r in study.rows]
    contrasts = [[c.question, LABEL_SETS[c.labels], f"{f3(c.diff)} [{f3(c.low)}, {f3(c.high)}]", f"{c.p:.2g}",
                  "yes" if c.beyond_noise else "no"] for c in study.contrasts]
    swap = [[r.label, f3(r.swapmin["course"]), f3(r.swapmin["course_swap"]),
             f3(r.scores["course"][0]) if r.scores["course"] else "-",
             f3(r.scores["course_swap"][0]) if r.scores["course_swap"] else "-"] for r in study.rows if r.swapmin]
    env = study.environment
    best = best_head(study)
    hm = study.row("heatmap")
    goal = (best is not None and hm.scores["side"] and best.gflops_forward <= GOAL_GFLOPS
            and all(mean(hm.scores[k]) - mean(best.scores[k]) <= GOAL_MARGIN for k in ("side", "course_swap")))
    main = render("heads", run=True, **answer(study), axis_sentence=axis_sentence, pooled_cells=pooled_cells,
                  n_seeds=n_seeds,
                  split=study.split, table=table(header, rows),
                  figure=fig("heads_accuracy_flops.png",
                             "Every model's PCK@0.05 by its forward GFLOPs (mean ± sd over seeds)"))
    details = render("heads_details", goal_margin=GOAL_MARGIN, goal_gflops=GOAL_GFLOPS, goal_met=bool(goal),
                     best_label=best.label if best else "-", note=study.note,
                     contrasts=table(["change", "labels", "difference [95% interval]", "p", "beyond noise"], contrasts),
                     swapmin=swap and table(["model", "swap-min: course labels", "swap-min: swap-invariant",
                                             "plain: course labels", "plain: swap-invariant"], swap),
                     cpu=env.get("cpu", env.get("machine")), threads=env.get("torch_threads"),
                     load=env.get("load_average_1min", 0),
                     missing=sorted({m for r in study.rows for m in r.missing}))
    return main, details
