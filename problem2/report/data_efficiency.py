"""The report's learning-curve section (data_efficiency.json): both models against training-set size, the step
control, and what the curves say. Rendered from JSON only.
"""
from __future__ import annotations

from problem2.report.markdown import f1, f2, f3, fig, mean_sd, table


def section_data_efficiency(result, probe_x_px: float | None = None, ceiling: float | None = None) -> str:
    """The learning-curve appendix from data_efficiency.json (results.DataEfficiency); probe_x_px: the linear probe's x error on
    the main RegressionNet's pooled features (diagnosis.json); ceiling: the best labelled PCK@0.05 an image-only
    model can expect (studies.json)."""
    title = "## {§data_efficiency} How much data each approach needs"
    if result is None or not any(p.summary["pck@0.05"][2] for p in result.points):
        return f"{title}\n\n(no learning-curve run finished yet)"
    sizes = sorted({p.train_images for p in result.points})
    by = {(p.model, p.train_images): p for p in result.points}
    rows = [[n] + [mean_sd(by[(m, n)].summary[k], f1 if k.endswith("px") else f3, with_n=True)
                   for m in ("heatmap", "regression") for k in ("pck@0.05", "x_abs_px", "y_abs_px")] for n in sizes]
    header = ["training images"] + [f"{m} {k}" for m in ("HeatmapNet", "RegressionNet")
                                     for k in ("PCK@0.05", "|x| px", "|y| px")]
    return "\n\n".join(p for p in [
        title,
        f"Both models under the main protocol on the first N images of one nested training pool (the split's 1000, "
        f"then generated ones), seeds {result.seeds}, scored on the same {result.split} split ({result.n_images} "
        "images). Epochs are fixed, so fewer images also means fewer optimiser steps. |x|, |y|: mean absolute error "
        "of head and feet per axis.",
        table(header, rows), "\n".join(curve_findings(result, probe_x_px, ceiling)) or
        f"Trained so far: {', '.join(str(n) for n in sizes if any(by[(m, n)].summary['pck@0.05'][2] for m in ('heatmap', 'regression')))} "
        "images; the other sizes are planned runs of `python -m problem2 all` (\"-\": not trained yet).",
        fig("learning_curves.png", "PCK@0.05 and per-axis error against the number of training images"),
    ] if p)


def curve_findings(result, probe_x_px: float | None = None, ceiling: float | None = None) -> list:
    """Does regression catch up with more data, and is its limit in the data or in the architecture?"""
    trained = lambda model: [p for p in result.curve(model) if p.summary["pck@0.05"][2]]  # noqa: E731
    hm, reg = trained("heatmap"), trained("regression")
    if len(hm) < 2 or len(reg) < 2:
        return []
    first, last = reg[0], reg[-1]
    out = [f"- **Regression with {last.train_images} images** reaches PCK@0.05 {f3(last.summary['pck@0.05'][0])} "
           f"(from {f3(first.summary['pck@0.05'][0])} with {first.train_images}); its x error goes "
           f"{f1(first.summary['x_abs_px'][0])} -> {f1(last.summary['x_abs_px'][0])} px and its y error "
           f"{f1(first.summary['y_abs_px'][0])} -> {f1(last.summary['y_abs_px'][0])} px. HeatmapNet reaches "
           f"{f3(hm[0].summary['pck@0.05'][0])} with {hm[0].train_images} images and "
           f"{f3(hm[-1].summary['pck@0.05'][0])} with {hm[-1].train_images}."]
    best_reg = max(reg, key=lambda p: p.summary["pck@0.05"][0])
    enough = [p for p in hm if p.summary["pck@0.05"][0] > best_reg.summary["pck@0.05"][0]]
    if enough:
        out.append(f"- **HeatmapNet with {enough[0].train_images} images** ({f3(enough[0].summary['pck@0.05'][0])}) "
                   f"already beats RegressionNet's best, with {best_reg.train_images} images "
                   f"({f3(best_reg.summary['pck@0.05'][0])}).")
    out += heatmap_plateau(hm, ceiling)
    out += step_control_findings(result, reg)
    x_gain = first.summary["x_abs_px"][0] - last.summary["x_abs_px"][0]
    y_gain = first.summary["y_abs_px"][0] - last.summary["y_abs_px"][0]
    if x_gain < 0.5 * max(y_gain, 1e-9):
        out.append("- **The limit is the architecture, not the data.** More images improve RegressionNet's y far "
                   "more than its x: global average pooling discards where features are (section {§mechanism}), and no amount "
                   "of data puts that back.")
    else:
        prev = reg[-2].summary["x_abs_px"][0]
        levelled = abs(prev - last.summary["x_abs_px"][0]) < 0.5
        out.append("- **More data moves both axes of RegressionNet**: its x error falls with the set size, so part "
                   "of its deficit is data" + (
                       f", up to a point: the last doubling ({reg[-2].train_images} -> {last.train_images} images) "
                       f"{'lowers' if prev >= last.summary['x_abs_px'][0] else 'raises'} it by "
                       f"{abs(prev - last.summary['x_abs_px'][0]):.1f} px only, so x levels off near "
                       f"{f1(last.summary['x_abs_px'][0])} px" if levelled else "")
                   + "; the heatmap model needs far fewer images for the same error.")
    if probe_x_px is not None:
        best = min(reg + [c for c in result.step_controls if c.summary["x_abs_px"][2]],
                   key=lambda p: p.summary["x_abs_px"][0])
        how = f"{best.train_images} images" + (f", {best.epochs} epochs" if best.epochs else "")
        out.append(f"- **Where it should stop.** A linear probe reads x from the main RegressionNet's pooled features "
                   f"to {f1(probe_x_px)} px (section {{§mechanism}}): that is the x signal the zero-padded border leaks through "
                   f"global pooling. RegressionNet's best x error here is {f1(best.summary['x_abs_px'][0])} px ({how}): "
                   + ("more images and more steps let its head pick up that weak signal, and should not take it far "
                      "below what pooling leaves; HeatmapNet, which never pools position away, is at "
                      f"{f1(hm[-1].summary['x_abs_px'][0])} px." if best.summary["x_abs_px"][0] >= probe_x_px - 0.5 else
                      "below the probe of the main model's features, so longer or larger training also changed "
                      "the features, not only the head."))
    return out


