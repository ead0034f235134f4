"""The report's robustness section, rendered from robustness.json (robustness.Robustness) only."""
from __future__ import annotations

from problem2.core import stats
from problem2.data.augment import AugmentConfig, aimed_depth_share
from problem2.data.generate import CENTRE_RANGE
from problem2.report.markdown import NOT_RUN, f1, f2, f3, fig, mean_sd, table

HEATMAP, REGRESSION = "HeatmapNet", "RegressionNet"


def drop(result, row, model: str, metric: str = "pck@0.05") -> float:
    return row.scores[model][metric] - result.clean(model, metric)


def cell(result, row, model: str) -> str:
    """'0.826 (-0.017)': PCK@0.05 and its change from clean."""
    return f"{f3(row.scores[model]['pck@0.05'])} ({drop(result, row, model):+.3f})"


COLUMNS = {"pck@0.05": "PCK@0.05 (change)", "pck@0.2": "PCK@0.2", "swap_invariant_pck@0.05": "swap-inv. PCK@0.05",
           "mean_px": "mean px"}


def robustness_table(result, models: list, metrics: list, where: bool = True) -> str:
    """One row per perturbation; per model, the given metrics (PCK@0.05 with its change from clean).
    where: the group and the share of keypoints moved outside the image."""
    def value(r, m, metric):
        v = r.scores[m][metric]
        return cell(result, r, m) if metric == "pck@0.05" else f2(v) if metric == "mean_px" else f3(v)
    header = ["perturbation"] + (["group", "outside"] if where else []) + \
        [f"{m} {COLUMNS[metric]}" for m in models for metric in metrics]
    rows = [[r.name] + ([r.group, f"{100 * r.outside:.1f}%"] if where else [])
            + [value(r, m, metric) for m in models for metric in metrics] for r in result.rows]
    return table(header, rows)


def occlusion_table(result) -> str:
    models = list(result.models)
    rows = [[r.name, m, f3(r.hidden[m]["pck@0.05"]), f3(r.visible[m]["pck@0.05"]), f3(r.scores[m]["pck@0.05"])]
            for r in result.rows if r.hidden for m in models]
    return table(["occlusion", "model", "hidden keypoint", "visible keypoints", "all"], rows)


def findings(result) -> list:
    """Sentences that tie the numbers to the mechanism (the report's mechanism section); each computed from the JSON."""
    if HEATMAP not in result.models or REGRESSION not in result.models:
        return []
    rows = {r.name: r for r in result.rows}
    out = []
    geometric = [r for r in result.rows if r.group == "geometric"]
    steady = [r.name for r in geometric if abs(drop(result, r, HEATMAP)) <= 0.05]
    hurt = [r for r in geometric if drop(result, r, HEATMAP) < -0.05]
    off = [r for r in geometric if r.family == "off-centre figure"]
    if steady:
        out.append(f"- **Geometry.** HeatmapNet stays within 0.05 of its clean PCK@0.05 under {', '.join(steady)}: its "
                   "peaks move with the figure. "
                   + (" ".join(f"It loses {-drop(result, r, HEATMAP):.3f} under {r.name}, a pose the training set "
                               "never shows (its torsos are always vertical)." for r in hurt if r.family == "rotate")))
    if off:
        worst = min(off, key=lambda r: r.scores[REGRESSION]["pck@0.05"])
        out.append(f"- **Figures outside the training positions.** RegressionNet's PCK@0.05 falls to "
                   f"{f3(worst.scores[REGRESSION]['pck@0.05'])} on figures whose centre lies {worst.strength} beyond "
                   f"the training range (HeatmapNet: {f3(worst.scores[HEATMAP]['pck@0.05'])}): it predicts a "
                   f"near-constant x (section {{§mechanism}}), so a figure away from the usual place is missed entirely; its "
                   f"head-and-feet x error is {f1(worst.scores[REGRESSION]['x_abs_px'])} px there, against "
                   f"{f1(result.clean(REGRESSION, 'x_abs_px'))} px on clean images.")
    noise = [r for r in result.rows if r.family == "noise"]
    if noise:
        weak = noise[0]
        out.append(f"- **Pixel noise.** Noise of {weak.strength} changes HeatmapNet's PCK@0.05 by "
                   f"{drop(result, weak, HEATMAP):+.3f} but drops RegressionNet's from "
                   f"{f3(result.clean(REGRESSION, 'pck@0.05'))} to "
                   f"{f3(weak.scores[REGRESSION]['pck@0.05'])}: its head-and-feet y error grows from "
                   f"{f1(result.clean(REGRESSION, 'y_abs_px'))} to {f1(weak.scores[REGRESSION]['y_abs_px'])} px, "
                   f"almost all of it a shift of every prediction (mean signed y error "
                   f"{weak.scores[REGRESSION]['y_bias_px']:+.1f} px). A hypothesis (one model each): RegressionNet "
                   f"reads position from features averaged over the whole image, to which noise adds everywhere, while "
                   f"a heatmap peak depends on its neighbourhood only (HeatmapNet's y error: "
                   f"{f1(weak.scores[HEATMAP]['y_abs_px'])} px).")
    if "invert" in rows:
        inv = rows["invert"]
        out.append(f"- **Polarity.** An inverted image (white figure on black) scores "
                   f"{f3(inv.scores[HEATMAP]['pck@0.05'])} for HeatmapNet: every training image is dark on light. Darker backgrounds and "
                   "weaker lines (brightness, contrast) cost it "
                   + ", ".join(f"{-drop(result, r, HEATMAP):.3f} ({r.name})" for r in result.rows
                               if r.family in ("brightness", "contrast")) + ".")
    occluded = [r for r in result.rows if r.hidden]
    if occluded:
        big = occluded[-1]
        out.append(f"- **Occlusion.** With a {big.strength} square of background over one keypoint, HeatmapNet finds "
                   f"the hidden keypoint in {f3(big.hidden[HEATMAP]['pck@0.05'])} of the images and the visible ones "
                   f"in {f3(big.visible[HEATMAP]['pck@0.05'])}: it localises what it sees and does not infer a hidden "
                   f"limb end from the rest of the body.")
    return out


