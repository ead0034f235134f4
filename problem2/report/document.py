"""REPORT.md, rendered only from the JSON files in a results directory (never from typed numbers).

    python -m problem2 report --results DIR           # re-render DIR/REPORT.md
    python -m problem2 report --update-reference      # the committed reference and the README block

Sections whose JSON is missing (e.g. studies skipped) say so instead of failing. Rendering is a
pure function of the JSON files, so the committed report can be checked against them.
"""
from __future__ import annotations

from pathlib import Path

from problem2.core import storage
from problem2.core.results import Ablations, Metrics, SeededAblations, load_optional
from problem2.report import mechanism as why
from problem2.report.ablations import section_ablation_details, section_ablations
from problem2.report.answer import protocol, section_answer, section_limits
from problem2.report.data_efficiency import section_data_efficiency
from problem2.report.heads import section_heads
from problem2.report.markdown import APPENDICES, NOT_RUN, T, f2, f3, fig, number_sections, table
from problem2.report.references import section_references, show_citations
from problem2.report.robustness import section_robustness, section_robustness_details
from problem2.report.speed import section_speed
from problem2.report.studies import METHOD_LABELS, section_ambiguity, section_cost, section_seeds, section_variants
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.failures import category_name
from problem2.studies.heads import HeadStudy
from problem2.studies.result_files import SECTION_FILES, load_sections
from problem2.studies.robustness import Robustness


def probe_x_px(diagnosis: dict | None) -> float | None:
    """x error of a linear probe on the main RegressionNet's pooled features (diagnosis.json), or None."""
    try:
        return diagnosis["probes"]["regression"]["after_pooling"]["x"]["mean_abs_err"]
    except (KeyError, TypeError):
        return None


def load(results: Path, name: str):
    """A stage's result file typed (studies/result_files.load_sections); the run's bookkeeping (pipeline.json,
    training_log.json) as the dicts their writers document."""
    if name in SECTION_FILES:
        return load_sections(results, name)
    return storage.load_json(Path(results) / name)


def pck_rows(methods: dict, kind: str) -> list:
    """methods: Metrics.methods; kind 'standard' or 'hand_swap_invariant'."""
    rows = []
    for m in METHOD_LABELS:
        scores = getattr(methods[m], kind)
        rows.append([METHOD_LABELS[m]] + [f3(scores.pck[t]) for t in T] + [f2(scores.mean_px), f2(scores.median_px)])
    return rows


PCK_HEADER = ["method", "PCK@0.05", "PCK@0.1", "PCK@0.15", "PCK@0.2", "mean px", "median px"]


def headline_table(results: Path, swap_invariant: bool = True) -> str:
    """The PCK table of metrics.json (labelled hands, and hand-swap-invariant unless swap_invariant=False)."""
    m = load_optional(Metrics, results, "metrics.json")
    if m is None:
        return "(no metrics.json yet)"
    note = f"\n\n{why.REFERENCE_NOTE}" if m.references else ""
    invariant = ("\n\nHand-swap-invariant:\n\n" + table(PCK_HEADER, pck_rows(m.methods, "hand_swap_invariant")
                                                          + why.reference_rows(m, "hand_swap_invariant"))
                 if swap_invariant else "")
    return (f"{m.split} split, {m.n_images} images, PCK normalised by the bounding-box diagonal\n\n"
            + table(PCK_HEADER, pck_rows(m.methods, "standard") + why.reference_rows(m, "standard")) + invariant
            + note)


