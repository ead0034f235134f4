"""REPORT.md, rendered only from the JSON files in a results directory (never from typed numbers).

    python -m problem2 report --results DIR           # re-render DIR/REPORT.md
    python -m problem2 report --update-reference      # the committed reference and the README block

Sections whose JSON is missing (e.g. studies skipped) say so instead of failing. Rendering is a
pure function of the JSON files, so the committed report can be checked against them.
"""
from __future__ import annotations

import re
from pathlib import Path

from problem2.core import storage
from problem2.core.results import load_optional
from problem2.core.schema import REFERENCE_DIR, REPO_DIR
from problem2.report import mechanism as why
from problem2.report.ablations import section_ablation_details, section_ablations
from problem2.report.answer import protocol, section_answer, section_limits
from problem2.report.data_efficiency import section_data_efficiency
from problem2.report.factorial import cell_mean, decomposes, section_factorial, section_factorial_details
from problem2.report.heads import section_heads
from problem2.report.markdown import NOT_RUN, T, f2, f3, fig, number_sections, render, table
from problem2.report.references import NUMBERS, REFERENCES, show_citations
from problem2.report.robustness import section_robustness, section_robustness_details
from problem2.report.speed import section_speed
from problem2.report.studies import METHOD_LABELS, section_ambiguity, section_cost, section_seeds, section_variants
from problem2.studies.ablation_seeds import SeededAblations
from problem2.studies.ablations import Ablations
from problem2.studies.course_ends import CourseEnds
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.evaluation import Metrics
from problem2.studies.factorial import Factorial
from problem2.studies.failures import category_name
from problem2.studies.heads import HeadStudy
from problem2.studies.interventions import Interventions
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
    """(the main comparison, its appendix per keypoint) from metrics.json: templates/main_comparison*.md."""
    names, methods = m.keypoint_names, m.methods
    per_kp = [[METHOD_LABELS[k]] + [f3(v) for v in methods[k].standard.pck_per_keypoint["0.05"]] for k in METHOD_LABELS]
    per_kp_inv = [[METHOD_LABELS[k] + " (swap-inv.)"]
                  + [f3(v) for v in methods[k].hand_swap_invariant.pck_per_keypoint["0.05"]] for k in METHOD_LABELS]
    err = [[METHOD_LABELS[k]] + [f2(v) for v in methods[k].standard.mean_px_per_keypoint] for k in METHOD_LABELS]
    torso = [[METHOD_LABELS[k]] + [f3(methods[k].standard.pck_torso[t]) for t in T] for k in METHOD_LABELS]
    main = render("main_comparison", split=m.split, n_images=m.n_images,
                  course_table=table(PCK_HEADER, pck_rows(methods, "standard") + why.reference_rows(m, "standard")),
                  curves_figure=fig("pck_curves.png", "PCK against threshold; dotted lines mark 0.05, 0.1, 0.15 and 0.2"),
                  samples_figure=fig("sample_predictions.png", "Both methods on the same test images"))
    details = render("main_comparison_details",
                     swap_table=table(PCK_HEADER, pck_rows(methods, "hand_swap_invariant")
                                      + why.reference_rows(m, "hand_swap_invariant")),
                     reference_note=why.REFERENCE_NOTE if m.references else "",
                     aucs=[(METHOD_LABELS[k], methods[k].standard.pck_auc) for k in METHOD_LABELS],
                     per_keypoint_table=table(["method"] + names, per_kp + per_kp_inv),
                     error_table=table(["method"] + names, err),
                     torso_table=table(["method"] + [f"PCK@{t}" for t in T], torso),
                     figure=fig("single_prediction_heatmap.png", "One test image through the assignment's "
                                "visualize_predictions: HeatmapNet, sub-pixel"))
    return main, details