AUGMENTED = {HEATMAP: "HeatmapNet augmented", REGRESSION: "RegressionNet augmented"}
AIMED = "HeatmapNet augmented, aimed cutout"  # the same augmentation, half of its cutouts over a keypoint
AUGMENTED_PAIRS = [(HEATMAP, AUGMENTED[HEATMAP]), (REGRESSION, AUGMENTED[REGRESSION]), (HEATMAP, AIMED)]
SEEN_BY_AUGMENTATION = {"max_rotation": "rotate", "scale": "scale", "max_shift": "shift", "flip": "flip",
                        "contrast": "contrast", "darken": "brightness", "blur": "blur", "noise": "noise",
                        "invert": "invert", "cutout": "occlusion"}  # AugmentConfig field -> suite family


def clean_comparisons(result, metric: str = "pck@0.05") -> dict:
    """{(augmented, plain): stats.Comparison or None} of the clean per-seed scores of each AUGMENTED_PAIRS pair,
    one family for the Holm correction."""
    seeds = result.clean_seeds or {}
    values = lambda label: [v[metric] for v in seeds.get(label, {}).get("per_seed", {}).values()]  # noqa: E731
    return stats.compare_family({(aug, plain): (values(aug), values(plain)) for plain, aug in AUGMENTED_PAIRS})


def difference_words(c, what: str = "a difference of") -> str:
    """', a difference of +0.012 [-0.004, 0.028] (within seed noise)' for a stats.Comparison, '' for None."""
    if c is None:
        return ""
    return f", {what} {c.diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}] ({stats.noise_words(c)})"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def augmentation_findings(result) -> list:
    """What augmentation changes: clean scores over seeds, the suite at seed 0, and which families it had seen."""
    out = []
    if result.augmentation:
        config = next(iter(result.augmentation.values()))  # the families are the same for every augmented model
        seen = sorted({SEEN_BY_AUGMENTATION[k] for k in config if k in SEEN_BY_AUGMENTATION})
        unseen = [f for f in dict.fromkeys(r.family for r in result.rows[1:]) if f not in seen]
        out.append(f"- **What augmentation saw.** Training drew from the families {', '.join(seen)} "
                   f"(`augment.AugmentConfig`, recorded in robustness.json), at strengths that cover the suite's; only "
                   f"{' and '.join(unseen)} are new to the augmented models, so for the other families the suite "
                   "measures whether the augmentation was learnt, not whether it generalises.")
    out += occlusion_findings(result)
    family = clean_comparisons(result)
    for plain, aug in AUGMENTED_PAIRS:
        if aug not in result.models or plain not in result.models:
            continue
        perturbed = result.rows[1:]
        misses = [r for r in perturbed if abs(drop(result, r, aug)) > 0.05]
        seeds = (result.clean_seeds or {}).get(aug, {}).get("summary", {}).get("pck@0.05")
        plain_seeds = (result.clean_seeds or {}).get(plain, {}).get("summary", {}).get("pck@0.05")
        clean = (f"Clean PCK@0.05 {mean_sd(seeds)} over {plural(seeds[2], 'seed')} against {mean_sd(plain_seeds)} "
                 f"({plural(plain_seeds[2], 'seed')}) without augmentation" if seeds and plain_seeds and seeds[2] else
                 f"Clean PCK@0.05 {f3(result.clean(aug, 'pck@0.05'))} against {f3(result.clean(plain, 'pck@0.05'))}")
        clean += difference_words(family.get((aug, plain)))
        gap = ", ".join(f"{r.name} ({drop(result, r, aug):+.3f})" for r in misses)
        out.append(f"- **{aug}.** {clean}. At seed 0 it stays within 0.05 of its clean score under "
                   f"{len(perturbed) - len(misses)} of {len(perturbed)} perturbations"
                   + (f"; not under {gap}" if misses else ", all of them") + "."
                   + (" (A clean score this low leaves little to lose.)" if result.clean(aug, "pck@0.05") < 0.2 else ""))
    axes = {k: (result.clean_seeds or {}).get(k, {}).get("summary", {}) for k in (REGRESSION, AUGMENTED[REGRESSION])}
    if all(a.get("x_abs_px", [None, None, 0])[2] for a in axes.values()):
        (x0, y0), (x1, y1) = [(a["x_abs_px"][0], a["y_abs_px"][0]) for a in axes.values()]  # plain, augmented
        out.append(f"- **Why augmentation costs RegressionNet.** Its head-and-feet x error stays where it was "
                   f"({f1(x0)} -> {f1(x1)} px, mean over seeds) and its y error grows ({f1(y0)} -> {f1(y1)} px): "
                   "augmentation widens the positions it must output without giving a model that cannot see position "
                   "(section {§mechanism}) a way to see them.")
    return out


