"""Page one of REPORT.md and the main part's limits: the numbers of the answer (the result with its interval, why,
what fixes it, the caveats) and of the limits, from the JSON files only. The prose is in templates/answer.md (its
paragraphs in templates/answer/, which the README reuses) and templates/limits.md; a paragraph whose study did not run
is left out."""
from __future__ import annotations

from problem2.report.factorial import cell_mean, course_numbers, decomposes
from problem2.report.heads import best_by_share, best_head, mean, shares
from problem2.report.markdown import render
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.evaluation import Metrics
from problem2.studies.factorial import FACTOR_LABELS, OTHER_RULE, Factorial
from problem2.studies.heads import HeadStudy


def protocol(log: dict | None, environment: dict | None) -> str:
    """'30 epochs on 1,000 images on 2 CPU threads', from the main HeatmapNet's training log and the run's
    environment (pipeline.json); '' without the log."""
    if not log or "heatmap" not in log.get("models", {}):
        return ""
    m = log["models"]["heatmap"]
    where = f" on {environment['cpu_threads']} CPU threads" if (environment or {}).get("cpu_threads") else ""
    return f"{m['config']['epochs']} epochs on {m['data']['train']['n']:,} images{where}"


def result_numbers(m: Metrics, s) -> dict:
    """The gap on the test split (sub-pixel HeatmapNet and RegressionNet, course labels), and over seeds with its
    paired bootstrap interval when the seeds ran (templates/answer/result.md)."""
    boot = s["seeds"]["bootstrap"]["0.05"] if s else None
    return {"n_images": m.n_images, "split": m.split, "regression": m.methods["regression"].standard.pck["0.05"],
            "subpixel": m.methods["heatmap_subpixel"].standard.pck["0.05"],
            "seeds": boot and {"n": len(s["seeds"]["seeds"]), "diff": boot["diff"], "low": boot["low"],
                               "high": boot["high"]}}


def why_numbers(d) -> dict:
    """The mechanism's two numbers (diagnosis.json): the linear probe on pooled features per axis and the shift
    gains (templates/answer/why.md); {'why': False} without the diagnosis."""
    if not d:
        return {"why": False}
    shift, probe = d["shift"], d["probes"]["regression"]["after_pooling"]
    return {"why": True, "probe_x": probe["x"]["mean_abs_err"], "probe_y": probe["y"]["mean_abs_err"],
            "shift_regression_x": shift["regression"]["x"], "shift_regression_y": shift["regression"]["y"],
            "shift_heatmap_x": shift["heatmap"]["x"]}


POSITION_LOST, POSITION_KEPT = 0.25, 0.75  # x shift gains: below, the model ignores where the figure is; above, follows it


def border_test(interventions) -> dict | None:
    """The circular-padding intervention (no image border) for page one: the seeds of the smaller side (it or the
    specified cell), its y-error difference against that cell and whether that difference confirmed the
    prediction; None before it has runs."""
    circular = next((i for i in (interventions.interventions if interventions else [])
                     if i.name == "pad_circular_regression" and i.runs and "y_px - y_px" in i.differences), None)
    if circular is None:
        return None
    d = circular.differences["y_px - y_px"]
    return {"n": min(len(circular.runs), len(circular.base_runs)), "y_px": d["estimate"], "low": d["low"],
            "high": d["high"], "confirmed": (circular.verdicts or {}).get("y_px - y_px") == "confirmed"}