def section_training(log: dict | None) -> str:
    """Training and the learned heatmaps (templates/training.md): each model's log in a row, the train command's
    wall time when one command wrote the logs."""
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
    return render("training", command=log.get("last_command"),
                  table=table(["model", "epochs", "best epoch", "val loss", "val mean px", "val PCK@0.05", "train min",
                               "median img/s", "precision"], rows),
                  curves_figure=fig("training_curves.png", "Training and validation curves of both models"),
                  stages_figure=fig("heatmap_training_stages.png",
                                    "Predicted heatmaps of one validation image after several epochs"))


DECODING_NAMES = {"subpixel": "sub-pixel", "argmax": "by argmax"}


def section_failures(fc: dict | None) -> tuple[str, str]:
    """(the main section, its appendix on traits) from failure_cases.json: templates/failures*.md."""
    if fc is None:
        return render("failures", run=False, not_run=NOT_RUN), ""
    names = fc["keypoint_names"]
    rows = [[category_name(c), v["keypoints"], v["images_all_keypoints"]] + v["per_keypoint"]
            for c, v in fc["categories"].items()]
    traits = list(fc["all_keypoints"]["trait_rates"])
    trait_rows = [["all keypoints"] + [f3(fc["all_keypoints"]["trait_rates"][t]) for t in traits]]
    trait_rows += [[category_name(c)] + [f3(v["trait_rates"][t]) for t in traits] for c, v in fc["categories"].items()]
    main = render("failures", run=True, threshold=fc["threshold"], n_images=fc["n_images"], split=fc.get("split", ""),
                  decoding=DECODING_NAMES.get(fc["heatmap_decoding"], fc["heatmap_decoding"]),
                  table=table(["category", "keypoints", "images (an image is right when all 5 are)"] + names, rows),
                  figures=[fig(f"failures_{c}.png", category_name(c)) for c, v in fc["categories"].items()
                           if v["keypoints"]],
                  split_section=why.failure_split_section(fc))
    details = render("failures_details", table=table(["category"] + traits, trait_rows),
                     traits=fc["trait_definitions"], split_definitions=fc.get("split_definitions"))
    return main, details


def section_course(ce: Metrics | None) -> str:
    """The main pair on the course's own data (templates/course.md)."""
    if ce is None:
        return render("course", run=False)
    rows = [[METHOD_LABELS[m]] + [f3(ce.methods[m].standard.pck[t]) for t in T] for m in METHOD_LABELS]
    return render("course", run=True, split=ce.split, n_images=ce.n_images,
                  table=table(["method", *[f"PCK@{t}" for t in T]], rows))


def section_reproduce(p: dict | None, log: dict | None, results: Path) -> str:
    """How to reproduce, the command that last wrote this reference and what its trainings took
    (templates/reproduce.md)."""
    if p is None:
        return ""
    stages = [[k, f"{v.get('seconds', 0) / 60:.1f}"] for k, v in p["stages"].items()]
    train_min = sum(e["epoch_seconds"] for l in (log or {"models": {}})["models"].values() for e in l["epochs"]) / 60
    run_logs = [log for log in (storage.load_json(f) for f in sorted((Path(results) / "runs").glob("*/training_log.json")))
                if all(len(m["epochs"]) == m["config"]["epochs"] for m in log["models"].values())]  # finished runs
    runs_min = sum(e["epoch_seconds"] for r in run_logs for l in r["models"].values() for e in l["epochs"]) / 60
    return render("reproduce", command=p.get("command", "python -m problem2 all"), env=p.get("environment", {}),
                  train_minutes=train_min, n_runs=len(run_logs), runs_minutes=runs_min,
                  table=table(["stage", "minutes"], stages))


