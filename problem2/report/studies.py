"""The report's study sections (studies.json): seeds and intervals, label ambiguity, regression variants, cost.
This module builds their tables; the prose is in templates/seeds.md, ambiguity.md, variants.md and cost.md."""
from __future__ import annotations

from problem2.report import mechanism as why
from problem2.report.markdown import T, f2, f3, fig, render, table

METHOD_LABELS = {"regression": "RegressionNet", "heatmap_argmax": "HeatmapNet + argmax",
                 "heatmap_subpixel": "HeatmapNet + sub-pixel"}


def section_seeds(s: dict) -> str:
    seeds = s["seeds"]
    rows = []
    for mth in METHOD_LABELS:
        for kind in ("standard", "hand_swap_invariant"):
            r = seeds["summary"][mth][kind]
            rows.append([METHOD_LABELS[mth], kind.replace("_", " ")]
                        + [f"{f3(r[f'pck@{t}'][0])} ± {f3(r[f'pck@{t}'][1])}" for t in T]
                        + [f"{f2(r['mean_px'][0])} ± {f2(r['mean_px'][1])}"])
    boot = [[t, f3(b["diff"]), f"[{f3(b['low'])}, {f3(b['high'])}]"] for t, b in seeds["bootstrap"].items()]
    return render("seeds", seeds=seeds["seeds"], bootstrap_note=seeds["bootstrap_note"],
                  table=table(["method", "hands", *[f"PCK@{t}" for t in T], "mean px"], rows),
                  bootstrap_table=table(["threshold", "heatmap - regression", "95% interval"], boot),
                  figure=fig("seeds_pck.png", "PCK over seeds (error bars: standard deviation)"))


def section_ambiguity(s: dict) -> str:
    a = s["ambiguity"]
    rows = [["ceiling (image only)"] + [f3(a["ceiling"][t]) for t in T]]
    rows += [[METHOD_LABELS[m]] + [f3(a["models"][m]["pck"][t]) for t in T] for m in METHOD_LABELS]
    rows += [["HeatmapNet + two-hand decoder"] + [f3(a["two_hand_decoder"]["standard"]["pck"][t]) for t in T]]
    inv = [[METHOD_LABELS[m]] + [f3(a["models"][m]["pck_swap_invariant"][t]) for t in T] for m in METHOD_LABELS]
    inv += [["HeatmapNet + two-hand decoder"] + [f3(a["two_hand_decoder"]["hand_swap_invariant"]["pck"][t]) for t in T]]
    side = [[METHOD_LABELS[m]] + [f3(a["side_labels"][m]["standard"]["pck"][t]) for t in T]
            + [f2(a["side_labels"][m]["standard"]["mean_px"])] for m in METHOD_LABELS]
    return render("ambiguity", ceiling_note=a["ceiling_note"],
                  course_table=table(["predictor", *[f"PCK@{t}" for t in T]], rows),
                  swap_table=table(["predictor", *[f"PCK@{t}" for t in T]], inv),
                  two_hand=a["two_hand_decoder"]["hand_swap_invariant"]["pck"]["0.05"],
                  one_hand=a["models"]["heatmap_subpixel"]["pck_swap_invariant"]["0.05"],
                  side_table=table(["method", *[f"PCK@{t}" for t in T], "mean px"], side),
                  ceiling_figure=fig("ambiguity_ceiling.png",
                                     "Course-label PCK against the ceiling set by the ambiguous labels"),
                  hands_figure=fig("hand_ambiguity.png",
                                   "Regression hands and the heatmap model's two hand maps on the same images"))


def section_variants(s: dict) -> str:
    v = s["regression_variants"]
    label = lambda r: why.SOFTARGMAX_LABEL if r["run"] == "side_softargmax" else r["label"]  # noqa: E731
    rows = [[label(r)] + [f3(r["pck"][t]) for t in T] + [f2(r["mean_px"])] for r in v["rows"]]
    reached = [label(r) for r in v["rows"] if r["run"].startswith("side_regression_") or r["run"] == "side_softargmax"
               if r["pck"]["0.05"] >= 0.9]
    return render("variants", split=v["split"], table=table(["model", *[f"PCK@{t}" for t in T], "mean px"], rows),
                  reached=reached, figure=fig("regression_variants.png", "Regression variants, PCK@0.05 and PCK@0.1"))


def section_cost(s: dict) -> str:
    c = s["cost"]
    rows = [[r["label"], f"{r['parameters']:,}", f3(r["gflops_per_image"]), f2(r["latency_batch1_ms"]),
             f2(r["latency_batch32_ms"]), f"{r['train_img_per_s']:.0f}"] for r in c["rows"]]
    return render("cost", env=c["environment"], precision=c["precision"], note=c["note"],
                  table=table(["model", "parameters", "GFLOPs/image (fwd)", "latency b=1 ms", "latency b=32 ms",
                               "train img/s"], rows))