def decomposed_numbers(factorial, interventions=None) -> dict:
    """Page one's why from the decomposition (templates/answer/why_decomposed.md): each factor's share of the
    PCK@0.05 gap, the cells that say which handicap is which, and the border's test by training (interventions:
    interventions.json); {'decomposed': False} without factorial.json."""
    parts = (factorial.shapley.get(factorial.rule, {}).get("pck@0.05") if factorial else None) or {}
    if "gap" not in parts or not all((parts.get(f) or {}).get("share") for f in FACTOR_LABELS):
        return {"decomposed": False}
    other = factorial.shapley.get(OTHER_RULE, {}).get("pck@0.05", {})
    cell = lambda levels: {"pck": cell_mean(factorial, levels),  # noqa: E731
                           "shift_x": cell_mean(factorial, levels, "shift_x")}
    cells = {"spec": cell((0, 0, 0, 0)), "readout": cell((1, 0, 0, 0)), "field": cell((0, 0, 0, 1)),
             "readout_dropout": cell((1, 1, 0, 0)), "best_pooled": cell((0, 1, 1, 1)), "heatmap": cell(None)}
    seeds = min(len(c["runs"]) for c in factorial.cells[factorial.rule])
    shift = lambda name: cells[name]["shift_x"] if cells[name]["shift_x"] is not None else float("nan")  # noqa: E731
    gap = parts["gap"]["estimate"]
    return {"decomposed": True, "established": seeds >= 5, "cell_seeds": seeds, "gap": gap,
            "parts": sorted(({"label": WHY_LABELS[f], **parts[f]["share"]} for f in FACTOR_LABELS),
                            key=lambda p: -p["estimate"]),
            "rest": parts["rest"]["share"], "cells": cells,
            "rule_sensitive": [WHY_LABELS[f] for f in FACTOR_LABELS if f in other
                               and other[f]["excludes_zero"] != parts[f]["excludes_zero"]],
            "position_lost": shift("spec") < POSITION_LOST,
            "position_restored": min(shift("readout"), shift("field")) > POSITION_KEPT,
            "dropout_caps": cells["readout_dropout"]["pck"] - cells["readout"]["pck"] > gap / 2,
            "pooling_suffices": cells["heatmap"]["pck"] - cells["best_pooled"]["pck"] < gap / 20,
            "border": border_test(interventions)}


WHY_LABELS = {"readout": "global pooling instead of reading the map", "dropout": "dropout 0.5",
              "schedule": "the constant learning rate", "field": "the 46 px receptive field"}


def fix_numbers(heads: HeadStudy | None) -> dict:
    """What closes the gap, from the heads study: the best head without a decoder, and the best loss on pooled
    features as a share of the RegressionNet-HeatmapNet gap on side labels (templates/answer/fix.md); {'fix': False}
    without the study's scores."""
    best, share = (best_head(heads), shares(heads)) if heads else (None, {})
    if best is None or not share:
        return {"fix": False}
    top = best_by_share(heads, share, "global pooling", "distribution")
    hm = heads.row("heatmap")
    return {"fix": True,
            "best": {"label": best.label, "side": mean(best.scores["side"]), "gflops": best.gflops_forward},
            "heatmap": {"side": mean(hm.scores["side"]), "gflops": hm.gflops_forward},
            "pooled": top and {"share": share[top], "label": heads.row(top).label,
                               "side": mean(heads.row(top).scores["side"])}}


def section_answer(m: Metrics, s, d, heads: HeadStudy | None, trained: str, factorial=None,
                   interventions=None, course=None) -> str:
    """The report's first section (templates/answer.md): the answer, then the glossary (trained: protocol(...)); why
    from the decomposition when factorial.json is there, else from the diagnosis; the ends on the course labels
    from course_ends.json (course) beside them."""
    return render("answer", **result_numbers(m, s), **why_numbers(d), **decomposed_numbers(factorial, interventions),
                  ends=course_numbers(course),
                  **fix_numbers(heads),
                  ceiling=s["ambiguity"]["ceiling"]["0.05"] if s else None, trained=trained)


def section_limits(heads: HeadStudy | None, de: DataEfficiency | None, s, seeded, trained: str,
                   factorial: Factorial | None = None) -> str:
    """What this report does not show (templates/limits.md): the kind of images, the data and training size (with
    the largest set the learning curves reached), the seeds of each part, the heads' untested conditions."""
    trained_points = {m: [p for p in de.curve(m) if p.summary["pck@0.05"][2]] for m in ("regression", "heatmap")} \
        if de else {}
    curve = None
    if trained_points.get("regression") and trained_points.get("heatmap"):
        reg, hm = trained_points["regression"][-1], trained_points["heatmap"][-1]
        curve = {"n": f"{reg.train_images:,}", "regression": reg.summary["pck@0.05"][0],
                 "heatmap": hm.summary["pck@0.05"][0], "seeds": reg.summary["pck@0.05"][2]}
    counts = [("the main pair", len(s["seeds"]["seeds"]) if s else 0),
              ("the ablations", len(seeded.seeds) if seeded else 0),
              ("the heads", heads.n_seeds() if heads else 0),
              ("the factorial's cells", min(len(c["runs"]) for c in factorial.cells[factorial.rule])
               if decomposes(factorial) else 0)]
    return render("limits", trained_sentence=trained[:1].upper() + trained[1:] if trained else "One small set",
                  curve=curve, seeds=[(name, n) for name, n in counts if n], heads=bool(heads),
                  decomposed=decomposes(factorial), ablations_last=bool(seeded) and seeded.rule == "last_epoch")