def occlusion_findings(result) -> list:
    """Why random cutout leaves occlusion hard, and what cutouts aimed at keypoints change (when trained)."""
    occluded = [r for r in result.rows if r.hidden]
    rates = result.cutout_hide_rate or {}
    aug = AUGMENTED[HEATMAP]
    if not occluded or aug not in rates or aug not in result.models:
        return []
    big = occluded[-1]
    hidden = lambda model: f3(big.hidden[model]["pck@0.05"])  # noqa: E731
    out = [f"- **Why occlusion stays hard.** The cutout square lands at a random place, so it hides a keypoint in "
           f"only {100 * rates[aug]:.1f}% of augmented training items: the targets almost never ask for a limb end "
           f"that cannot be seen. Under the {big.strength} occlusion the augmented HeatmapNet finds the hidden "
           f"keypoint in {hidden(aug)} of the images (without augmentation {hidden(HEATMAP)}); the visible ones stay "
           f"at {f3(big.visible[aug]['pck@0.05'])}."]
    if AIMED not in rates or AIMED not in result.models:
        return out
    gain = big.hidden[AIMED]["pck@0.05"] - big.hidden[aug]["pck@0.05"]
    out.append(f"- **Cutouts aimed at keypoints.** With half of the cutouts placed over a keypoint (of any size up to "
               f"the largest, anywhere over it: not the suite's centred squares), a cutout hides a keypoint in "
               f"{100 * rates[AIMED]:.1f}% of training items. Under the {big.strength} occlusion this model finds the "
               f"hidden keypoint in {hidden(AIMED)} of the images ({gain:+.3f} against random cutouts) and the visible "
               f"ones in {f3(big.visible[AIMED]['pck@0.05'])}: "
               + ("targets at hidden ends teach it to place them from what is visible, which is possible here "
                  "because the figures are rigid (generate.py: arms of length 20 from the shoulder, feet at a fixed "
                  "height and mirror images of each other, the head at a fixed offset above the torso)."
                  if gain > 0.1 else "even targets at hidden ends do not teach it to place them, although the "
                  "rest of these rigid figures says where a hidden end is (generate.py)."))
    hid, depth = big.hidden[AIMED], int(big.strength.split()[0]) // 2
    if gain <= 0.1 and abs(hid["y_bias_px"]) > 0.8 * hid["y_abs_px"]:
        out.append(f"- **Where the hidden keypoint goes.** Its error is a shift, not scatter: mean |y error| "
                   f"{f1(hid['y_abs_px'])} px with a mean signed y error of {hid['y_bias_px']:+.1f} px (PCK@0.2 "
                   f"{f3(hid['pck@0.2'])}), as if the model marked the end where the limb stops being visible, at "
                   f"the square's edge. The suite's {big.strength} square is centred, so it buries the keypoint "
                   f"{depth} px from every edge; "
                   f"{100 * aimed_depth_share(AugmentConfig(**result.augmentation[AIMED]), depth):.2f}% of the aimed "
                   f"model's training items bury one that deep (random sides and places). A hypothesis from this one "
                   f"model at seed 0: it learnt to find the ends of limbs, not to extend them.")
    return out


