"""The report's ablation section and appendix: single-seed tables of ablation.json, the seeded table of
ablation_seeds.json, the noise band and the confounds of each ablation. This module computes the numbers, verdicts
and tables; the prose is in templates/ablations*.md."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from problem2.core import stats, storage
from problem2.experiments.registry import ablation_seed_runs
from problem2.report.markdown import NOT_RUN, T, f2, f3, fig, mean_sd, render, table
from problem2.studies.ablation_seeds import SeededAblations
from problem2.studies.ablations import AblationRun, Ablations


def ablation_table(name: str, rows: list[AblationRun]) -> str:
    """One ablation (rows of ablation.json) as a table: each setting with argmax and sub-pixel decoding."""
    header = [name.replace("_", " "), "decoding"] + [f"PCK@{t}" for t in T] + ["mean px", "swap-inv. PCK@0.05",
                                                                                 "swap-inv. mean px", "train min"]
    body = []
    for r in rows:
        for d in ("argmax", "subpixel"):
            st, inv = r.scores(d, "standard"), r.scores(d, "hand_swap_invariant")
            body.append([r.setting, d] + [f3(st.pck[t]) for t in T]
                        + [f2(st.mean_px), f3(inv.pck["0.05"]), f2(inv.mean_px), f"{r.train_seconds / 60:.1f}"])
    return table(header, body)


def write_ablation_markdown(results: Path) -> Path:
    """RESULTS/ablation.md: ablation_markdown of RESULTS/ablation.json."""
    path = Path(results) / "ablation.md"
    storage.save_text(ablation_markdown(Ablations.load(Path(results) / "ablation.json")), path)
    return path


def ablation_markdown(ab: Ablations) -> str:
    """Every ablation table of ablation.json."""
    return "\n\n".join(f"**{name.replace('_', ' ')}** ({ab.split}, {ab.n_images} images)\n\n"
                         + ablation_table(name, rows) for name, rows in ab.ablations.items()) + "\n"


COMPARED_METRICS = ("pck@0.05", "pck@0.2", "head_feet_px", "head_feet_px_fit")
METRIC_NAMES = {"pck@0.05": "PCK@0.05", "pck@0.2": "PCK@0.2", "head_feet_px": "head+feet error (px)",
                "head_feet_px_fit": "head+feet error, window fit (px)"}


def default_row(rows: list):
    """The setting that is the main model (64 x 64, sigma 2, skips), or None."""
    return next((r for r in rows if r.runs and list(r.runs.values()) == ablation_seed_runs("main", map(int, r.runs))),
                None)


def seed_values(row, metric: str) -> list:
    return [v[metric] for v in row.per_seed.values() if v.get(metric) is not None]


def ablation_comparisons(seeded: SeededAblations) -> dict:
    """{(ablation, setting, metric): stats.Comparison or None}: every setting against its ablation's default point
    in each of COMPARED_METRICS. The test is Welch's over seeds, Holm-corrected over the family; the interval is the
    study's bootstrap over seeds and test images (SeededSetting.contrast) where the file has it."""
    pairs, intervals = {}, {}
    for name, rows in seeded.ablations.items():
        default = default_row(rows)
        for r in rows if default is not None else []:
            if r is not default:
                pairs |= {(name, r.setting, m): (seed_values(r, m), seed_values(default, m)) for m in COMPARED_METRICS}
                intervals |= {(name, r.setting, m): ci for m, ci in (r.contrast or {}).items()}
    return {key: c if c is None or key not in intervals else
            replace(c, diff=intervals[key]["estimate"], low=intervals[key]["low"], high=intervals[key]["high"])
            for key, c in stats.compare_family(pairs).items()}


def verdict(c, fmt=f3, unit: str = "") -> str:
    """'+0.012 [-0.004, 0.028], within seed noise' for a stats.Comparison: its interval, and stats.noise_words (Welch
    + Holm; 'not established (n = k)' where the interval excludes zero and the test does not reject)."""
    if c is None:
        return "(fewer than two seeds on a side: not compared)"
    return f"{'+' if c.diff >= 0 else '-'}{fmt(abs(c.diff))}{unit} [{fmt(c.low)}, {fmt(c.high)}], {stats.noise_words(c)}"


