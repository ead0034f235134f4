"""The report's robustness section and appendix, and the README's paragraph, from robustness.json
(studies.robustness.Robustness). This module computes the numbers and verdicts; the prose is in templates/robustness*.md.
"""
from __future__ import annotations

from problem2.core import stats
from problem2.data.augment import AugmentConfig, aimed_depth_share
from problem2.data.generate import CENTRE_RANGE
from problem2.report.markdown import NOT_RUN, f2, f3, fig, mean_sd, render, table

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


MAIN_FINDINGS = ("geometry", "off")  # the bullets of the main part; the others go to the appendix


def findings(result, main: bool = True) -> str:
    """The bullets that tie the numbers to the mechanism (templates/robustness_findings.md): those of MAIN_FINDINGS
    (main) or the others (the appendix); '' without both specified models."""
    if HEATMAP not in result.models or REGRESSION not in result.models:
        return ""
    rows = {r.name: r for r in result.rows}
    geometric = [r for r in result.rows if r.group == "geometric"]
    steady = [r.name for r in geometric if abs(drop(result, r, HEATMAP)) <= 0.05]
    off = [r for r in geometric if r.family == "off-centre figure"]
    noise = [r for r in result.rows if r.family == "noise"]
    occluded = [r for r in result.rows if r.hidden]
    reg = lambda row, metric: row.scores[REGRESSION][metric]  # noqa: E731
    worst = min(off, key=lambda r: reg(r, "pck@0.05")) if off else None
    weak, inv, big = (noise or [None])[0], rows.get("invert"), (occluded or [None])[-1]
    bullets = dict(geometry=steady and {
        "steady": steady, "hurt_rotate": [{"name": r.name, "loss": -drop(result, r, HEATMAP)} for r in geometric
                                          if drop(result, r, HEATMAP) < -0.05 and r.family == "rotate"]},
        off=worst and {"reg_pck": reg(worst, "pck@0.05"), "strength": worst.strength,
                       "hm_pck": worst.scores[HEATMAP]["pck@0.05"], "reg_x": reg(worst, "x_abs_px"),
                       "clean_x": result.clean(REGRESSION, "x_abs_px")},
        noise=weak and {"strength": weak.strength, "hm_change": drop(result, weak, HEATMAP),
                        "reg_clean": result.clean(REGRESSION, "pck@0.05"), "reg_pck": reg(weak, "pck@0.05"),
                        "reg_clean_y": result.clean(REGRESSION, "y_abs_px"), "reg_y": reg(weak, "y_abs_px"),
                        "reg_y_bias": reg(weak, "y_bias_px"), "hm_y": weak.scores[HEATMAP]["y_abs_px"]},
        invert=inv and {"hm_pck": inv.scores[HEATMAP]["pck@0.05"],
                        "costs": [{"name": r.name, "loss": -drop(result, r, HEATMAP)} for r in result.rows
                                  if r.family in ("brightness", "contrast")]},
        occlusion=big and {"strength": big.strength, "hidden": big.hidden[HEATMAP]["pck@0.05"],
                           "visible": big.visible[HEATMAP]["pck@0.05"]})
    return render("robustness_findings", **{k: v if (k in MAIN_FINDINGS) == main else None for k, v in bullets.items()})


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


def comparison(c) -> dict | None:
    """A stats.Comparison as the templates show it: diff, low, high and its noise words; None for None."""
    return c and {"diff": c.diff, "low": c.low, "high": c.high, "words": stats.noise_words(c)}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def augmentation_findings(result) -> str:
    """What augmentation changes (templates/robustness_augmentation.md): the families it saw, occlusion, each
    augmented model's clean score over seeds and its suite at seed 0, and why it costs RegressionNet."""
    seen = None
    if result.augmentation:
        config = next(iter(result.augmentation.values()))  # the families are the same for every augmented model
        families = sorted({SEEN_BY_AUGMENTATION[k] for k in config if k in SEEN_BY_AUGMENTATION})
        seen = {"families": families,
                "unseen": [f for f in dict.fromkeys(r.family for r in result.rows[1:]) if f not in families]}
    family, models = clean_comparisons(result), []
    for plain, aug in AUGMENTED_PAIRS:
        if aug not in result.models or plain not in result.models:
            continue
        perturbed = result.rows[1:]
        misses = [r for r in perturbed if abs(drop(result, r, aug)) > 0.05]
        seeds = (result.clean_seeds or {}).get(aug, {}).get("summary", {}).get("pck@0.05")
        plain_seeds = (result.clean_seeds or {}).get(plain, {}).get("summary", {}).get("pck@0.05")
        over_seeds = bool(seeds and plain_seeds and seeds[2])
        models.append({"name": aug, "clean": result.clean(aug, "pck@0.05"),
                       "plain_clean": result.clean(plain, "pck@0.05"),
                       "seeds": over_seeds and mean_sd(seeds), "n": over_seeds and plural(seeds[2], "seed"),
                       "plain_seeds": over_seeds and mean_sd(plain_seeds),
                       "plain_n": over_seeds and plural(plain_seeds[2], "seed"),
                       "comparison": comparison(family.get((aug, plain))),
                       "steady": len(perturbed) - len(misses), "perturbed": len(perturbed),
                       "misses": [{"name": r.name, "change": drop(result, r, aug)} for r in misses]})
    axes = {k: (result.clean_seeds or {}).get(k, {}).get("summary", {}) for k in (REGRESSION, AUGMENTED[REGRESSION])}
    regression_axes = None
    if all(a.get("x_abs_px", [None, None, 0])[2] for a in axes.values()):
        (x0, y0), (x1, y1) = [(a["x_abs_px"][0], a["y_abs_px"][0]) for a in axes.values()]  # plain, augmented
        regression_axes = {"x0": x0, "y0": y0, "x1": x1, "y1": y1}
    return render("robustness_augmentation", seen=seen, models=models, regression_axes=regression_axes,
                  **occlusion_findings(result))


