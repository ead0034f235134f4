"""The report's answer to *why*: the mechanism section and its appendix (diagnosis.json), what else separates the two
models, the reference rows of the headline table, the heads read per axis and the swap/localisation split of the
failures. This module computes numbers, verdicts and tables; the prose is in templates/mechanism*.md,
differences.md, heads_axis.md and failure_split.md."""
from __future__ import annotations

from problem2.core import stats
from problem2.models.heads import HEADS
from problem2.report.markdown import T, f1, f3, fig, render, table

SOFTARGMAX_LABEL = "HeatmapNet trunk + soft-argmax"  # SoftArgmaxNet: HeatmapNet's layers, coordinate loss


def reference_rows(m, kind: str) -> list:
    """Headline rows (m: results.Metrics) for the mean-pose predictor and, labelled only, perfect localisation
    with coin-flip hands."""
    if not m.references:
        return []
    mp = getattr(m.references.mean_pose, kind)
    rows = [["*mean pose (train mean, ignores the image)*"] + [f3(mp.pck[t]) for t in T]
            + [f"{mp.mean_px:.2f}", f"{mp.median_px:.2f}"]]
    if kind == "standard":
        flip = m.references.coin_flip_hands
        rows.append(["*perfect localisation, coin-flip hands*"]
                    + [f"{f3(flip[t][0])} ± {f3(flip[t][1])}" for t in T] + ["-", "-"])
    return rows


REFERENCE_NOTE = ("Reference rows: the mean pose is the training split's mean keypoints predicted for every image; "
                  "'perfect localisation, coin-flip hands' puts every keypoint exactly and names the hands by a fair "
                  "coin per image (expected PCK ± its spread over coin flips on these images); an image-only model "
                  "can do slightly better where the hands are close (the ceiling under Label ambiguity).")


def dropout_comparisons(d: dict) -> dict:
    """{metric: stats.Comparison or None}: without dropout minus with it over seeds (diagnosis.json dropout_seeds),
    x and y error and PCK@0.05, one family."""
    seeds = d.get("dropout_seeds") or {}
    values = lambda label, m: [r[m] for r in seeds.get(label, {}).values()]  # noqa: E731
    return stats.compare_family({m: (values("without dropout", m), values("with dropout", m))
                                 for m in ("x_abs_px", "y_abs_px", "pck@0.05")})


def dropout_numbers(d: dict) -> dict | None:
    """The no-dropout twin against the specified RegressionNet over seeds, each difference with its interval and
    verdict; None when no comparison could be made."""
    family = dropout_comparisons(d)
    if all(c is None for c in family.values()):
        return None
    words = {"x_abs_px": ("head-and-feet x error", " px"), "y_abs_px": ("y error", " px"), "pck@0.05": ("PCK@0.05", "")}
    n = {label: len(runs) for label, runs in d["dropout_seeds"].items()}
    return {"n_without": n["without dropout"], "n_with": n["with dropout"],
            "comparisons": [{"what": words[m][0], "unit": words[m][1], "diff": c.diff, "low": c.low, "high": c.high,
                             "words": stats.noise_words(c)} for m, c in family.items() if c is not None]}


def offsets(d: dict) -> list:
    """RegressionNet's x error at the figure's smallest, most central and largest horizontal offset from the image
    centre: [{offset, err}] x 3."""
    prof = d["offset"]["regression"]["x"]
    pairs = [(c, e) for c, e in zip(prof["bin_centres"], prof["mean_abs_err"]) if e is not None]
    centre = min(pairs, key=lambda p: abs(p[0]))
    return [{"offset": c, "err": e} for c, e in (pairs[0], centre, pairs[-1])]


