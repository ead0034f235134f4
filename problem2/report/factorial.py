"""The report's decomposition of the gap (factorial.json) and the interventions that test the mechanism
(interventions.json). This module computes the numbers, verdicts and tables; the prose is in templates/factorial.md.
"""
from __future__ import annotations

from problem2.core.stats import percent
from problem2.experiments.registry import INTERVENTIONS
from problem2.report.heads import mean
from problem2.report.markdown import f2, f3, fig, render, table
from problem2.studies.course_ends import ENDS, CourseEnds
from problem2.studies.factorial import FACTOR_LABELS, OTHER_RULE, Factorial
from problem2.studies.interventions import Interventions

INTERVENTION_LABELS = {  # each intervention's name in the prose
    "transposed_regression": "transposed images", "pad_reflect_regression": "reflect padding",
    "pad_replicate_regression": "replicate padding", "pad_circular_regression": "circular padding",
    "pad_circular_wide_regression": "circular padding on the whole-image encoder",
    "long_wide_regression": "90 epochs", "best_l1_regression": "L1 loss", "best_rle_regression": "RLE",
    "flatten_regression": "the flatten head", "flatten_nodropout_regression": "the flatten head without dropout"}
PARTS = {**FACTOR_LABELS, "rest": "HeatmapNet's decoder (what the four leave)"}
MIN_SEEDS = 5  # a part is stated as established only with at least this many seeds in every cell
METRIC_UNITS = {"pck@0.05": (f3, ""), "x_px": (f2, " px"), "y_px": (f2, " px"), "shift_x": (f2, ""),
                "shift_y": (f2, "")}


def ci(d: dict | None, fmt=f3, unit: str = "") -> str:
    """'+0.237 [+0.216, +0.258]' of an interval; '-' for none."""
    if not d:
        return "-"
    sign = lambda v: ("+" if v >= 0 else "-") + fmt(abs(v))  # noqa: E731
    return f"{sign(d['estimate'])}{unit} [{sign(d['low'])}, {sign(d['high'])}]"


def share(d: dict | None) -> str:
    """'44% [40%, 49%]' of a part's share of the gap; '-' where there is no gap to share."""
    s = (d or {}).get("share")
    return "-" if not s else f"{percent(s['estimate'])} [{percent(s['low'])}, {percent(s['high'])}]"


def parts_table(result: Factorial) -> str:
    """Each part of the gap: PCK@0.05 with its share, the x error and the x shift gain (declared rule)."""
    sh = result.shapley[result.rule]
    rows = [[label, ci(sh["pck@0.05"].get(key)), share(sh["pck@0.05"].get(key)),
             ci(sh.get("x_px", {}).get(key), f2, " px"), ci(sh.get("shift_x", {}).get(key), f2)]
            for key, label in PARTS.items()]
    rows.append(["**the whole gap**", ci(sh["pck@0.05"]["gap"]), "100%", ci(sh.get("x_px", {}).get("gap"), f2, " px"),
                 ci(sh.get("shift_x", {}).get("gap"), f2)])
    return table(["part of the gap", "PCK@0.05", "share of the gap", "x error", "x shift gain"], rows)


def interventions_table(result: Interventions) -> str:
    """Each intervention: what it changes, its prediction, its seeds, each difference with its verdict, and the
    verdict; '' when none has a scored run."""
    rows = []
    for i in result.interventions:
        if not i.runs:
            continue
        differences = "; ".join(f"{k}: {ci(d, *METRIC_UNITS[k.split(' - ')[0]])} ({(i.verdicts or {}).get(k, '-')})"
                                for k, d in i.differences.items())
        changed = ", ".join(f"{k}={v}" for k, v in INTERVENTIONS.get(i.name, {}).items())
        trains = f"{i.base} with {changed or 'a change no longer planned'}"
        rows.append([INTERVENTION_LABELS.get(i.name, i.name), trains, i.prediction, len(i.runs), differences,
                     f"**{i.verdict or 'not judged'}**", (i.other_rule or {}).get("verdict") or "-"])
    return table(["intervention", "what it trains", "prediction", "seeds", "its metric - the cell's [95%]",
                  "verdict", f"verdict, {OTHER_RULE.replace('_', ' ')}"], rows) if rows else ""


def decomposes(result: Factorial | None) -> bool:
    """Whether factorial.json holds a decomposition of PCK@0.05 under the declared rule (its sections render)."""
    return result is not None and "pck@0.05" in result.shapley.get(result.rule, {})


