"""The report's section on the heatmap-free heads (heads.json): representation or architecture? Rendered from JSON
only; the answer's sentences are chosen by the numbers and the Holm verdicts, never typed."""
from __future__ import annotations

import statistics

from problem2.core import stats
from problem2.report.markdown import NOT_RUN, f2, f3, fig, table
from problem2.report.references import cite
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


def answer(study: HeadStudy) -> str:
    """The section's opening paragraph: which of the two explains the gap (chosen by the shares below), the best
    head without a decoder against HeatmapNet, and what the decoder adds."""
    best, share = best_head(study), shares(study)
    hm = study.row("heatmap")
    if best is None or not share or not hm.scores["side"]:
        return "(the heads' runs are not all scored yet: see the missing runs below)"
    by_key = {r.key: r for r in study.rows}
    best_spatial = best_by_share(study, share, "spatial")
    best_pooled = best_by_share(study, share, "global pooling", "distribution")
    s_spatial = share[best_spatial] if best_spatial else 0.0
    s_pooled = share[best_pooled] if best_pooled else 0.0
    lead = ("**The architecture, in one place: whether the features keep where things are.**" if s_spatial >= 0.8
            and s_pooled < 0.3 else "**The representation.**" if s_pooled >= 0.8 else "**Both, in part.**")
    gap_hm = mean(hm.scores["side"]) - mean(best.scores["side"])
    parts = [lead,
             f"On RegressionNet's own encoder, with no decoder, {best.label} reaches PCK@0.05 "
             f"{f3(mean(best.scores['side']))} on side labels, {f3(gap_hm)} from HeatmapNet's "
             f"{f3(mean(hm.scores['side']))} (course labels, hand-swap-invariant: "
             f"{f3(mean(best.scores['course_swap']))} against {f3(mean(hm.scores['course_swap']))})."]
    if best_spatial and best_pooled:
        parts.append(
            f"Of the gap between the specified RegressionNet and HeatmapNet on side labels, keeping the encoder's "
            f"8 x 8 map instead of pooling it closes {stats.percent(share[best_spatial])} ({by_key[best_spatial].label}); a "
            f"distribution or likelihood loss on the pooled features closes at most {stats.percent(share[best_pooled])} "
            f"({by_key[best_pooled].label}).")
    decoder = {(c.a, c.b, c.labels): c for c in study.contrasts}.get(("heatmap", "simcc", "side"))
    if decoder:
        parts.append(
            f"The decoder and its 64 x 64 maps add {f3(decoder.diff)} [{f3(decoder.low)}, {f3(decoder.high)}] over "
            f"SimCC on spatial features, {stats.noise_words(decoder, study.n_seeds())} after Holm's correction.")
    if best.swapmin and best.scores["course_swap"]:
        parts.append(
            f"Trained with the swap-min loss, {best.label} reaches {f3(best.swapmin['course_swap'])} hand-swap-invariant "
            f"on the course labels (seed 0; {f3(best.scores['course_swap'][0])} without).")
    return " ".join(parts)


def section_heads(study: HeadStudy | None, axis_sentence: str = "") -> tuple[str, str]:
    """(the main section: the answer, the table, the figure; its appendix: contrasts, swap-min loss, speed)."""
    if study is None:
        return "## {§heads} Representation or architecture?\n\n" + NOT_RUN, ""
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
    missing = sorted({m for r in study.rows for m in r.missing})
    best = best_head(study)
    hm = study.row("heatmap")
    goal = (best is not None and hm.scores["side"] and best.gflops_forward <= GOAL_GFLOPS
            and all(mean(hm.scores[k]) - mean(best.scores[k]) <= GOAL_MARGIN for k in ("side", "course_swap")))
    main = "\n\n".join(p for p in [
        "## {§heads} Representation or architecture?",
        answer(study),
        axis_sentence,
        f"Mean ± sd over {n_seeds} seeds unless marked ({study.split} split). Every row but HeatmapNet's uses "
        f"RegressionNet's encoder (Integral {cite('sun2018')}, SimCC {cite('li2022')}, RLE {cite('li2021')}); "
        f"the loss is on a predicted distribution or map (KL, Laplace likelihood, MSE to Gaussian maps) or on the "
        f"coordinates (MSE on (x, y) / 128).",
        table(header, rows),
        fig("heads_accuracy_flops.png", "Every model's PCK@0.05 by its forward GFLOPs (mean ± sd over seeds)"),
        "Each single change tested over seeds, the hand-swap-min loss and the speed: appendix {§heads_details}.",
    ] if p)
    details = "\n\n".join(p for p in [
        "## {§heads_details} Representation or architecture, in full",
        (f"The goal (a head without a decoder within {GOAL_MARGIN} of HeatmapNet on side labels and on the course "
         f"labels hand-swap-invariant, at <= {GOAL_GFLOPS} GFLOPs): "
         + ("met by " + best.label + "." if goal else "not met; the closest is " + (best.label if best else "-") + ".")),
        f"**Does each change matter beyond seed noise?** {study.note}.",
        table(["change", "labels", "difference [95% interval]", "p", "beyond noise"], contrasts),
        "**Training with the hand-swap-min loss** (per image, the smaller loss of the two hand assignments; seed 0, "
        "course labels), against the same model trained without it (seed 0):" if swap else "",
        table(["model", "swap-min: course labels", "swap-min: swap-invariant", "plain: course labels",
               "plain: swap-invariant"], swap)
        if swap else "",
        f"Speed: training images per second at batch 32, {env.get('cpu', env.get('machine'))}, "
        f"{env.get('torch_threads')} torch threads, 1-min load average {env.get('load_average_1min', 0):.1f} when "
        f"measured; compare rows, not machines.",
        ("Runs not scored (neither stored predictions nor a checkpoint): " + ", ".join(missing) + ".") if missing else "",
    ] if p)
    return main, details
