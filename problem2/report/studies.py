"""The report's study sections (studies.json): seeds and intervals, label ambiguity, regression variants, cost.
Rendered from JSON only."""
from __future__ import annotations

from problem2.report import mechanism as why
from problem2.report.markdown import T, f2, f3, fig, table

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
    return "\n\n".join([
        "## {§seeds} Seeds, intervals and label ambiguity",
        f"### Seeds {seeds['seeds']} (mean ± standard deviation)",
        table(["method", "hands", *[f"PCK@{t}" for t in T], "mean px"], rows),
        f"Paired bootstrap of the PCK difference, {seeds['bootstrap_note']}:",
        table(["threshold", "heatmap - regression", "95% interval"], boot),
        fig("seeds_pck.png", "PCK over seeds (error bars: standard deviation)"),
    ])


def section_ambiguity(s: dict) -> str:
    a = s["ambiguity"]
    rows = [["ceiling (image only)"] + [f3(a["ceiling"][t]) for t in T]]
    rows += [[METHOD_LABELS[m]] + [f3(a["models"][m]["pck"][t]) for t in T] for m in METHOD_LABELS]
    rows += [["HeatmapNet + two-hand decoder"] + [f3(a["two_hand_decoder"]["standard"]["pck"][t]) for t in T]]
    inv = [[METHOD_LABELS[m]] + [f3(a["models"][m]["pck_swap_invariant"][t]) for t in T] for m in METHOD_LABELS]
    inv += [["HeatmapNet + two-hand decoder"] + [f3(a["two_hand_decoder"]["hand_swap_invariant"]["pck"][t]) for t in T]]
    side = [[METHOD_LABELS[m]] + [f3(a["side_labels"][m]["standard"]["pck"][t]) for t in T]
            + [f2(a["side_labels"][m]["standard"]["mean_px"])] for m in METHOD_LABELS]
    two = a["two_hand_decoder"]["hand_swap_invariant"]["pck"]["0.05"]
    return "\n\n".join([
        "### Label ambiguity",
        f"The images do not say which hand is the left one. Ceiling: {a['ceiling_note']}. Course-label PCK:",
        table(["predictor", *[f"PCK@{t}" for t in T]], rows),
        "Hand-swap-invariant PCK:", table(["predictor", *[f"PCK@{t}" for t in T]], inv),
        f"The two-hand decoder (codec.decode_hand_pair) brings the default heatmap model's hand-swap-invariant "
        f"PCK@0.05 to {f3(two)} (from {f3(a['models']['heatmap_subpixel']['pck_swap_invariant']['0.05'])} with "
        f"sub-pixel argmax per map).",
        "**Both models retrained on the same images with hands named by image side** (scored on side labels):",
        table(["method", *[f"PCK@{t}" for t in T], "mean px"], side),
        fig("ambiguity_ceiling.png", "Course-label PCK against the ceiling set by the ambiguous labels"),
        fig("hand_ambiguity.png", "Regression hands and the heatmap model's two hand maps on the same images"),
    ])


def section_variants(s: dict) -> str:
    v = s["regression_variants"]
    label = lambda r: why.SOFTARGMAX_LABEL if r["run"] == "side_softargmax" else r["label"]  # noqa: E731
    rows = [[label(r)] + [f3(r["pck"][t]) for t in T] + [f2(r["mean_px"])] for r in v["rows"]]
    reached = [label(r) for r in v["rows"] if r["run"].startswith("side_regression_") or r["run"] == "side_softargmax"
               if r["pck"]["0.05"] >= 0.9]
    return "\n\n".join([
        "## {§variants} What makes direct regression fail: one change at a time",
        f"All rows trained with the main protocol on side labels (no label ambiguity) and scored on the "
        f"{v['split']} split with side labels.",
        table(["model", *[f"PCK@{t}" for t in T], "mean px"], rows),
        ("Variants at PCK@0.05 >= 0.9: " + ", ".join(reached) + ".") if reached
        else "No regression variant reaches PCK@0.05 >= 0.9.",
        fig("regression_variants.png", "Regression variants, PCK@0.05 and PCK@0.1"),
    ])


def section_cost(s: dict) -> str:
    c = s["cost"]
    rows = [[r["label"], f"{r['parameters']:,}", f3(r["gflops_per_image"]), f2(r["latency_batch1_ms"]),
             f2(r["latency_batch32_ms"]), f"{r['train_img_per_s']:.0f}"] for r in c["rows"]]
    env = c["environment"]
    return "\n\n".join([
        "## {§cost} Cost",
        f"On {env['device']} ({env['cpu_threads']} threads, precision {c['precision']}, torch {env['torch']}); {c['note']}.",
        table(["model", "parameters", "GFLOPs/image (fwd)", "latency b=1 ms", "latency b=32 ms", "train img/s"], rows),
    ])
