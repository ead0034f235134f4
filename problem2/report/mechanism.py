"""The report's answer to *why*: the page-one summary, the mechanism section (diagnosis.json), the reference
rows of the headline table and the swap/localisation split of the failures. Rendered from JSON only."""
from __future__ import annotations

from problem2.core import stats
from problem2.models.heads import HEADS
from problem2.report.markdown import T, f1, f2, f3, fig, table
from problem2.report.references import cite

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


def dropout_paragraph(d: dict) -> str:
    """The no-dropout twin against the specified RegressionNet over seeds, each difference with its verdict."""
    family = dropout_comparisons(d)
    if all(c is None for c in family.values()):
        return ""
    words = {"x_abs_px": ("head-and-feet x error", " px"), "y_abs_px": ("y error", " px"), "pck@0.05": ("PCK@0.05", "")}
    parts = [f"{words[m][0]} {c.diff:+.2f}{words[m][1]} [{c.low:+.2f}, {c.high:+.2f}], "
             f"{stats.noise_words(c)}" for m, c in family.items() if c is not None]
    n = {label: len(runs) for label, runs in d["dropout_seeds"].items()}
    return (f"**Dropout, over seeds.** Without dropout minus with it ({n['without dropout']} and {n['with dropout']} "
            f"seeds, course labels, from the runs' stored test predictions): " + "; ".join(parts)
            + " (95% Welch intervals; verdicts Holm-corrected over the three).")


def offset_text(d: dict) -> str:
    prof = d["offset"]["regression"]["x"]
    pairs = [(c, e) for c, e in zip(prof["bin_centres"], prof["mean_abs_err"]) if e is not None]
    centre = min(pairs, key=lambda p: abs(p[0]))
    return ", ".join(f"{e:.1f} px at offset {c:+.0f}" for c, e in (pairs[0], centre, pairs[-1]))


