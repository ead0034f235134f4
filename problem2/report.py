"""REPORT.md, rendered only from the JSON files in a results directory (never from typed numbers).

    python -m problem2 report        # re-render problem2/results/REPORT.md

Sections whose JSON is missing (e.g. studies skipped) say so instead of failing. Rendering is a
pure function of the JSON files, so the committed report can be checked against them.
"""
from __future__ import annotations

import json
from pathlib import Path

from problem2 import report_mechanism as why
from problem2.markdown import f2, f3, fig, table

T = ["0.05", "0.1", "0.15", "0.2"]  # JSON keys of the assignment's thresholds
METHOD_LABELS = {"regression": "RegressionNet", "heatmap_argmax": "HeatmapNet + argmax",
                 "heatmap_subpixel": "HeatmapNet + sub-pixel"}


def row(rows: list, run_id: str) -> dict:
    """The row of a study table that a run id names."""
    return next(r for r in rows if r["run"] == run_id)


def single_changes(rows: list) -> list:
    """Regression-variant rows that change one thing of RegressionNet (side_regression_*)."""
    return [r for r in rows if r["run"].startswith("side_regression_")]


def load(results: Path, name: str):
    path = Path(results) / name
    return json.loads(path.read_text()) if path.exists() else None


def pck_rows(methods: dict, kind: str) -> list:
    return [[METHOD_LABELS[m]] + [f3(methods[m][kind]["pck"][t]) for t in T]
            + [f2(methods[m][kind]["mean_px"]), f2(methods[m][kind]["median_px"])] for m in METHOD_LABELS]


PCK_HEADER = ["method", "PCK@0.05", "PCK@0.1", "PCK@0.15", "PCK@0.2", "mean px", "median px"]


def headline_table(results: Path) -> str:
    """The PCK table (standard and hand-swap-invariant) of metrics.json."""
    m = load(results, "metrics.json")
    if m is None:
        return "(no metrics.json yet)"
    note = f"\n\n{why.REFERENCE_NOTE}" if m.get("references") else ""
    return (f"{m['split']} split, {m['n_images']} images, PCK normalised by the bounding-box diagonal\n\n"
            + table(PCK_HEADER, pck_rows(m["methods"], "standard") + why.reference_rows(m, "standard"))
            + "\n\nHand-swap-invariant:\n\n"
            + table(PCK_HEADER, pck_rows(m["methods"], "hand_swap_invariant") + why.reference_rows(m, "hand_swap_invariant"))
            + note)