def cell_mean(result: Factorial, levels: tuple | None, metric: str = "pck@0.05") -> float | None:
    """A factorial cell's mean of a metric over its seeds under the declared rule (levels None: HeatmapNet); None
    when the cell has no scored run."""
    for c in result.cells[result.rule]:
        if (tuple(c["levels"]) if c["levels"] else None) == levels and c["per_seed"].get(metric):
            return sum(c["per_seed"][metric]) / len(c["per_seed"][metric])
    return None


def section_factorial(result: Factorial | None, interventions: Interventions | None = None,
                      course: CourseEnds | None = None) -> str:
    """The decomposition section (templates/factorial.md), with the ends on the course labels (course_ends.json)
    when there; '' until factorial.json holds a decomposition of PCK@0.05 under the declared rule."""
    if not decomposes(result):
        return ""
    sh, other = result.shapley[result.rule]["pck@0.05"], result.shapley.get(OTHER_RULE, {}).get("pck@0.05", {})
    seeds = [len(c["runs"]) for c in result.cells[result.rule]]
    largest = max(FACTOR_LABELS, key=lambda f: sh[f]["estimate"])
    interactions = significant_interactions(result)
    return render(
        "factorial", seeds_text=f"{min(seeds)} seeds" if min(seeds) == max(seeds) else
        f"{min(seeds)} to {max(seeds)} seeds", min_seeds=min(seeds), established=min(seeds) >= MIN_SEEDS,
        n_images=result.n_images, split="test", table=parts_table(result), threshold_px=result.threshold_px, spec=sh["levels"]["spec"]["estimate"],
        heatmap=sh["levels"]["HeatmapNet"]["estimate"], all_four=sh["levels"]["all"]["estimate"], gap=sh["gap"],
        largest={"label": FACTOR_LABELS[largest], **sh[largest]["share"]} if sh[largest]["share"] else
        {"label": FACTOR_LABELS[largest], "estimate": 0.0, "low": 0.0, "high": 0.0},
        interactions=interactions, substitutes=[i for i in interactions if i["estimate"] < 0],
        rule_changes=[PARTS[k] for k in PARTS if k in other and other[k]["excludes_zero"] != sh[k]["excludes_zero"]],
        selection=selection_gains(result),
        figure=fig("factorial_waterfall.png", "From the specified RegressionNet to HeatmapNet: each factor's part of "
                   "the gap in PCK@0.05 and in x error, 95% intervals over seeds and test images"),
        interventions=interventions and intervention_verdicts(interventions), ends=course_numbers(course))


def selection_gains(result: Factorial) -> dict | None:
    """How the best-validation-loss rule moves each regressor cell's mean PCK@0.05 from its last epoch, by the
    schedule's level: {'constant': (lowest, highest), 'cosine': (lowest, highest), 'substitutes': whether every
    constant-rate cell gains more than any annealed cell moves}; None without cells under both rules."""
    other = {c["name"]: c for c in result.cells.get(OTHER_RULE, [])}
    level = list(FACTOR_LABELS).index("schedule")
    moves = {0: [], 1: []}
    for c in result.cells[result.rule]:
        if c["levels"] and c["name"] in other and c["per_seed"].get("pck@0.05"):
            best, last = other[c["name"]]["per_seed"]["pck@0.05"], c["per_seed"]["pck@0.05"]
            moves[c["levels"][level]].append(sum(best) / len(best) - sum(last) / len(last))
    if not moves[0] or not moves[1]:
        return None
    constant, cosine = (min(moves[0]), max(moves[0])), (min(moves[1]), max(moves[1]))
    return {"constant": constant, "cosine": cosine,
            "substitutes": constant[0] > 0 and constant[0] > max(abs(cosine[0]), abs(cosine[1]))}