def section_results(m: Metrics) -> tuple[str, str]:
    """(the main comparison, its appendix per keypoint) from metrics.json."""
    names, methods = m.keypoint_names, m.methods
    per_kp = [[METHOD_LABELS[k]] + [f3(v) for v in methods[k].standard.pck_per_keypoint["0.05"]] for k in METHOD_LABELS]
    per_kp_inv = [[METHOD_LABELS[k] + " (swap-inv.)"]
                  + [f3(v) for v in methods[k].hand_swap_invariant.pck_per_keypoint["0.05"]] for k in METHOD_LABELS]
    err = [[METHOD_LABELS[k]] + [f2(v) for v in methods[k].standard.mean_px_per_keypoint] for k in METHOD_LABELS]
    auc = ", ".join(f"{METHOD_LABELS[k]} {f3(methods[k].standard.pck_auc)}" for k in METHOD_LABELS)
    torso = [[METHOD_LABELS[k]] + [f3(methods[k].standard.pck_torso[t]) for t in T] for k in METHOD_LABELS]
    return "\n\n".join(p for p in [
        "## {§main} Main comparison",
        f"Both models trained with the specified protocol on the same data; scored on the {m.split} split "
        f"({m.n_images} images).",
        "**Course labels (the assignment's metric)**",
        table(PCK_HEADER, pck_rows(methods, "standard") + why.reference_rows(m, "standard")),
        "**Hand-swap-invariant** (per image, the better of the given and the swapped left/right hand assignment)",
        table(PCK_HEADER, pck_rows(methods, "hand_swap_invariant") + why.reference_rows(m, "hand_swap_invariant")),
        why.REFERENCE_NOTE if m.references else "",
        fig("pck_curves.png", "PCK against threshold; dotted lines mark 0.05, 0.1, 0.15 and 0.2"),
        fig("sample_predictions.png", "Both methods on the same test images"),
        "Per keypoint and with the torso normaliser: appendix {§main_details}.",
    ] if p), "\n\n".join([
        "## {§main_details} The main comparison, per keypoint",
        f"Area under the PCK curve (thresholds 0 to 0.3): {auc}.",
        "**PCK@0.05 per keypoint**", table(["method"] + names, per_kp + per_kp_inv),
        "**Mean error per keypoint (pixels)**", table(["method"] + names, err),
        "**PCK with the torso normaliser** (head to the midpoint of the feet)",
        table(["method"] + [f"PCK@{t}" for t in T], torso),
        fig("single_prediction_heatmap.png", "One test image through the assignment's visualize_predictions: "
            "HeatmapNet, sub-pixel")])


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
        "## {§training} Training and learned heatmaps",
        table(["model", "epochs", "best epoch", "val loss", "val mean px", "val PCK@0.05", "train min",
               "median img/s", "precision"], rows),
        command_timing(log),
        fig("training_curves.png", "Training and validation curves of both models"),
        fig("heatmap_training_stages.png", "Predicted heatmaps of one validation image after several epochs"),
    ])


DECODING_NAMES = {"subpixel": "sub-pixel", "argmax": "by argmax"}


def section_failures(fc: dict | None) -> tuple[str, str]:
    """(the main section, its appendix on traits) from failure_cases.json."""
    if fc is None:
        return "## {§failures} Failure cases\n\n" + NOT_RUN, ""
    names = fc["keypoint_names"]
    rows = [[category_name(c), v["keypoints"], v["images_all_keypoints"]] + v["per_keypoint"]
            for c, v in fc["categories"].items()]
    traits = list(fc["all_keypoints"]["trait_rates"])
    trait_rows = [["all keypoints"] + [f3(fc["all_keypoints"]["trait_rates"][t]) for t in traits]]
    trait_rows += [[category_name(c)] + [f3(v["trait_rates"][t]) for t in traits] for c, v in fc["categories"].items()]
    defs = "\n".join(f"- `{k}`: {v}" for k, v in fc["trait_definitions"].items())
    out = ["## {§failures} Failure cases",
           f"A keypoint succeeds when it lies within {fc['threshold']} x the bounding-box diagonal (HeatmapNet decoded "
           f"{DECODING_NAMES.get(fc['heatmap_decoding'], fc['heatmap_decoding'])}; {fc['n_images']} "
           f"{fc.get('split', '')} images): a looser threshold than the "
           f"headline's 0.05, so that a failure here is a clear miss, not a near-hit. What the failing keypoints have "
           f"in common: appendix {{§failure_details}}.",
           table(["category", "keypoints", "images (an image is right when all 5 are)"] + names, rows)]
    out += [fig(f"failures_{c}.png", category_name(c)) for c, v in fc["categories"].items() if v["keypoints"]]
    out.append(why.failure_split_section(fc))
    details = ["## {§failure_details} What the failures have in common",
               "The fraction of keypoints in each category with each trait (first row: the base rate over all "
               "keypoints).", table(["category"] + traits, trait_rows), defs]
    if fc.get("split_definitions"):
        details += ["**Label swaps or localisation failures**, the columns of section {§failures}:",
                    "\n".join(f"- *{k.replace('_', ' ')}*: {v}" for k, v in fc["split_definitions"].items())]
    return "\n\n".join(p for p in out if p), "\n\n".join(details)


def section_course(ce: Metrics | None) -> str:
    if ce is None:
        return "## {§course} The course's own data\n\n(the course dataset was not available for this run)"
    rows = [[METHOD_LABELS[m]] + [f3(ce.methods[m].standard.pck[t]) for t in T] for m in METHOD_LABELS]
    return "\n\n".join([
        "## {§course} The course's own data",
        f"The two main models (trained on this project's generated data) scored on the course's {ce.split} "
        f"split ({ce.n_images} images), course labels:",
        table(["method", *[f"PCK@{t}" for t in T]], rows),
    ])