def readme_summary(results: Path) -> str:
    """The README's results block: the headline table and the numbers that answer the question."""
    results = Path(results)
    parts = ["### Headline (reference run)", headline_table(results)]
    d = load(results, "diagnosis.json")
    if d:
        parts.append("**Why (REPORT.md section 2).** " + why.mechanism_sentence(d))
    s = load(results, "studies.json")
    if s:
        b = s["seeds"]["bootstrap"]
        sub, reg = (s["seeds"]["summary"][k]["standard"] for k in ("heatmap_subpixel", "regression"))
        parts.append(
            f"Over seeds {s['seeds']['seeds']}: PCK@0.05 {f3(sub['pck@0.05'][0])} ± {f3(sub['pck@0.05'][1])} "
            f"(heatmap, sub-pixel) against {f3(reg['pck@0.05'][0])} ± {f3(reg['pck@0.05'][1])} (regression); "
            f"the heatmap - regression difference is {f3(b['0.05']['diff'])} "
            f"(95% paired bootstrap interval [{f3(b['0.05']['low'])}, {f3(b['0.05']['high'])}]) at 0.05 and "
            f"{f3(b['0.2']['diff'])} [{f3(b['0.2']['low'])}, {f3(b['0.2']['high'])}] at 0.2.")
        a = s["ambiguity"]
        parts.append(
            f"Hand labels: the best labelled-hand PCK@0.05 any image-only predictor can expect is "
            f"{f3(a['ceiling']['0.05'])}; with hands named by image side, PCK@0.05 is "
            f"{f3(a['side_labels']['heatmap_subpixel']['standard']['pck']['0.05'])} (heatmap) and "
            f"{f3(a['side_labels']['regression']['standard']['pck']['0.05'])} (regression). A decoder that knows "
            f"there are two hands lifts the default heatmap model's hand-swap-invariant PCK@0.05 to "
            f"{f3(a['two_hand_decoder']['hand_swap_invariant']['pck']['0.05'])}.")
        rows = s["regression_variants"]["rows"]
        best = max(single_changes(rows), key=lambda r: r["pck"]["0.05"])
        soft = [r for r in rows if r["run"] == "side_softargmax"]
        parts.append(f"Best single change to RegressionNet (side labels): {best['label']}, PCK@0.05 "
                     f"{f3(row(rows, 'side_regression')['pck']['0.05'])} -> {f3(best['pck']['0.05'])}"
                     + (f"; a different model, the {why.SOFTARGMAX_LABEL}, reaches {f3(soft[0]['pck']['0.05'])}."
                        if soft else "."))
    bench = load(results, "bench_train.json")
    if bench:
        parts.append("### Training speed (side by side, one run of `python -m problem2.bench train`)\n\n"
                     + speed_table(bench) + "\n\n" + floor_sentence(bench))
    log = load(results, "training_log.json")
    if log and log.get("last_command"):
        parts.append(command_timing(log))
    if s and "precision" in s:
        summary = s["precision"]["summary"]
        moved = [f"{model} {PRECISION_METRIC_LABELS[k]}" for model, ms in summary.items() for k, r in ms.items()
                 if not r["within_seed_noise"]]
        parts.append(f"Fast path against plain fp32 ({sum(map(len, summary.values()))} comparisons, REPORT.md appendix A): "
                     + ("no difference detected (each is at most twice the pooled seed std; a failure to detect a "
                        "difference, not a proof of equivalence)." if not moved
                        else "differences beyond twice the seed std: " + "; ".join(moved) + "."))
    return "\n\n".join(parts)


def section_results(m: dict) -> str:
    names = m["keypoint_names"]
    per_kp = [[METHOD_LABELS[k]] + [f3(v) for v in m["methods"][k][kind]["pck_per_keypoint"]["0.05"]]
              for k in METHOD_LABELS for kind in ("standard",)]
    per_kp_inv = [[METHOD_LABELS[k] + " (swap-inv.)"] + [f3(v) for v in m["methods"][k]["hand_swap_invariant"]
                                                         ["pck_per_keypoint"]["0.05"]] for k in METHOD_LABELS]
    err = [[METHOD_LABELS[k]] + [f2(v) for v in m["methods"][k]["standard"]["mean_px_per_keypoint"]]
           for k in METHOD_LABELS]
    auc = ", ".join(f"{METHOD_LABELS[k]} {f3(m['methods'][k]['standard']['pck_auc'])}" for k in METHOD_LABELS)
    torso = [[METHOD_LABELS[k]] + [f3(m["methods"][k]["standard"]["pck_torso"][t]) for t in T] for k in METHOD_LABELS]
    return "\n\n".join(p for p in [
        "## 1. Main comparison",
        f"Both models trained with the specified protocol on the same data; scored on the {m['split']} split "
        f"({m['n_images']} images). PCK rule: {m['pck_rule']}.",
        "**Labelled hands (the assignment's metric)**",
        table(PCK_HEADER, pck_rows(m["methods"], "standard") + why.reference_rows(m, "standard")),
        "**Hand-swap-invariant** (per image, the better of the given and the swapped left/right hand assignment)",
        table(PCK_HEADER, pck_rows(m["methods"], "hand_swap_invariant") + why.reference_rows(m, "hand_swap_invariant")),
        why.REFERENCE_NOTE if m.get("references") else "",
        f"Area under the PCK curve (thresholds 0 to 0.3): {auc}.",
        fig("pck_curves.png", "PCK against threshold; dotted lines mark 0.05, 0.1, 0.15 and 0.2"),
        "**PCK@0.05 per keypoint**", table(["method"] + names, per_kp + per_kp_inv),
        "**Mean error per keypoint (pixels)**", table(["method"] + names, err),
        "**PCK with the torso normaliser** (head to the midpoint of the feet)",
        table(["method"] + [f"PCK@{t}" for t in T], torso),
        fig("sample_predictions.png", "Both methods on the same test images"),
    ] if p)