def seeded_findings(seeded: SeededAblations, family: dict) -> str:
    """Each ablation over seeds against the default point (64 x 64, sigma 2, skips), in labelled PCK@0.05, PCK@0.2
    and head+feet error, with the 95% interval over seeds and images and the Holm-corrected verdict (family:
    ablation_comparisons(seeded)); templates/ablations_findings.md."""
    ablations = []
    for name, rows in seeded.ablations.items():
        default = default_row(rows)
        if default is None or not default.n_seeds():
            continue
        c = lambda r, m: family.get((name, r.setting, m))  # noqa: E731
        compared = [{"setting": r.setting, "verdicts": r.n_seeds() > 1 and {
            "pck@0.05": verdict(c(r, "pck@0.05")), "pck@0.2": verdict(c(r, "pck@0.2")),
            "head_feet_px": verdict(c(r, "head_feet_px"), f2, " px"),
            "head_feet_px_fit": "head_feet_px_fit" in r.summary and verdict(c(r, "head_feet_px_fit"), f2, " px")}}
            for r in rows if r is not default and r.n_seeds()]
        ablations.append({"name": name, "default": default.setting, "n_seeds": default.n_seeds(),
                          "compared": compared, "untrained": [r.setting for r in rows if r is not default],
                          "missing": [r.setting for r in rows if not r.n_seeds()]})
    return render("ablations_findings", ablations=ablations)


def unresolved(family: dict) -> int:
    """How many comparisons have an interval that excludes zero without the corrected test rejecting."""
    return sum(1 for c in family.values() if c is not None and not c.beyond_noise and not c.low <= 0 <= c.high)


def decoder_finding(seeded: SeededAblations) -> dict | None:
    """Does the resolution ranking at a fixed Gaussian width come from the maps or from the 3x3 Newton step?
    Head+feet error of each resolution under both decodings; explained (the mechanism stated) only when the 3x3
    step's error grows with resolution and the window fit's does not."""
    rows = {r.setting: r for r in seeded.ablations.get("resolution (Gaussian fixed at 4 image px)", [])}
    order = [s for s in ("32, sigma 1", "64, sigma 2", "128, sigma 4") if s in rows and rows[s].n_seeds()]
    if len(order) < 3 or any("head_feet_px_fit" not in rows[s].summary or not rows[s].summary["head_feet_px_fit"][2]
                             for s in order):
        return None
    newton = [rows[s].summary["head_feet_px"][0] for s in order]
    fit = [rows[s].summary["head_feet_px_fit"][0] for s in order]
    return {"newton": newton, "fit": fit, "explained": newton[0] < newton[1] < newton[2] and fit[2] <= fit[0]}


def resolution_confound(family: dict) -> dict | None:
    """Whether the 32 x 32 loss of the sigma-2 resolution ablation is the grid or the wider Gaussian: recovered
    when the sigma-2 loss is beyond noise and the fixed-width one is not."""
    wide = family.get(("resolution (sigma 2 heatmap px)", "32", "pck@0.05"))
    fixed = family.get(("resolution (Gaussian fixed at 4 image px)", "32, sigma 1", "pck@0.05"))
    if wide is None or fixed is None:
        return None
    return {"grid_recovered": wide.beyond_noise and wide.diff < 0 and not fixed.beyond_noise, "drop": -wide.diff,
            "wide": verdict(wide), "fixed": verdict(fixed)}


def rule_changes(seeded: SeededAblations, declared: dict) -> list:
    """The comparisons whose verdict (stats.noise_words) differs between the declared rule (declared:
    ablation_comparisons(seeded)) and the lowest validation loss: 'sigma 4, PCK@0.2: not established (n = 3) ->
    beyond seed noise' each; [] without the other rule."""
    if not seeded.other_rule:
        return []
    other = ablation_comparisons(replace(seeded, ablations=seeded.other_rule))
    words = lambda c: "not compared" if c is None else stats.noise_words(c)  # noqa: E731
    return [f"{name.split(' (')[0]} {setting}, {METRIC_NAMES.get(metric, metric)}: {words(c)} -> "
            f"{words(other.get((name, setting, metric)))}" for (name, setting, metric), c in declared.items()
            if words(c) != words(other.get((name, setting, metric)))]


def beyond_noise(family: dict) -> list:
    """The comparisons that pass Welch + Holm: 'sigma 1, PCK@0.05: -0.047 [-0.074, -0.021]' each."""
    return [f"{name.split(' (')[0]} {setting}, {METRIC_NAMES.get(metric, metric)}: "
            f"{verdict(c, f2 if '_px' in metric else f3).rsplit(', ', 1)[0]}"
            for (name, setting, metric), c in family.items() if c is not None and c.beyond_noise]