def section_reproduce(p: dict | None, log: dict | None, results: Path) -> str:
    if p is None:
        return ""
    env = p.get("environment", {})
    stages = [[k, f"{v.get('seconds', 0) / 60:.1f}"] for k, v in p["stages"].items()]
    train_min = sum(e["epoch_seconds"] for l in (log or {"models": {}})["models"].values() for e in l["epochs"]) / 60
    run_logs = [log for log in (storage.load_json(f) for f in sorted((Path(results) / "runs").glob("*/training_log.json")))
                if all(len(m["epochs"]) == m["config"]["epochs"] for m in log["models"].values())]  # finished runs
    runs_min = sum(e["epoch_seconds"] for r in run_logs for l in r["models"].values() for e in l["epochs"]) / 60
    return "\n\n".join([
        "## {§reproduce} Reproduce",
        "Everything in this report, from scratch, into `outputs/reproduction/` (ending with a table of each "
        "headline number against this reference): `bash scripts/reproduce.sh`, which sets up `.venv` and runs "
        "`python -m problem2 all`. This reference was last written by:",
        f"```\n{p.get('command', 'python -m problem2 all')}\n```",
        f"Device {env.get('device')}, torch {env.get('torch')}, Python {env.get('python')}, "
        f"{env.get('cpu_threads')} CPU threads ({env.get('cpu', env.get('machine'))}). The main pair's training took "
        f"{train_min:.1f} min (sum of epoch times); the {len(run_logs)} other finished trainings in runs/ (the "
        f"studies' and the factorial's) {runs_min:.1f} min. Stage wall times when last computed (minutes; 'train' is the last invocation's, which "
        "reuses finished runs):",
        table(["stage", "minutes"], stages),
    ])


def render_report(results: Path) -> str:
    """REPORT.md: the main part (the answer, the comparison, the mechanism, the heads, ablations, failures, beyond
    the training distribution), then the appendices; sections numbered here (markdown.number_sections)."""
    return show_citations(number_sections(assemble(results))[0])


def section_numbers(results: Path) -> dict:
    """{section key: its number or appendix letter} in REPORT.md as render_report numbers it."""
    return number_sections(assemble(results))[1]


def assemble(results: Path) -> str:
    results = Path(results)
    m = Metrics.load(results / "metrics.json")
    s = load(results, "studies.json")
    d = load(results, "diagnosis.json")
    log = load(results, "training_log.json")
    pipeline_state = load(results, "pipeline.json") or {}
    settings = pipeline_state.get("settings") or {}
    trained = protocol(log, pipeline_state.get("environment"))
    seeded = load_optional(SeededAblations, results, "ablation_seeds.json")
    ablations = load_optional(Ablations, results, "ablation.json")
    robustness = load_optional(Robustness, results, "robustness.json")
    quick, deliverables = settings.get("quick"), settings.get("tier") == "deliverables"
    mechanism, mechanism_details = why.section_mechanism(d)
    results_main, results_details = section_results(m)
    failures_main, failures_details = section_failures(load(results, "failure_cases.json"))
    heads = load_optional(HeadStudy, results, "heads.json")
    curves = load_optional(DataEfficiency, results, "data_efficiency.json")
    heads_main, heads_details = section_heads(heads, why.head_axis_sentence(d))
    not_run = lambda key, title: f"## {{§{key}}} {title}\n\n{NOT_RUN}"  # noqa: E731
    main = [
        "# Heatmap vs direct coordinate regression for keypoints: report",
        "**A `--quick` smoke test: tiny generated data and a few epochs, to check that every stage runs. Its numbers "
        "are not results; the reference report is `problem2/results/REPORT.md`.**" if quick else "",
        "**The assignment's deliverables (the default tier): the main pair, single-seed ablations and failure "
        "cases. The studies beyond them (seeds and intervals, the mechanism, robustness, learning curves, the heads) "
        "are in the committed reference report, `problem2/results/REPORT.md`; `bash scripts/reproduce.sh --full` "
        "reproduces them.**" if deliverables else "",
        "Generated by `python -m problem2 all` from the JSON files beside this report; no number is typed by hand.",
        section_answer(m, s, d, heads, trained),
        results_main,
        mechanism if d else not_run("mechanism", "Why RegressionNet loses"),
        heads_main,
        section_ablations(ablations, m, s, seeded),
        failures_main,
        section_robustness(robustness),
        section_limits(heads, curves, s, seeded, trained),
    ]
    appendices = [
        APPENDICES, results_details, mechanism_details, heads_details, why.section_why(m, s),
        section_ablation_details(ablations, m, s, seeded), section_robustness_details(robustness), failures_details,
        section_training(log),
        section_data_efficiency(curves, probe_x_px(d),
                                s["ambiguity"]["ceiling"]["0.05"] if s else None),
        *([section_seeds(s), section_ambiguity(s), section_variants(s), section_cost(s)] if s else
          [not_run("seeds", "Seeds, intervals and label ambiguity"),
           not_run("variants", "What makes direct regression fail: one change at a time"), not_run("cost", "Cost")]),
        section_course(load_optional(Metrics, results, "course_eval/metrics.json")),
        section_reproduce(load(results, "pipeline.json"), log, results),
        section_speed(load(results, "bench_train.json"), s, load(results, "bench_sweep.json")),
        section_references(),
    ]
    return "\n\n".join(p for p in main + appendices if p) + "\n"


def write_report(results: Path) -> Path:
    path = Path(results) / "REPORT.md"
    storage.save_text(render_report(results), path)
    return path