def section_why(m: dict, s: dict | None) -> str:
    reg, hm, sub = (m["methods"][k] for k in ("regression", "heatmap_argmax", "heatmap_subpixel"))
    names = m["keypoint_names"]
    unamb = [0, 3, 4]  # head and feet: no label ambiguity
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    verdict = "wins" if sub["standard"]["pck"]["0.05"] > reg["standard"]["pck"]["0.05"] else "does not win"
    lines = [f"### 2b. What else separates the two (the heatmap approach {verdict} here)",
             "Each statement below is computed from this run's JSON."]
    lines.append(
        f"- **Unambiguous keypoints.** On the keypoints without label ambiguity ({', '.join(names[i] for i in unamb)}) "
        f"RegressionNet's mean error is {f2(mean([reg['standard']['mean_px_per_keypoint'][i] for i in unamb]))} px "
        f"against {f2(mean([sub['standard']['mean_px_per_keypoint'][i] for i in unamb]))} px for HeatmapNet "
        f"(sub-pixel), and its PCK@0.05 on them is "
        f"{f3(mean([reg['standard']['pck_per_keypoint']['0.05'][i] for i in unamb]))} against "
        f"{f3(mean([sub['standard']['pck_per_keypoint']['0.05'][i] for i in unamb]))}.")
    sharper = sub["standard"]["median_px"] < 0.8 * hm["standard"]["median_px"]
    pck_flat = abs(sub["standard"]["pck"]["0.05"] - hm["standard"]["pck"]["0.05"]) < 0.01
    lines.append(
        f"- **Sub-pixel decoding.** Median error {f2(hm['standard']['median_px'])}"
        f" px (argmax) -> {f2(sub['standard']['median_px'])} px (sub-pixel); PCK@0.05 "
        f"{f3(hm['standard']['pck']['0.05'])} -> {f3(sub['standard']['pck']['0.05'])}"
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
            f"average: both hands get the same near-constant x (section 2), so they meet wherever that x is, not "
            f"where the MSE-optimal midpoint would be. Trained on side labels, its hands are "
            f"{f2(hc['side_regression']['mean_predicted_hand_gap_px'])} px apart.")
        hv = a["hand_map_values"]
        lines.append(
            f"- **What the hand heatmaps hold.** The left_hand map is worth {f3(hv['left_hand']['at_own_label'])} at "
            f"the labelled left hand and {f3(hv['left_hand']['at_other_hand'])} at the other hand (right_hand map: "
            f"{f3(hv['right_hand']['at_own_label'])} / {f3(hv['right_hand']['at_other_hand'])}); the two-hand "
            f"decoder's effect is in section 6.")
        side = a["side_labels"]
        lines.append(
            f"- **Without label ambiguity.** Trained and scored on side labels, PCK@0.05 is "
            f"{f3(side['heatmap_subpixel']['standard']['pck']['0.05'])} (heatmap, sub-pixel) against "
            f"{f3(side['regression']['standard']['pck']['0.05'])} (regression), against "
            f"{f3(sub['standard']['pck']['0.05'])} and {f3(reg['standard']['pck']['0.05'])} with the course labels.")
        base = row(v, "side_regression")
        best = max(single_changes(v), key=lambda r: r["pck"]["0.05"])
        soft = [r for r in v if r["run"] == "side_softargmax"]
        lines.append(
            f"- **Which single change helps regression most.** Of the single changes to RegressionNet "
            f"(section 7), the largest PCK@0.05 gain comes from *{best['label']}*: {f3(base['pck']['0.05'])} -> "
            f"{f3(best['pck']['0.05'])} (mean error {f2(base['mean_px'])} -> {f2(best['mean_px'])} px)."
            + (f" Not a single change but a different model, the {why.SOFTARGMAX_LABEL} reaches "
               f"{f3(soft[0]['pck']['0.05'])} ({f2(soft[0]['mean_px'])} px)." if soft else ""))
    return "\n\n".join(lines)