def occlusion_findings(result) -> dict:
    """Why random cutout leaves occlusion hard, and what cutouts aimed at keypoints change (when trained): the
    numbers of the template's cutout, aimed and shift bullets (None each when its models are missing)."""
    occluded = [r for r in result.rows if r.hidden]
    rates = result.cutout_hide_rate or {}
    aug = AUGMENTED[HEATMAP]
    none = {"cutout": None, "aimed": None, "shift": None}
    if not occluded or aug not in rates or aug not in result.models:
        return none
    big = occluded[-1]
    cutout = {"hide_rate": 100 * rates[aug], "strength": big.strength, "hidden": big.hidden[aug]["pck@0.05"],
              "hidden_plain": big.hidden[HEATMAP]["pck@0.05"], "visible": big.visible[aug]["pck@0.05"]}
    if AIMED not in rates or AIMED not in result.models:
        return none | {"cutout": cutout}
    gain = big.hidden[AIMED]["pck@0.05"] - big.hidden[aug]["pck@0.05"]
    aimed = {"hide_rate": 100 * rates[AIMED], "hidden": big.hidden[AIMED]["pck@0.05"], "gain": gain,
             "visible": big.visible[AIMED]["pck@0.05"], "learnt": gain > 0.1}
    hid, depth = big.hidden[AIMED], int(big.strength.split()[0]) // 2
    shift = None
    if gain <= 0.1 and abs(hid["y_bias_px"]) > 0.8 * hid["y_abs_px"]:
        shift = {"y_abs": hid["y_abs_px"], "y_bias": hid["y_bias_px"], "pck02": hid["pck@0.2"], "depth": depth,
                 "deep_share": 100 * aimed_depth_share(AugmentConfig(**result.augmentation[AIMED]), depth)}
    return {"cutout": cutout, "aimed": aimed, "shift": shift}


def robustness_sentence(result) -> str:
    """The README's paragraph on robustness.json (templates/robustness_readme.md); '' without both specified models."""
    perturbed = result.rows[1:]
    if HEATMAP not in result.models or REGRESSION not in result.models:
        return ""
    worst = {m: min(perturbed, key=lambda r: r.scores[m]["pck@0.05"]) for m in (HEATMAP, REGRESSION)}
    family, augmented = clean_comparisons(result), []
    for aug, how in ((AUGMENTED[HEATMAP], "Trained with augmentation (`augment.py`)"),
                     (AIMED, "With half of its cutouts aimed at keypoints")):
        if aug in result.models:
            misses = [r.name for r in perturbed if abs(drop(result, r, aug)) > 0.05]
            augmented.append({"how": how, "steady": len(perturbed) - len(misses), "misses": misses,
                              "comparison": comparison(family.get((aug, HEATMAP)))})
    return render("robustness_readme", perturbed=len(perturbed), hm_clean=result.clean(HEATMAP, "pck@0.05"),
                  hm_steady=sum(abs(drop(result, r, HEATMAP)) <= 0.05 for r in perturbed),
                  hm_worst={"name": worst[HEATMAP].name, "pck": worst[HEATMAP].scores[HEATMAP]["pck@0.05"]},
                  reg_clean=result.clean(REGRESSION, "pck@0.05"),
                  reg_halved=sum(r.scores[REGRESSION]["pck@0.05"] < result.clean(REGRESSION, "pck@0.05") / 2
                                 for r in perturbed),
                  reg_worst={"name": worst[REGRESSION].name,
                             "pck": worst[REGRESSION].scores[REGRESSION]["pck@0.05"]},
                  augmented=augmented)


def section_robustness(result) -> str:
    """The main part's robustness section (templates/robustness.md)."""
    if result is None:
        return render("robustness", run=False, not_run=NOT_RUN)
    return render("robustness", run=True, split=result.split, n_images=result.n_images, seed=result.seed,
                  findings=findings(result),
                  figure=fig("robustness.png", "PCK@0.05 and mean error under each perturbation, the clean images first"))


def section_robustness_details(result) -> str:
    """The appendix (templates/robustness_details.md): every column, augmentation, occlusion by keypoint, the
    example images; '' when the study did not run."""
    if result is None:
        return ""
    augmented = [aug for _, aug in AUGMENTED_PAIRS if aug in result.models]
    return render("robustness_details", run=True, centre_range=CENTRE_RANGE,
                  table=robustness_table(result, [m for m in result.models if m in (HEATMAP, REGRESSION)],
                                         list(COLUMNS)),
                  augmentation=augmentation_findings(result), findings=findings(result, main=False),
                  augmented_table=augmented and robustness_table(result, augmented, ["pck@0.05", "pck@0.2"],
                                                                 where=False),
                  occlusion_table=occlusion_table(result),
                  figure=fig("robustness_examples.png",
                             "The first test image under the strongest setting of each perturbation"))