def section_references(decomposed: bool = False) -> str:
    """The last appendix (templates/references.md): what this study adds to the work it builds on, and the list."""
    return render("references", listed=[(NUMBERS[k], text) for k, text in REFERENCES.items()], decomposed=decomposed)


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
    results_main, results_details = section_results(m)
    failures_main, failures_details = section_failures(load(results, "failure_cases.json"))
    heads = load_optional(HeadStudy, results, "heads.json")
    curves = load_optional(DataEfficiency, results, "data_efficiency.json")
    factorial = load_optional(Factorial, results, "factorial.json")
    decomposed = decomposes(factorial)
    pooled_cells = decomposed and {"short": cell_mean(factorial, (0, 1, 0, 0)),
                                   "best": cell_mean(factorial, (0, 1, 1, 1))}
    if pooled_cells and None in pooled_cells.values():
        pooled_cells = None
    heads_main, heads_details = section_heads(heads, why.head_axis_sentence(d), pooled_cells or None)
    interventions = load_optional(Interventions, results, "interventions.json") if factorial else None
    course = load_optional(CourseEnds, results, "course_ends.json") if factorial else None
    mechanism, mechanism_details = why.section_mechanism(d, decomposed=decomposed)
    not_run = lambda key, title: f"## {{§{key}}} {title}\n\n{NOT_RUN}"  # noqa: E731
    return render(
        "report", quick=quick, deliverables=deliverables,
        answer=section_answer(m, s, d, heads, trained, factorial, interventions, course), main=results_main,
        mechanism=mechanism if d else not_run("mechanism", "Why RegressionNet loses"),
        factorial=section_factorial(factorial, interventions, course),
        factorial_details=section_factorial_details(factorial, interventions),
        heads=heads_main,
        ablations=section_ablations(ablations, m, s, seeded), failures=failures_main,
        robustness=section_robustness(robustness), limits=section_limits(heads, curves, s, seeded, trained, factorial),
        main_details=results_details, mechanism_details=mechanism_details, heads_details=heads_details,
        why=why.section_why(m, s), ablation_details=section_ablation_details(ablations, m, s, seeded),
        robustness_details=section_robustness_details(robustness), failure_details=failures_details,
        training=section_training(log),
        data_efficiency=section_data_efficiency(curves, probe_x_px(d), s["ambiguity"]["ceiling"]["0.05"] if s else None,
                                                "{§factorial}" if decomposed else "{§mechanism}"),
        seeds=section_seeds(s) if s else not_run("seeds", "Seeds, intervals and label ambiguity"),
        ambiguity=s and section_ambiguity(s),
        variants=section_variants(s) if s else not_run("variants", "What makes direct regression fail: one change at "
                                                                   "a time"),
        course=section_course(load_optional(Metrics, results, "course_eval/metrics.json")),
        references=section_references(decomposed)) + "\n"


REFERENCE_RUN_DOC = REPO_DIR / "docs" / "reference_run.md"


def render_reference_run(results: Path, reference: bool = True) -> str:
    """docs/reference_run.md (templates/reference_run.md): how the reference was made and what it cost, the
    sections that were REPORT.md's last appendices, their headings without section numbers; reference=False: the
    same for any other run, as RESULTS/RUN_DETAILS.md beside its report."""
    results = Path(results)
    s, log = load(results, "studies.json"), load(results, "training_log.json")
    text = render("reference_run", reference=reference,
                  reproduce=section_reproduce(load(results, "pipeline.json"), log, results),
                  cost=s and "cost" in s and section_cost(s),
                  speed=section_speed(load(results, "bench_train.json"), s, load(results, "bench_sweep.json")))
    return re.sub(r"^## \{§\w+\} ", "## ", text, flags=re.M) + "\n"


def reference_run_is_current(results: Path, path: Path = REFERENCE_RUN_DOC) -> bool:
    """True when the doc is what render_reference_run(results) gives now."""
    return path.exists() and path.read_text() == render_reference_run(results)


def write_reference_run(results: Path, path: Path = REFERENCE_RUN_DOC) -> Path:
    """docs/reference_run.md for the reference; RESULTS/RUN_DETAILS.md for any other results directory."""
    reference = Path(results).resolve() == REFERENCE_DIR.resolve()
    path = path if reference else Path(results) / "RUN_DETAILS.md"
    storage.save_text(render_reference_run(results, reference), path)
    return path


def write_report(results: Path) -> Path:
    path = Path(results) / "REPORT.md"
    storage.save_text(render_report(results), path)
    return path