def ablation_table(name: str, rows: list) -> str:
    """One ablation (rows of ablation.json) as a table: each setting with argmax and sub-pixel decoding."""
    header = [name.replace("_", " "), "decoding"] + [f"PCK@{t}" for t in T] + ["mean px", "swap-inv. PCK@0.05",
                                                                                 "swap-inv. mean px", "train min"]
    body = []
    for r in rows:
        for d in ("argmax", "subpixel"):
            st, inv = r[f"{d}_standard"], r[f"{d}_hand_swap_invariant"]
            body.append([r["setting"], d] + [f3(st["pck"][t]) for t in T]
                        + [f2(st["mean_px"]), f3(inv["pck"]["0.05"]), f2(inv["mean_px"]),
                           f"{r['train_seconds'] / 60:.1f}"])
    return table(header, body)


def ablation_markdown(ab: dict) -> str:
    """Every ablation table of ablation.json (as loaded from the file: thresholds are string keys)."""
    return "\n\n".join(f"**{name.replace('_', ' ')}** ({ab['split']}, {ab['n_images']} images)\n\n"
                         + ablation_table(name, rows) for name, rows in ab["ablations"].items()) + "\n"


def noise_band(m: dict | None, s: dict | None) -> str:
    """How much labelled PCK@0.05 moves without any real change: the hand coin flip and the seeds."""
    parts = []
    if m and m.get("references"):
        parts.append(f"the hand-label coin flip alone moves labelled PCK@0.05 on these images by "
                     f"±{f3(m['references']['coin_flip_hands']['0.05'][1])} (1 sd)")
    if s:
        sd = s["seeds"]["summary"]["heatmap_subpixel"]
        parts.append(f"three seeds of the main HeatmapNet differ by {f3(sd['standard']['pck@0.05'][1])} (sd) in "
                     f"labelled PCK@0.05 and {f2(sd['standard']['mean_px'][1])} px in mean error")
    if not parts:
        return ""
    return ("**Noise band.** Each setting below is one seed: " + "; ".join(parts) + ". A difference between two "
            "settings smaller than about twice the larger of these is not evidence of an effect.")


ABLATION_CAVEATS = {
    "heatmap_resolution": "Sigma is in heatmap pixels, so at sigma 2 the target Gaussian is 8, 4 and 2 image px wide at "
                          "resolutions 32, 64 and 128, and the decoder is one stage shorter or longer: this ablation "
                          "changes resolution, target width and depth together. (The run registry defines "
                          "ablation_res32_sigma1 and ablation_res128_sigma4, which hold the Gaussian at 4 image px; "
                          "they are not in this table.)",
    "sigma": "PCK@0.05 and PCK@0.2 need not rank sigma alike: a narrow target sharpens the peak (fine errors) while a "
             "wide one makes the rare gross confusions between blobs more or less likely (coarse errors).",
    "skip_connections": "",
}


def seeded_ablation_tables(seeded: dict | None) -> str:
    """ablation_seeds.json as one table: mean ± sd over the seeds each setting has (n)."""
    if not seeded:
        return ""
    cell = lambda v, fmt: "-" if not v[2] else f"{fmt(v[0])} ± {fmt(v[1])}"  # noqa: E731
    rows = [[name, r["setting"], ", ".join(str(k) for k in r["per_seed"]) or "none"]
            + [cell(r["summary"][m], f2 if m.endswith("px") else f3) for m in seeded["metrics"]]
            for name, settings in seeded["ablations"].items() for r in settings]
    return "\n\n".join([
        "### Over seeds",
        f"Every setting from the seeds whose predictions exist ({seeded['split']} split, {seeded['n_images']} images, "
        f"sub-pixel decoding); mean ± sd over the seeds listed. head+feet px: mean error of the keypoints without "
        f"label ambiguity, in image pixels.",
        table(["ablation", "setting", "seeds", "PCK@0.05", "PCK@0.2", "swap-inv. PCK@0.05", "head+feet px"], rows)])