def course_numbers(result: CourseEnds | None) -> dict | None:
    """The factorial's ends on the course labels beside side labels, for page one and the decomposition section
    (declared rule): seeds, mean PCK@0.05 of each end, the contrasts' intervals, where the hand predictions lie, and
    the verdict of the prediction written before training; None until every end has a scored run on both kinds of
    labels."""
    if result is None:
        return None
    course, side = result.labels["course"][result.rule], result.labels["side"][result.rule]
    if any(not labels["runs"].get(end) for labels in (course, side) for end in ENDS):
        return None
    hands = ("hand to midpoint px", "hand to nearest hand px")
    return {"n": min(len(r) for r in course["runs"].values()),
            "pck": {end: mean(course["per_seed"][end]["pck@0.05"]) for end in ENDS},
            "gap": course["differences"]["HeatmapNet - specified"]["pck@0.05"],
            "left": course["differences"]["HeatmapNet - best pooled"],
            "side_left": side["differences"]["HeatmapNet - best pooled"],
            "hands": {f"{kind} {end}": {m: mean(labels["per_seed"][end][m]) for m in hands}
                      for kind, labels in (("course", course), ("side", side)) for end in ("best pooled", "HeatmapNet")},
            "verdict": result.verdict[result.rule], "other_verdict": result.verdict.get(OTHER_RULE)}


def significant_interactions(result: Factorial) -> list[dict]:
    """The two-way interactions of PCK@0.05 whose interval excludes zero (declared rule), each with its label and
    its magnitude |estimate|."""
    terms = result.effects[result.rule]["pck@0.05"]
    return [{"label": " x ".join(FACTOR_LABELS[f] for f in term.split(" x ")), "magnitude": abs(d["estimate"]), **d}
            for term, d in terms.items() if " x " in term and d["excludes_zero"]]


def intervention_verdicts(result: Interventions) -> dict | None:
    """How many interventions there are and have runs, their labels by verdict (refuted first) and each trained
    one's findings (intervention_findings) by name; None when none has a scored run."""
    trained = [i for i in result.interventions if i.runs]
    order = ("refuted", "confirmed", "not established")
    by_verdict = [(v, [INTERVENTION_LABELS.get(i.name, i.name) for i in trained if i.verdict == v]) for v in order]
    seeds = sorted({len(i.runs) for i in trained})
    return trained and {"n": len(result.interventions), "trained": len(trained),
                        "seeds": f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]} to {seeds[-1]}",
                        "by_verdict": [(v, names) for v, names in by_verdict if names],
                        "rule_changes": [INTERVENTION_LABELS.get(i.name, i.name) for i in trained if i.other_rule
                                         and i.other_rule.get("verdict") not in (None, i.verdict)],
                        **dict.fromkeys(INTERVENTION_LABELS), **{i.name: intervention_findings(i) for i in trained}}


def intervention_findings(i) -> dict:
    """One trained intervention for the prose: its verdict, seeds, each difference as '+10.67 px [+8.11, +13.61]'
    (keyed 'y_px' when both sides are the same metric, else 'x_px - y_px') and its mean of each metric over seeds."""
    key = lambda k: k.split(" - ")[0] if len(set(k.split(" - "))) == 1 else k  # noqa: E731
    return {"verdict": i.verdict, "n": len(i.runs), "v": {key(k): v for k, v in (i.verdicts or {}).items()},
            "mean": {m: sum(v) / len(v) for m, v in i.per_seed.items()},
            "base_mean": {m: sum(v) / len(v) for m, v in i.base_per_seed.items()},
            **{key(k): ci(d, *METRIC_UNITS[k.split(" - ")[0]]) for k, d in i.differences.items()}}


def rules_table(result: Factorial) -> str:
    """Each part of the PCK@0.05 gap under the declared rule and the other one, and whether its verdict changes."""
    ours, other = result.shapley[result.rule]["pck@0.05"], result.shapley.get(OTHER_RULE, {}).get("pck@0.05", {})
    rows = [[label, f"{ci(ours.get(key))} ({share(ours.get(key))})",
             f"{ci(other.get(key))} ({share(other.get(key))})" if key in other else "-",
             "changes" if key in other and other[key]["excludes_zero"] != ours[key]["excludes_zero"] else ""]
            for key, label in PARTS.items()]
    return table(["part of the gap", f"{result.rule.replace('_', ' ')} (declared)", OTHER_RULE.replace("_", " "),
                  ""], rows)


def section_factorial_details(result: Factorial | None, interventions: Interventions | None = None) -> str:
    """The decomposition in full (templates/factorial_details.md): the parts under both rules, the interventions;
    '' until factorial.json holds a decomposition."""
    if not decomposes(result):
        return ""
    interactions = significant_interactions(result)
    return render("factorial_details", rules_table=rules_table(result), interactions=interactions,
                  substitutes=[i for i in interactions if i["estimate"] < 0],
                  interventions_table=interventions_table(interventions) if interventions else "")
