"""The report's learning-curve section (data_efficiency.json): both models against training-set size, the step
control, and what the curves say. Rendered from JSON only.
"""
from __future__ import annotations

from problem2.report.markdown import f1, f3, fig, mean_sd, render, table


def section_data_efficiency(result, probe_x_px: float | None = None, ceiling: float | None = None,
                            dropout_section: str = "{§mechanism}") -> str:
    """The learning-curve appendix from data_efficiency.json (studies.data_efficiency.DataEfficiency); probe_x_px: the
    linear probe's x error on the main RegressionNet's pooled features (diagnosis.json); ceiling: the best labelled
    PCK@0.05 an image-only model can expect (studies.json); dropout_section: the section that measures what
    dropout costs. Prose: templates/data_efficiency.md."""
    if result is None or not any(p.summary["pck@0.05"][2] for p in result.points):
        return render("data_efficiency", trained=[])
    sizes = sorted({p.train_images for p in result.points})
    by = {(p.model, p.train_images): p for p in result.points}
    rows = [[n] + [mean_sd(by[(m, n)].summary[k], f1 if k.endswith("px") else f3, with_n=True)
                   for m in ("heatmap", "regression") for k in ("pck@0.05", "x_abs_px", "y_abs_px")] for n in sizes]
    header = ["training images"] + [f"{m} {k}" for m in ("HeatmapNet", "RegressionNet")
                                     for k in ("PCK@0.05", "|x| px", "|y| px")]
    trained = [n for n in sizes if any(by[(m, n)].summary["pck@0.05"][2] for m in ("heatmap", "regression"))]
    return render("data_efficiency", trained=trained, dropout_section=dropout_section, seeds=result.seeds,
                  split=result.split, n_images=result.n_images, table=table(header, rows),
                  figure=fig("learning_curves.png", "PCK@0.05 and per-axis error against the number of training images"),
                  ceiling=ceiling, **curve_findings(result, probe_x_px))


def point(p) -> dict:
    """A curve point's numbers: {n: training images, pck: PCK@0.05, x, y: mean |error| px per axis}."""
    return {"n": p.train_images, "pck": p.summary["pck@0.05"][0], "x": p.summary["x_abs_px"][0],
            "y": p.summary["y_abs_px"][0]}


def curve_findings(result, probe_x_px: float | None = None) -> dict:
    """Does regression catch up with more data, and is its limit in the data or in the architecture? The numbers and
    verdicts of the template's findings ({'curves': False} until both curves have two trained sizes)."""
    trained = lambda model: [p for p in result.curve(model) if p.summary["pck@0.05"][2]]  # noqa: E731
    hm, reg = trained("heatmap"), trained("regression")
    if len(hm) < 2 or len(reg) < 2:
        return {"curves": False}
    first, last = point(reg[0]), point(reg[-1])
    best_reg = point(max(reg, key=lambda p: p.summary["pck@0.05"][0]))
    enough = [point(p) for p in hm if p.summary["pck@0.05"][0] > best_reg["pck"]]
    x_gain, y_gain = first["x"] - last["x"], first["y"] - last["y"]
    prev = point(reg[-2])
    levelled = abs(prev["x"] - last["x"]) < 0.5
    return {"curves": True, "reg": {"first": first, "last": last, "best": best_reg},
            "hm": {"first": point(hm[0]), "last": point(hm[-1])}, "enough": enough[0] if enough else None,
            "plateau": heatmap_plateau(hm), "controls": step_controls(result, reg),
            "architecture_limit": x_gain < 0.5 * max(y_gain, 1e-9),
            "levelled": {"from_n": prev["n"], "change": abs(prev["x"] - last["x"]),
                         "direction": "lowers" if prev["x"] >= last["x"] else "raises"} if levelled else None,
            "probe": probe_reach(result, reg, probe_x_px)}


def heatmap_plateau(hm: list) -> dict | None:
    """Where HeatmapNet's PCK@0.05 stops rising (within 0.015 of its best); None when only the last size reaches it."""
    pck = lambda p: p.summary["pck@0.05"][0]  # noqa: E731
    flat = next(p for p in hm if pck(p) >= max(map(pck, hm)) - 0.015)
    return None if flat is hm[-1] else point(flat)


def step_controls(result, reg: list) -> dict | None:
    """More images, or the optimiser steps they bring? Each step control beside the curve point whose steps it
    matches, and the share of that point's x gain the steps alone give; None without a finished control."""
    at = {p.train_images: p for p in reg}
    controls = [c for c in result.step_controls
                if c.summary["pck@0.05"][2] and c.steps_of in at and c.train_images in at]
    if not controls:
        return None
    rows, shares = [], {}
    for c in controls:
        base, big = at[c.train_images].summary, at[c.steps_of].summary
        rows.append({"epochs": c.epochs, "x": c.summary["x_abs_px"][0], "pck": c.summary["pck@0.05"][0],
                     "steps_of": c.steps_of, "big": {"x": big["x_abs_px"][0], "pck": big["pck@0.05"][0]}})
        gain = base["x_abs_px"][0] - big["x_abs_px"][0]
        if gain > 0:
            shares[c.steps_of] = (base["x_abs_px"][0] - c.summary["x_abs_px"][0]) / gain
    return {"images": controls[0].train_images, "base": point(at[controls[0].train_images]), "rows": rows,
            "shares": [(n, f"{100 * v:.0f}") for n, v in shares.items()],
            "mostly_steps": min(shares.values(), default=0) > 0.5}


def probe_reach(result, reg: list, probe_x_px: float | None) -> dict | None:
    """RegressionNet's best x error over the curve and the step controls, against the linear probe's x error on the
    main model's pooled features (what global pooling leaves of x); None without the probe."""
    if probe_x_px is None:
        return None
    best = min(reg + [c for c in result.step_controls if c.summary["x_abs_px"][2]],
               key=lambda p: p.summary["x_abs_px"][0])
    return {"x": probe_x_px, "best_x": best.summary["x_abs_px"][0],
            "how": f"{best.train_images} images" + (f", {best.epochs} epochs" if best.epochs else ""),
            "above_probe": best.summary["x_abs_px"][0] >= probe_x_px - 0.5}


def curve_sentence(result) -> str:
    """The README's line on the learning curves (templates/data_efficiency_readme.md): the smallest HeatmapNet set
    against regression's best, and regression's x error over the curve; '' until both curves have two trained sizes."""
    trained = lambda model: [p for p in result.curve(model) if p.summary["pck@0.05"][2]]  # noqa: E731
    hm, reg = trained("heatmap"), trained("regression")
    if len(hm) < 2 or len(reg) < 2:
        return ""
    return render("data_efficiency_readme", seeds=result.seeds,
                  hm={"first": point(hm[0]), "last": point(hm[-1])},
                  reg={"first": point(reg[0]), "last": point(reg[-1]),
                       "best": point(max(reg, key=lambda p: p.summary["pck@0.05"][0]))})