def section_ablations(ab: dict | None, m: dict | None = None, s: dict | None = None,
                      seeded: dict | None = None) -> str:
    if ab is None:
        return "## 3. Ablations\n\n(not run)"
    out = ["## 3. Ablations",
           f"Each variant trained with the main protocol ({ab['protocol']['epochs']} epochs, batch "
           f"{ab['protocol']['batch_size']}, Adam {ab['protocol']['lr']}, seed {ab['protocol']['seed']}) and scored on "
           f"the {ab['split']} split ({ab['n_images']} images), never by training loss.", noise_band(m, s),
           seeded_ablation_tables(seeded), "### Seed 0, every metric" if seeded else ""]
    for name, rows in ab["ablations"].items():
        best = min(rows, key=lambda r: r["subpixel_hand_swap_invariant"]["mean_px"])
        best_pck = max(rows, key=lambda r: r["subpixel_standard"]["pck"]["0.05"])
        argmax_spread = [r["argmax_hand_swap_invariant"]["mean_px"] - r["subpixel_hand_swap_invariant"]["mean_px"]
                         for r in rows]
        out += [f"#### {name.replace('_', ' ')}" if seeded else f"### {name.replace('_', ' ')}", ablation_table(name, rows),
                f"Lowest hand-swap-invariant mean error (sub-pixel): **{best['setting']}** "
                f"({f2(best['subpixel_hand_swap_invariant']['mean_px'])} px); highest PCK@0.05 (sub-pixel): "
                f"**{best_pck['setting']}** ({f3(best_pck['subpixel_standard']['pck']['0.05'])}). Sub-pixel decoding "
                f"lowers the swap-invariant mean error by {', '.join(f2(x) for x in argmax_spread)} px "
                f"for the settings in order.", ABLATION_CAVEATS.get(name, ""),
                fig(f"ablation_{name}.png", f"Ablation of {name.replace('_', ' ')}")]
    extra = {r["run"]: r["train_seconds"] for rows in ab["ablations"].values() for r in rows if r["run"] != "main_heatmap"}
    out.append(f"The {len(extra)} extra trainings took {sum(extra.values()) / 60:.1f} min together "
               f"(sum of epoch times; the main model's is in section 4).")
    return "\n\n".join(p for p in out if p)


def command_timing(log: dict) -> str:
    """One sentence on the wall time of the train command that wrote these logs (if it did)."""
    c = log.get("last_command")
    if not c:
        return "(the logs were written by the pipeline, not by one train command: no start-to-finish time)"
    return (f"`{' '.join(c['argv'])}` took **{c['wall_seconds'] / 60:.1f} min** from start to finish "
            f"(epochs run: {', '.join(f'{k} {v}' for k, v in c['epochs_run'].items())}; validation, checkpoints "
            "and data loading included; interpreter start-up and imports not).")


def section_training(log: dict | None) -> str:
    if log is None:
        return ""
    rows = []
    for name, l in log["models"].items():
        e = l["epochs"]
        best = e[l["best_epoch"] - 1]
        rows.append([name, len(e), l["best_epoch"], f"{best['val_loss']:.5f}", f2(best["val_mean_px"]),
                     f3(best["val_pck@0.05"]), f"{sum(x['epoch_seconds'] for x in e) / 60:.1f}",
                     f"{sorted(x['train_img_per_s'] for x in e)[len(e) // 2]:.0f}",
                     l["config"]["resolved_precision"]])
    return "\n\n".join([
        "## 4. Training and learned heatmaps",
        table(["model", "epochs", "best epoch", "val loss", "val mean px", "val PCK@0.05", "train min",
               "median img/s", "precision"], rows),
        command_timing(log),
        fig("training_curves.png", "Training and validation curves of both models"),
        fig("heatmap_training_stages.png", "Predicted heatmaps of one validation image after several epochs"),
    ])