def heatmap_plateau(hm: list, ceiling: float | None) -> list:
    """Where HeatmapNet's PCK@0.05 stops rising (within 0.015 of its best), and what more images still buy."""
    pck = lambda p: p.summary["pck@0.05"][0]  # noqa: E731
    x = lambda p: f2(p.summary["x_abs_px"][0])  # noqa: E731
    flat = next(p for p in hm if pck(p) >= max(map(pck, hm)) - 0.015)
    if flat is hm[-1]:
        return []
    limit = (f", close to the {f3(ceiling)} that the ambiguous hand labels leave an image-only model (section {{§seeds}})"
             if ceiling is not None else "")
    return [f"- **HeatmapNet levels off at {flat.train_images} images**: PCK@0.05 {f3(pck(flat))} there and "
            f"{f3(pck(hm[-1]))} with {hm[-1].train_images}{limit}; more images still sharpen it (head and feet x error "
            f"{x(flat)} -> {x(hm[-1])} px), below what PCK@0.05 can see."]


def step_control_findings(result, reg: list) -> list:
    """More images, or the optimiser steps they bring? The step controls against the curve's points, in one
    bullet: each control's x error and PCK@0.05 beside those of the images whose steps it matches."""
    at = {p.train_images: p for p in reg}
    controls = [c for c in result.step_controls
                if c.summary["pck@0.05"][2] and c.steps_of in at and c.train_images in at]
    if not controls:
        return []
    parts, shares = [], {}
    for c in controls:
        base, big, own = at[c.train_images].summary, at[c.steps_of].summary, c.summary
        parts.append(f"{c.epochs} epochs: x error {f1(own['x_abs_px'][0])} px and PCK@0.05 {f3(own['pck@0.05'][0])}, "
                     f"against {f1(big['x_abs_px'][0])} px and {f3(big['pck@0.05'][0])} with {c.steps_of} images")
        gain = base["x_abs_px"][0] - big["x_abs_px"][0]
        if gain > 0:
            shares[c.steps_of] = (base["x_abs_px"][0] - own["x_abs_px"][0]) / gain
    base = at[controls[0].train_images].summary
    verdict = ("most of it is longer training, and new images add the rest" if min(shares.values(), default=0) > 0.5
               else "new images give more than the steps they bring")
    return [f"- **More images, or more steps?** RegressionNet on its {controls[0].train_images} images for more "
            f"epochs, as many optimiser steps as a larger set gives (from x error {f1(base['x_abs_px'][0])} px, "
            f"PCK@0.05 {f3(base['pck@0.05'][0])}): " + "; ".join(parts) + "."
            + (" The steps alone give " + " and ".join(f"{100 * v:.0f}% ({n})" for n, v in shares.items())
               + f" of the x gain that the larger set gives: {verdict}" if shares else "")
            + " (n = 1 seed per control). Dropout stays on in these runs, as in the specified model: longer "
              "training lowers x error with it on, so dropout alone does not cap x (the no-dropout twin over seeds, "
              "section {§mechanism}, says how much it costs at 30 epochs)."]


def curve_sentence(result) -> str:
    """The README's line on the learning curves: the smallest HeatmapNet set against regression's best, and
    regression's x error over the curve; '' until both curves have two trained sizes."""
    trained = lambda model: [p for p in result.curve(model) if p.summary["pck@0.05"][2]]  # noqa: E731
    hm, reg = trained("heatmap"), trained("regression")
    if len(hm) < 2 or len(reg) < 2:
        return ""
    best = max(reg, key=lambda p: p.summary["pck@0.05"][0])
    return (f"HeatmapNet trained on {hm[0].train_images} images reaches PCK@0.05 {f3(hm[0].summary['pck@0.05'][0])}, "
            f"RegressionNet at best {f3(best.summary['pck@0.05'][0])} ({best.train_images} images). From "
            f"{reg[0].train_images} to {reg[-1].train_images} images RegressionNet's x error falls from "
            f"{f1(reg[0].summary['x_abs_px'][0])} to {f1(reg[-1].summary['x_abs_px'][0])} px (HeatmapNet: "
            f"{f1(hm[-1].summary['x_abs_px'][0])} px with {hm[-1].train_images}); mean over seeds {result.seeds}.")