def section_mechanism(d: dict | None, decomposed: bool = False) -> tuple[str, str]:
    """(the main section, its appendix with the per-axis statistics and the single changes) from diagnosis.json:
    templates/mechanism.md and mechanism_details.md. decomposed: the report has the factorial's section, which
    measures what the dropout comparison here estimates, so that comparison moves to the appendix."""
    if d is None:
        return "", ""
    reg_axes = d["axes"]["regression"]
    rows = []
    for model in ("regression", "heatmap"):
        for split in ("train", "test"):
            a = d["axes"][model][split]["all"]
            rows.append([model, split] + [v for axis in ("x", "y") for v in
                                          (f"{a[axis]['corr']:.2f}", f"{a[axis]['slope']:.2f}",
                                           f"{f1(a[axis]['pred_std'])} / {f1(a[axis]['true_std'])}",
                                           f"{a[axis]['mean_abs_err']:.2f}")])
    probe_rows = [[model, layer.replace("_", " ")] + [f"{p[axis]['mean_abs_err']:.2f} ({p[axis]['r2']:.3f})"
                                                      for axis in ("x", "y")]
                  for model in ("regression", "heatmap") for layer, p in d["probes"][model].items()]
    variants = d.get("variants") or {}
    names = {"main_regression": "RegressionNet (specified)", "axis_regression_nodropout": "no dropout",
             "axis_regression_nodropout_seed1": "no dropout, seed 1",
             "axis_regression_nodropout_seed2": "no dropout, seed 2",
             "axis_regression_flatten": "flatten instead of pooling", "axis_regression_coordconv": "CoordConv input",
             "softargmax": SOFTARGMAX_LABEL}
    vrows = [[names.get(r) or head_run_label(r)] + [f"{v['all'][a]['corr']:.2f}" for a in ("x", "y")]
             + [f"{v['all'][a]['mean_abs_err']:.2f}" for a in ("x", "y")]
             + [f"{v['shift'][a]:.2f}" for a in ("x", "y")] + [f3(v["pck@0.05"])] for r, v in variants.items()]
    main = render("mechanism", shift=d["shift"], offsets=offsets(d), canvas_margin=d.get("canvas_margin_px", 32),
                  probe_table=table(["encoder", "features", "x", "y"], probe_rows),
                  receptive_field=d["receptive_field_px"], border=d["border_reach"], dropout=dropout_numbers(d),
                  decomposed=decomposed)
    details = render(
        "mechanism_details", n_images=d["n_images"], split=d["split"],
        axes_table=table(["model", "split", "x corr", "x slope", "x spread", "x |err|", "y corr", "y slope", "y spread",
                          "y |err|"], rows),
        head=d["axes"]["regression"]["test"]["per_keypoint"]["head"], mirror=d["mirror"],
        dropout=decomposed and dropout_numbers(d), offsets=decomposed and offsets(d),
        train_x=reg_axes["train"]["all"]["x"]["mean_abs_err"], test_x=reg_axes["test"]["all"]["x"]["mean_abs_err"],
        figure=fig("axis_scatter.png", "Predicted against true x and y, both models, head and feet of the test images"),
        variants_table=variants and table(["model", "x corr", "y corr", "x |err|", "y |err|", "x shift gain",
                                           "y shift gain", "PCK@0.05"], vrows))
    return main, details


def head_of_run(run_id: str) -> tuple:
    """(the Head of HEADS, its seed as text or '') for a head's course-label run id ('head_simcc_seed2' ->
    (HEADS['simcc'], '2')); (None, '') for any other run."""
    key, _, seed = run_id.removeprefix("head_").partition("_seed")
    return (HEADS[key], seed) if run_id.startswith("head_") and key in HEADS else (None, "")


def head_run_label(run_id: str) -> str:
    """'SimCC, spatial features, seed 2' for 'head_simcc_seed2'; the run id itself for a run that is not a head's."""
    head, seed = head_of_run(run_id)
    return run_id if head is None else head.label + (f", seed {seed}" if seed else "")