def section_failures(fc: dict | None) -> str:
    if fc is None:
        return "## 5. Failure cases\n\n(not run)"
    names = fc["keypoint_names"]
    rows = [[c.replace("_", " "), v["keypoints"], v["images_all_keypoints"]] + v["per_keypoint"]
            for c, v in fc["categories"].items()]
    traits = list(fc["all_keypoints"]["trait_rates"])
    trait_rows = [["all keypoints"] + [f3(fc["all_keypoints"]["trait_rates"][t]) for t in traits]]
    trait_rows += [[c.replace("_", " ")] + [f3(v["trait_rates"][t]) for t in traits] for c, v in fc["categories"].items()]
    defs = "\n".join(f"- `{k}`: {v}" for k, v in fc["trait_definitions"].items())
    out = ["## 5. Failure cases",
           f"A keypoint succeeds when it lies within {fc['threshold']} x the bounding-box diagonal "
           f"(heatmap decoded by {fc['heatmap_decoding']}); {fc['n_images']} {fc.get('split', '')} images.",
           table(["category", "keypoints", "images (all 5 keypoints)"] + names, rows),
           "**What the failures have in common**: the fraction of keypoints in each category with each trait "
           "(first row: the base rate over all keypoints).",
           table(["category"] + traits, trait_rows), defs]
    out += [fig(f"failures_{c}.png", c.replace("_", " ")) for c, v in fc["categories"].items() if v["keypoints"]]
    out.append(why.failure_split_section(fc))
    return "\n\n".join(p for p in out if p)


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
        "## 6. Seeds, intervals and label ambiguity",
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
        f"The images do not say which hand is the left one. Ceiling: {a['ceiling_note']}. Labelled-hand PCK:",
        table(["predictor", *[f"PCK@{t}" for t in T]], rows),
        "Hand-swap-invariant PCK:", table(["predictor", *[f"PCK@{t}" for t in T]], inv),
        f"The two-hand decoder (codec.decode_hand_pair) brings the default heatmap model's hand-swap-invariant "
        f"PCK@0.05 to {f3(two)} (from {f3(a['models']['heatmap_subpixel']['pck_swap_invariant']['0.05'])} with "
        f"sub-pixel argmax per map).",
        "**Both models retrained on the same images with hands named by image side** (scored on side labels):",
        table(["method", *[f"PCK@{t}" for t in T], "mean px"], side),
        fig("ambiguity_ceiling.png", "Labelled-hand PCK against the ceiling set by the ambiguous labels"),
        fig("hand_ambiguity.png", "Regression hands and the heatmap model's two hand maps on the same images"),
    ])


def section_variants(s: dict) -> str:
    v = s["regression_variants"]
    label = lambda r: why.SOFTARGMAX_LABEL if r["run"] == "side_softargmax" else r["label"]  # noqa: E731
    rows = [[label(r)] + [f3(r["pck"][t]) for t in T] + [f2(r["mean_px"])] for r in v["rows"]]
    reached = [label(r) for r in v["rows"] if r["run"].startswith("side_regression_") or r["run"] == "side_softargmax"
               if r["pck"]["0.05"] >= 0.9]
    return "\n\n".join([
        "## 7. What makes direct regression fail: one change at a time",
        f"All rows trained with the main protocol on side-labelled data (no label noise) and scored on the "
        f"side-labelled {v['split']} split.",
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
        "## 8. Cost",
        f"On {env['device']} ({env['cpu_threads']} threads, precision {c['precision']}, torch {env['torch']}); {c['note']}.",
        table(["model", "parameters", "GFLOPs/image (fwd)", "latency b=1 ms", "latency b=32 ms", "train img/s"], rows),
    ])