def section_mechanism(d: dict | None) -> tuple[str, str]:
    """(the main section, its appendix with the per-axis statistics and the single changes) from diagnosis.json."""
    if d is None:
        return "", ""
    reg_axes = d["axes"]["regression"]
    head = lambda model, axis: d["axes"][model]["test"]["per_keypoint"]["head"][axis]  # noqa: E731
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
    br = d["border_reach"]
    per_axis = [
        "## {§mechanism_details} The mechanism, in full",
        f"**Per axis** (head and feet, the keypoints without label ambiguity; {d['n_images']} {d['split']} images "
        "and the training split). corr: Pearson correlation of predicted with true coordinates after centring each "
        "keypoint on its mean (how well the figure's position is followed); slope: least-squares slope of predicted "
        "on true (1 follows, 0 ignores); spread: std of predicted / true (px); |err|: mean absolute error (px).",
        table(["model", "split", "x corr", "x slope", "x spread", "x |err|", "y corr", "y slope", "y spread",
               "y |err|"], rows),
        f"The head alone: RegressionNet's predicted head x has a spread of {f1(head('regression', 'x')['pred_std'])} px "
        f"against {f1(head('regression', 'x')['true_std'])} px in the truth (correlation "
        f"{head('regression', 'x')['corr']:.2f}); its head y {f1(head('regression', 'y')['pred_std'])} against "
        f"{f1(head('regression', 'y')['true_std'])} (correlation {head('regression', 'y')['corr']:.2f}). Under a "
        f"horizontal flip its predicted head x follows the mirrored truth with slope {d['mirror']['regression']:.2f} "
        f"(HeatmapNet {d['mirror']['heatmap']:.2f}). Train and test "
        f"errors agree (x: {reg_axes['train']['all']['x']['mean_abs_err']:.2f} and "
        f"{reg_axes['test']['all']['x']['mean_abs_err']:.2f} px): this is not overfitting.",
        fig("axis_scatter.png", "Predicted against true x and y, both models, head and feet of the test images"),
    ]
    out = [
        "## {§mechanism} Why: RegressionNet does not see where the figure is horizontally",
        f"**Moving the figure.** Shifting every test image by 6 px towards the centre moves RegressionNet's "
        f"predictions by {d['shift']['regression']['x']:.2f} x the shift in x and {d['shift']['regression']['y']:.2f} x "
        f"in y (HeatmapNet: {d['shift']['heatmap']['x']:.2f} and {d['shift']['heatmap']['y']:.2f}). Its x error grows with the figure's horizontal offset from the "
        f"image centre as a constant guess's would: {offset_text(d)} (per-axis statistics: appendix "
        f"{{§mechanism_details}}).",
        "**Where x is lost: linear probes.** Ridge regression from each encoder's deepest feature map to the head "
        "and feet coordinates (fit on train, regularisation chosen on val, scored on test; mean |error| px and, in "
        "brackets, the share of position variance recovered). *before pooling*: the 8x8x256 map; *after pooling*: "
        "its global average (what RegressionNet's head sees); *wide canvas*: the same average with the image placed "
        f"on a white canvas {d.get('canvas_margin_px', 32)} px larger on every side, so that no feature sees the "
        "image border.",
        table(["encoder", "features", "x", "y"], probe_rows),
        f"Both encoders hold the position exactly before pooling. Averaging keeps it only through the image border "
        f"(zero padding against the white background {cite('islam2020', 'kayhan2020')}): on the wide canvas neither "
        f"axis survives. The deepest features "
        f"see {d['receptive_field_px']} px; every test figure comes within {f1(br['y']['max_gap_px'])} px of the top or "
        f"bottom border (mean {f1(br['y']['mean_gap_px'])} px) but only within {f1(br['x']['mean_gap_px'])} px of a side "
        f"border on average (up to {f1(br['x']['max_gap_px'])}), so y leaks through pooling almost intact and x only "
        f"in part. RegressionNet's head, trained with dropout 0.5 on these pooled features, learns little of that "
        f"part; the no-dropout twin over seeds says how much of that is the dropout.",
    ]
    variants = d.get("variants") or {}
    if variants:
        names = {"main_regression": "RegressionNet (specified)", "axis_regression_nodropout": "no dropout",
                 "axis_regression_nodropout_seed1": "no dropout, seed 1",
                 "axis_regression_nodropout_seed2": "no dropout, seed 2",
                 "axis_regression_flatten": "flatten instead of pooling", "axis_regression_coordconv": "CoordConv input",
                 "softargmax": SOFTARGMAX_LABEL}
        vrows = [[names.get(r) or head_run_label(r)] + [f"{v['all'][a]['corr']:.2f}" for a in ("x", "y")]
                 + [f"{v['all'][a]['mean_abs_err']:.2f}" for a in ("x", "y")]
                 + [f"{v['shift'][a]:.2f}" for a in ("x", "y")] + [f3(v["pck@0.05"])] for r, v in variants.items()]
        per_axis += ["**Single changes, read per axis** (trained on the course labels, seed 0 unless named: a single "
                "seed carries no verdict; statistics over head and feet of the test images, PCK@0.05 on course labels over "
                "all five keypoints):",
                table(["model", "x corr", "y corr", "x |err|", "y |err|", "x shift gain", "y shift gain", "PCK@0.05"],
                      vrows)]
    out += [dropout_paragraph(d)]
    return "\n\n".join(out), "\n\n".join(per_axis)


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
    in x, one checkpoint each."""
    variants = (d or {}).get("variants") or {}
    heads = {r: head_of_run(r)[0] for r in variants if head_of_run(r)[0] is not None}
    if not heads:
        return ""
    gains = lambda rs: " and ".join(f"{variants[r]['shift']['x']:.2f}" for r in rs)  # noqa: E731
    names = lambda rs: "; ".join(heads[r].label for r in rs)  # noqa: E731
    pooled = [r for r, head in heads.items() if head.features != "spatial"]
    spatial = [r for r in heads if r not in pooled]
    return (f"**Read per axis** (one checkpoint each; appendix {{§mechanism_details}}), the pooled heads ignore where "
            f"the figure is, whatever their loss: moving it by 1 px moves their x predictions by {gains(pooled)} px "
            f"({names(pooled)}), the spatial heads' by {gains(spatial)} px ({names(spatial)}).")


def failure_split_section(fc: dict) -> str:
    split = fc.get("swap_or_localisation")
    if not split:
        return ""
    rows = [[model, t, v["failures"], v["hand_swaps"], v["other_hand"], v["localisation"]]
            for model, by_t in split.items() for t, v in by_t.items()]
    lost = split["heatmap"]["0.05"]["localisation"]
    out = ["**Label swaps or localisation failures?** Keypoint failures of each model at the headline threshold "
           "(0.05) and at 0.2, split by what went wrong: *hand swaps* are right once the two hand predictions are "
           "exchanged, *other hand* puts both hand predictions on one hand, *localisation* is near neither its own "
           "keypoint nor the other hand (in full: appendix {§failure_details}).",
           table(["model", "threshold", "failures", "hand swaps", "other hand", "localisation"], rows)]
    out.append(fig("failures_heatmap_localisation.png",
                   "HeatmapNet's true localisation failures at 0.05 (near neither its own keypoint nor the other "
                   "hand); worst first") if lost else
               "HeatmapNet has no true localisation failure at 0.05: every one of its failures is a hand-label matter.")
    return "\n\n".join(out)


def row(rows: list, run_id: str) -> dict:
    """The row of a study table that a run id names."""
    return next(r for r in rows if r["run"] == run_id)


def single_changes(rows: list) -> list:
    """Regression-variant rows that change one thing of RegressionNet (side_regression_*)."""
    return [r for r in rows if r["run"].startswith("side_regression_")]


def section_why(m, s: dict | None) -> str:
    """The appendix on what else separates the two (m: results.Metrics, s: studies.json)."""
    reg, hm, sub = (m.methods[k].standard for k in ("regression", "heatmap_argmax", "heatmap_subpixel"))
    names = m.keypoint_names
    unamb = [0, 3, 4]  # head and feet: no label ambiguity
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    verdict = "wins" if sub.pck["0.05"] > reg.pck["0.05"] else "does not win"
    lines = [f"## {{§differences}} What else separates the two (the heatmap approach {verdict} here)",
             "Each statement below is computed from this run's JSON."]
    lines.append(
        f"- **Unambiguous keypoints.** On the keypoints without label ambiguity ({', '.join(names[i] for i in unamb)}) "
        f"RegressionNet's mean error is {f2(mean([reg.mean_px_per_keypoint[i] for i in unamb]))} px "
        f"against {f2(mean([sub.mean_px_per_keypoint[i] for i in unamb]))} px for HeatmapNet "
        f"(sub-pixel), and its PCK@0.05 on them is "
        f"{f3(mean([reg.pck_per_keypoint['0.05'][i] for i in unamb]))} against "
        f"{f3(mean([sub.pck_per_keypoint['0.05'][i] for i in unamb]))}.")
    sharper = sub.median_px < 0.8 * hm.median_px
    pck_flat = abs(sub.pck["0.05"] - hm.pck["0.05"]) < 0.01
    lines.append(
        f"- **Sub-pixel decoding.** Median error {f2(hm.median_px)}"
        f" px (argmax) -> {f2(sub.median_px)} px (sub-pixel); PCK@0.05 "
        f"{f3(hm.pck['0.05'])} -> {f3(sub.pck['0.05'])}"
        + (": it sharpens the typical keypoint, while the errors that cost PCK are gross ones, not quantisation."
           if sharper and pck_flat else "."))
    if s:
        a, v = s["ambiguity"], s["regression_variants"]["rows"]
        hc = a["hand_collapse"]
        lines.append(
            f"- **RegressionNet's hands coincide, but not at the true hands' midpoint.** With the course labels its "
            f"two predicted hands are on average {f2(hc['regression']['mean_predicted_hand_gap_px'])} px apart (the "
            f"true hands: {f2(hc['regression']['mean_true_hand_gap_px'])} px), and they lie "
            f"{f2(hc['regression']['mean_hand_distance_to_midpoint_px'])} px from the midpoint of the true hands on "
            f"average: both hands get the same near-constant x (section {{§mechanism}}), so they meet wherever that x is, not "
            f"where the MSE-optimal midpoint would be. Trained on side labels, its hands are "
            f"{f2(hc['side_regression']['mean_predicted_hand_gap_px'])} px apart.")
        hv = a["hand_map_values"]
        lines.append(
            f"- **What the hand heatmaps hold.** The left_hand map is worth {f3(hv['left_hand']['at_own_label'])} at "
            f"the labelled left hand and {f3(hv['left_hand']['at_other_hand'])} at the other hand (right_hand map: "
            f"{f3(hv['right_hand']['at_own_label'])} / {f3(hv['right_hand']['at_other_hand'])}); the two-hand "
            f"decoder's effect is in section {{§seeds}}.")
        side = a["side_labels"]
        lines.append(
            f"- **Without label ambiguity.** Trained and scored on side labels, PCK@0.05 is "
            f"{f3(side['heatmap_subpixel']['standard']['pck']['0.05'])} (heatmap, sub-pixel) against "
            f"{f3(side['regression']['standard']['pck']['0.05'])} (regression), against "
            f"{f3(sub.pck['0.05'])} and {f3(reg.pck['0.05'])} with the course labels.")
        base = row(v, "side_regression")
        best = max(single_changes(v), key=lambda r: r["pck"]["0.05"])
        soft = [r for r in v if r["run"] == "side_softargmax"]
        lines.append(
            f"- **Which single change helps regression most.** Of the single changes to RegressionNet "
            f"(section {{§variants}}), the largest PCK@0.05 gain comes from *{best['label']}*: {f3(base['pck']['0.05'])} -> "
            f"{f3(best['pck']['0.05'])} (mean error {f2(base['mean_px'])} -> {f2(best['mean_px'])} px)."
            + (f" Not a single change but a different model, the {SOFTARGMAX_LABEL} reaches "
               f"{f3(soft[0]['pck']['0.05'])} ({f2(soft[0]['mean_px'])} px)." if soft else ""))
    return "\n\n".join(lines)