def head_axis_sentence(d: dict | None) -> str:
    """What the per-axis diagnosis says of the heads (diagnosis.json variants): which of them follow the figure
    in x, one checkpoint each (templates/heads_axis.md); '' without the heads' variants."""
    variants = (d or {}).get("variants") or {}
    heads = {r: head_of_run(r)[0] for r in variants if head_of_run(r)[0] is not None}
    if not heads:
        return ""
    read = lambda pooled: [{"gain": variants[r]["shift"]["x"], "label": head.label}  # noqa: E731
                           for r, head in heads.items() if (head.features != "spatial") == pooled]
    return render("heads_axis", pooled=read(True), spatial=read(False))


def failure_split_section(fc: dict) -> str:
    """Label swaps or localisation failures (templates/failure_split.md); '' without the split."""
    split = fc.get("swap_or_localisation")
    if not split:
        return ""
    rows = [[model, t, v["failures"], v["hand_swaps"], v["other_hand"], v["localisation"]]
            for model, by_t in split.items() for t, v in by_t.items()]
    return render("failure_split", heatmap_localisation=bool(split["heatmap"]["0.05"]["localisation"]),
                  table=table(["model", "threshold", "failures", "hand swaps", "other hand", "localisation"], rows),
                  figure=fig("failures_heatmap_localisation.png",
                             "HeatmapNet's localisation failures at 0.05, worst first"))


def row(rows: list, run_id: str) -> dict:
    """The row of a study table that a run id names."""
    return next(r for r in rows if r["run"] == run_id)


def single_changes(rows: list) -> list:
    """Regression-variant rows that change one thing of RegressionNet (side_regression_*)."""
    return [r for r in rows if r["run"].startswith("side_regression_")]


def section_why(m, s: dict | None) -> str:
    """The appendix on what else separates the two (templates/differences.md; m: results.Metrics, s: studies.json)."""
    reg, hm, sub = (m.methods[k].standard for k in ("regression", "heatmap_argmax", "heatmap_subpixel"))
    unamb = [0, 3, 4]  # head and feet: no label ambiguity
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    on_unambiguous = lambda scores: {"px": mean([scores.mean_px_per_keypoint[i] for i in unamb]),  # noqa: E731
                                     "pck": mean([scores.pck_per_keypoint["0.05"][i] for i in unamb])}
    numbers = {"wins": sub.pck["0.05"] > reg.pck["0.05"], "unambiguous": [m.keypoint_names[i] for i in unamb],
               "regression": on_unambiguous(reg), "subpixel": on_unambiguous(sub), "argmax_median": hm.median_px,
               "subpixel_median": sub.median_px, "argmax_pck": hm.pck["0.05"], "subpixel_pck": sub.pck["0.05"],
               "regression_pck": reg.pck["0.05"],
               "sharper_only": sub.median_px < 0.8 * hm.median_px and abs(sub.pck["0.05"] - hm.pck["0.05"]) < 0.01,
               "studies": bool(s)}
    if s:
        a, v = s["ambiguity"], s["regression_variants"]["rows"]
        hc = a["hand_collapse"]
        base = row(v, "side_regression")
        best = max(single_changes(v), key=lambda r: r["pck"]["0.05"])
        soft = [r for r in v if r["run"] == "side_softargmax"]
        numbers |= {
            "hands": {"gap": hc["regression"]["mean_predicted_hand_gap_px"],
                      "true_gap": hc["regression"]["mean_true_hand_gap_px"],
                      "to_midpoint": hc["regression"]["mean_hand_distance_to_midpoint_px"],
                      "side_gap": hc["side_regression"]["mean_predicted_hand_gap_px"]},
            "maps": a["hand_map_values"],
            "side": {"heatmap": a["side_labels"]["heatmap_subpixel"]["standard"]["pck"]["0.05"],
                     "regression": a["side_labels"]["regression"]["standard"]["pck"]["0.05"]},
            "base": {"pck": base["pck"]["0.05"], "px": base["mean_px"]},
            "best": {"label": best["label"], "pck": best["pck"]["0.05"], "px": best["mean_px"]},
            "softargmax": soft and {"pck": soft[0]["pck"]["0.05"], "px": soft[0]["mean_px"]},
            "softargmax_label": SOFTARGMAX_LABEL}
    return render("differences", **numbers)