PATH_LABELS = {"plain_fp32_default_malloc": "plain fp32 eager, glibc malloc defaults",
               "plain_fp32": "plain fp32 eager, freed memory kept",
               "project": "project: + bf16 autocast, channels_last"}
PRECISION_METRIC_LABELS = {"val_loss": "val loss (best epoch)", "val_mean_px": "val mean px",
                           "val_pck@0.05": "val PCK@0.05", "eval_pck@0.05": "eval PCK@0.05",
                           "eval_mean_px": "eval mean px"}


def speed_table(bench: dict) -> str:
    models = [k for k in bench if isinstance(bench[k], dict) and "speedup" in bench[k]]
    rows = [[PATH_LABELS[p]] + [f"{bench[m][f'{p}_img_per_s']:.1f}" for m in models] for p in PATH_LABELS]
    rows.append(["speed-up, project / plain fp32 (same allocator)"] + [f"{bench[m]['speedup']:.2f}x" for m in models])
    rows.append(["speed-up, project / plain fp32 (glibc defaults)"]
                + [f"{bench[m]['speedup_vs_default_malloc']:.2f}x" for m in models])
    return table(["training step, img/s (median)"] + models, rows)


def precision_table(pr: dict) -> str:
    rows = []
    for model, metrics_ in pr["summary"].items():
        for key, r in metrics_.items():
            fmt = (lambda v: f"{v:.2e}") if key == "val_loss" else (f3 if "pck" in key else f2)
            rows.append([model, PRECISION_METRIC_LABELS[key], f"{fmt(r['fast'][0])} ± {fmt(r['fast'][1])}",
                         f"{fmt(r['fp32'][0])} ± {fmt(r['fp32'][1])}", fmt(r["diff"]), fmt(r["seed_std"]),
                         "yes" if r["within_seed_noise"] else "**no**"])
    return table(["model", "metric", "fast path", "plain fp32", "difference", "seed std",
                  "no difference detected (|difference| <= 2 seed std)"], rows)


def floor_sentence(bench: dict) -> str:
    f = bench.get("compute_floor")
    if not f:
        return ""
    rates = f["matmul_gflops"]
    return (f"Matrix products on this device reach {rates['bf16']:.0f} GFLOP/s in bf16 and {rates['fp32']:.0f} in fp32 "
            f"(2048x2048, median). The default training (both models, 30 epochs, validation included) is "
            f"{sum(f['default_training_tflop'].values()):.0f} TFLOP of convolution and linear layers (3x forward per "
            f"training image), so even with every FLOP at the {f['floor_precision']} matmul rate and nothing else "
            f"costing time it cannot take less than **{f['floor_minutes']:.1f} min** here.")


def section_speed(bench: dict | None, s: dict | None) -> str:
    out = ["## Appendix A. Training speed and the fast path"]
    if bench:
        env = bench["environment"]
        out += [f"`python -m problem2.bench train`: one process, batch {bench['batch_size']}; the paths take turns in "
                f"{bench.get('rounds', 1)} round(s), each timing a path by the median of {bench.get('repeats', 10)} steps "
                f"after warm-up; img/s and ratios are medians over the rounds. On {env['device']} ({env['cpu_threads']} threads, "
                f"torch {env['torch']}); the project's precision here is {bench['project_precision']}.",
                speed_table(bench), floor_sentence(bench),
                "Keeping freed memory (runtime.keep_freed_memory) stops glibc from unmapping and re-faulting the "
                "tens-of-MB activation buffers every step; it changes no number."]
    if s and "precision" in s:
        pr = s["precision"]
        fast_seeds = sorted({r["seed"] for r in pr["rows"] if r["group"] == "fast"})
        fp32_seeds = sorted({r["seed"] for r in pr["rows"] if r["group"] == "fp32"})
        fast_precision = sorted({r["precision"] for r in pr["rows"] if r["group"] == "fast"})
        out += [f"Does the fast path change results? The main pair trained on the fast path ({'/'.join(fast_precision)}, "
                f"seeds {fast_seeds}) and in plain fp32 (seeds {fp32_seeds}); mean ± std over seeds. {pr['note']}.",
                precision_table(pr)]
    return "\n\n".join(out) if len(out) > 1 else ""