def seeded_ablation_table(seeded: SeededAblations) -> str:
    """ablation_seeds.json's table for the appendix: every setting, mean ± sd over its seeds."""
    rows = [[name, r.setting, ", ".join(r.per_seed) or "none"]
            + [mean_sd(r.summary[m], f2 if "_px" in m else f3) for m in seeded.metrics]
            for name, settings in seeded.ablations.items() for r in settings]
    return table(["ablation", "setting", "seeds", "PCK@0.05", "PCK@0.2", "swap-inv. PCK@0.05", "head+feet px",
                  "head+feet px, window fit"][:3 + len(seeded.metrics)], rows)


def section_ablations(ab: Ablations | None, m=None, s: dict | None = None,
                      seeded: SeededAblations | None = None) -> str:
    """The main part's section (templates/ablations.md). ab: ablation.json; m: results.Metrics; s: studies.json;
    seeded: ablation_seeds.json."""
    if ab is None:
        return render("ablations", run=False, not_run=NOT_RUN)
    family = ablation_comparisons(seeded) if seeded else {}
    return render("ablations", run=True, protocol=ab.protocol, split=ab.split, n_images=ab.n_images,
                  seeded=bool(seeded) and {
                      "rule": seeded.rule, "rule_changes": len(rule_changes(seeded, family)) if seeded.other_rule else None,
                      "n_seeds": len(seeded.seeds), "n_comparisons": len(family), "passed": beyond_noise(family),
                      "unresolved": unresolved(family),
                      "syntheses": render("ablations_syntheses", confound=resolution_confound(family), decoder=None),
                      "figure": fig("ablation_seeds.png",
                                    "Ablations over seeds: mean ± sd, the number of seeds n under each setting")},
                  seed0=not seeded and ablation_details(ab, heading=False))


def section_ablation_details(ab: Ablations | None, m=None, s: dict | None = None,
                             seeded: SeededAblations | None = None) -> str:
    """The appendix (templates/ablations_details.md): the noise band (the hand coin flip from m, results.Metrics;
    the main HeatmapNet's seed spread from s, studies.json), every setting over seeds, each ablation at seed 0."""
    if ab is None:
        return ""
    sd = s["seeds"]["summary"]["heatmap_subpixel"]["standard"] if s else None
    family = ablation_comparisons(seeded) if seeded else {}
    return render("ablations_details", run=True,
                  coin_sd=m.references.coin_flip_hands["0.05"][1] if m and m.references else None,
                  seeds_sd=sd and {"pck": sd["pck@0.05"][1], "px": sd["mean_px"][1]},
                  seeded=bool(seeded) and {"split": seeded.split, "n_images": seeded.n_images,
                                           "rule": seeded.rule, "rule_changes": rule_changes(seeded, family),
                                           "has_other_rule": bool(seeded.other_rule),
                                           "table": seeded_ablation_table(seeded),
                                           "findings": seeded_findings(seeded, family),
                                           "decoder": render("ablations_syntheses", confound=None,
                                                             decoder=decoder_finding(seeded))},
                  seed0=ablation_details(ab, heading=False, seeded=True))


def ablation_details(ab: Ablations, heading: bool = True, seeded: bool = False) -> str:
    """Every ablation at seed 0 (templates/ablations_seed0.md): its table, best settings and figure."""
    ablations = []
    for name, rows in ab.ablations.items():
        best = min(rows, key=lambda r: r.subpixel_hand_swap_invariant.mean_px)
        best_pck = max(rows, key=lambda r: r.subpixel_standard.pck["0.05"])
        ablations.append({
            "name": name, "title": name.replace("_", " "), "table": ablation_table(name, rows),
            "best": best.setting, "best_px": best.subpixel_hand_swap_invariant.mean_px, "best_pck": best_pck.setting,
            "best_pck_value": best_pck.subpixel_standard.pck["0.05"],
            "argmax_spread": [r.argmax_hand_swap_invariant.mean_px - r.subpixel_hand_swap_invariant.mean_px
                              for r in rows],
            "figure": fig(f"ablation_{name}.png", f"Ablation of {name.replace('_', ' ')}")})
    extra = {r.run: r.train_seconds for rows in ab.ablations.values() for r in rows if r.run != "main_heatmap"}
    return render("ablations_seed0", heading=heading, seeded=seeded, ablations=ablations, n_extra=len(extra),
                  extra_minutes=sum(extra.values()) / 60)