def robustness_sentence(result) -> str:
    """The README's one-paragraph summary of robustness.json."""
    perturbed = result.rows[1:]
    if HEATMAP not in result.models or REGRESSION not in result.models:
        return ""
    worst = {m: min(perturbed, key=lambda r: r.scores[m]["pck@0.05"]) for m in (HEATMAP, REGRESSION)}
    steady = sum(abs(drop(result, r, HEATMAP)) <= 0.05 for r in perturbed)
    halved = sum(r.scores[REGRESSION]["pck@0.05"] < result.clean(REGRESSION, "pck@0.05") / 2 for r in perturbed)
    return (f"Of {len(perturbed)} perturbations of the test images, HeatmapNet stays within 0.05 of its clean PCK@0.05 "
            f"({f3(result.clean(HEATMAP, 'pck@0.05'))}) under {steady}; its worst is {worst[HEATMAP].name} "
            f"({f3(worst[HEATMAP].scores[HEATMAP]['pck@0.05'])}). RegressionNet loses more than half of its clean "
            f"{f3(result.clean(REGRESSION, 'pck@0.05'))} under {halved}, down to "
            f"{f3(worst[REGRESSION].scores[REGRESSION]['pck@0.05'])} on {worst[REGRESSION].name}."
            + augmented_sentence(result))


def augmented_sentence(result) -> str:
    """' Trained with augmentation, HeatmapNet ...': the README's lines on the augmented HeatmapNets, or ''."""
    out = ""
    family = clean_comparisons(result)
    for aug, how in ((AUGMENTED[HEATMAP], "Trained with augmentation (`augment.py`)"),
                     (AIMED, "With half of its cutouts aimed at keypoints")):
        if aug not in result.models:
            continue
        perturbed = result.rows[1:]
        misses = [r.name for r in perturbed if abs(drop(result, r, aug)) > 0.05]
        change = difference_words(family.get((aug, HEATMAP)),
                                  "and its clean PCK@0.05 changes on average over seeds by")
        out += (f" {how}, HeatmapNet stays within 0.05 of its clean score under {len(perturbed) - len(misses)} of "
                f"them" + (f" (not under {', '.join(misses)})" if misses else "") + change + ".")
    return out


def section_robustness(result) -> str:
    if result is None:
        return "## {§robustness} Beyond the training distribution\n\n" + NOT_RUN
    return "\n\n".join(p for p in [
        "## {§robustness} Beyond the training distribution",
        f"Every model scored on the same perturbed copies of the {result.split} split ({result.n_images} images, "
        f"seed {result.seed}); HeatmapNet decoded sub-pixel. Off-centre figures are new figures drawn with their "
        f"centre beyond the training range. How each is scored, every column, the augmented models and occlusion "
        "by keypoint: appendix {§robustness_details}.",
        "\n".join(findings(result)),
        fig("robustness.png", "PCK@0.05 and mean error under each perturbation, the clean images first"),
    ] if p)


def section_robustness_details(result) -> str:
    """The appendix: every column, augmentation, occlusion by keypoint, the example images."""
    if result is None:
        return ""
    return "\n\n".join(p for p in [
        "## {§robustness_details} Beyond the training distribution, in full",
        "Keypoints that a transform moves outside the image are not scored (column *outside*: their share); the PCK "
        "normaliser is the bounding box of all of an image's transformed keypoints. A horizontal flip exchanges the "
        f"left/right labels. Off-centre figures have their centre outside the training range, {CENTRE_RANGE[0]}-"
        f"{CENTRE_RANGE[1]} px in x and y, by the distance in the column's name.",
        robustness_table(result, [m for m in result.models if m in (HEATMAP, REGRESSION)], list(COLUMNS)),
        "**Augmentation** (`data/augment.py`: geometric transforms move the keypoints, flips swap the hand labels, "
        "targets are drawn at the moved keypoints; main protocol otherwise):" if augmentation_findings(result) else "",
        robustness_table(result, [aug for _, aug in AUGMENTED_PAIRS if aug in result.models], ["pck@0.05", "pck@0.2"],
                         where=False) if any(aug in result.models for _, aug in AUGMENTED_PAIRS) else "",
        "\n".join(augmentation_findings(result)),
        "**Occlusion, by keypoint** (PCK@0.05):", occlusion_table(result),
        fig("robustness_examples.png", "The first test image under the strongest setting of each perturbation"),
    ] if p)