def section_course(ce: dict | None) -> str:
    if ce is None:
        return "## 9. The course's own data\n\n(the course dataset was not available for this run)"
    rows = [[METHOD_LABELS[m]] + [f3(ce["methods"][m]["standard"]["pck"][t]) for t in T] for m in METHOD_LABELS]
    return "\n\n".join([
        "## 9. The course's own data",
        f"The two main models (trained on this project's generated data) scored on the course's {ce['split']} "
        f"split ({ce['n_images']} images), labelled hands:",
        table(["method", *[f"PCK@{t}" for t in T]], rows),
    ])


def section_reproduce(p: dict | None, log: dict | None, results: Path) -> str:
    if p is None:
        return ""
    env = p.get("environment", {})
    stages = [[k, f"{v.get('seconds', 0) / 60:.1f}"] for k, v in p["stages"].items()]
    train_min = sum(e["epoch_seconds"] for l in (log or {"models": {}})["models"].values() for e in l["epochs"]) / 60
    run_logs = [log for log in (json.loads(f.read_text()) for f in sorted((Path(results) / "runs").glob("*/training_log.json")))
                if all(len(m["epochs"]) == m["config"]["epochs"] for m in log["models"].values())]  # finished runs
    runs_min = sum(e["epoch_seconds"] for r in run_logs for l in r["models"].values() for e in l["epochs"]) / 60
    return "\n\n".join([
        "## 10. Reproduce",
        f"```\n{p.get('command', 'python -m problem2 all')}\n```",
        f"Device {env.get('device')}, torch {env.get('torch')}, Python {env.get('python')}, "
        f"{env.get('cpu_threads')} CPU threads ({env.get('cpu', env.get('machine'))}). The main pair's training took "
        f"{train_min:.1f} min (sum of epoch times); the {len(run_logs)} other finished trainings (ablations, studies, "
        f"diagnosis) "
        f"{runs_min:.1f} min. Stage wall times when last computed (minutes; 'train' is the last invocation's, which "
        "reuses finished runs):",
        table(["stage", "minutes"], stages),
    ])


def render_report(results: Path) -> str:
    results = Path(results)
    m = load(results, "metrics.json")
    if m is None:
        raise FileNotFoundError(f"{results}/metrics.json is missing: run `python -m problem2 all` first")
    s = load(results, "studies.json")
    log = load(results, "training_log.json")
    parts = [
        "# Heatmap vs direct coordinate regression for keypoints: report",
        "Generated by `python -m problem2 all` from the JSON files beside this report; no number is typed by hand.",
        why.summary(m, s, load(results, "diagnosis.json")),
        section_results(m), why.section_mechanism(load(results, "diagnosis.json")), section_why(m, s),
        section_ablations(load(results, "ablation.json"), m, s, load(results, "ablation_seeds.json")),
        section_training(log), section_failures(load(results, "failure_cases.json")),
    ]
    parts += [section_seeds(s), section_ambiguity(s), section_variants(s), section_cost(s)] if s else \
        ["## 6-8. Studies\n\n(skipped in this run)"]
    parts += [section_course(load(results, "course_eval/metrics.json")),
              section_reproduce(load(results, "pipeline.json"), log, results),
              section_speed(load(results, "bench_train.json"), s)]
    return "\n\n".join(p for p in parts if p) + "\n"


README_MARKERS = ("<!-- results:start (written by python -m problem2 report) -->", "<!-- results:end -->")


def update_readme(readme: Path, results: Path) -> bool:
    """Replace the README's results block (between README_MARKERS) by readme_summary(results)."""
    text = Path(readme).read_text()
    start, end = README_MARKERS
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    Path(readme).write_text(f"{head}{start}\n{readme_summary(results)}\n{end}{tail}")
    return True


def write_report(results: Path) -> Path:
    path = Path(results) / "REPORT.md"
    path.write_text(render_report(results))
    return path
