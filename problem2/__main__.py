"""One command for every deliverable: data -> training -> evaluation -> ablations -> failures -> studies ->
training-speed benchmark -> report, ending with a reproduction table against the committed reference.

    python -m problem2 all                      # the full study into outputs/reproduction/
    python -m problem2 all --quick              # the same pipeline on a tiny configuration, into outputs/quick/
    python -m problem2 all --update-reference   # maintainers: regenerate problem2/results/ and the README block
    python -m problem2 report --results DIR     # only re-render DIR/REPORT.md from DIR's JSON files

Nothing but --update-reference writes into the committed reference. Runs are reused when finished and resumed when
interrupted (training/run.py); every other stage records its inputs (settings, each file's hash) in provenance.json
and is skipped while they are unchanged (`python -m problem2 verify` checks a results directory against them).
"""
from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from problem2.core import cli, runtime, storage
from problem2.core.cli import UserError
from problem2.core.schema import COURSE_DATA, DEFAULT_RESULTS, QUICK_RESULTS, README, REFERENCE_DIR, portable
from problem2.data.generate import ensure_data
from problem2.experiments.executor import add_executor_options, executor_from_args
from problem2.pipeline.provenance import ANALYSIS_STAGES
from problem2.training.loop import TrainConfig

MIN_QUICK_IMAGES = 16  # the smallest --quick configuration the test suite runs end to end


def prepare_data(args, results: Path) -> Path:
    if not args.quick:
        return ensure_data(args.data_dir)
    from problem2.data.generate import generate_dataset
    data_dir = Path(args.data_dir) if args.data_dir else results / "data" / "keypoints"
    if not args.data_dir and not (data_dir / "test_annotations.json").exists():
        n = args.quick_images
        generate_dataset(results / "data", seed=641, sizes={"train": n, "val": n // 2, "test": n // 2}, progress=False)
    return data_dir


STAGES = ANALYSIS_STAGES  # declared once, in provenance.STAGES


def make_plan(args, cfg: TrainConfig, results: Path, data_dir: Path, run_ids: list, stages: list, settings_of, runs_of):
    """The trainings of run_ids and the stages, a stage it will reuse costing nothing (plan.stages_to_reuse)."""
    from problem2.data.files import read_annotations
    from problem2.data.keypoints import evaluation_split
    from problem2.pipeline.plan import Plan, speed_probe, stage_estimates, stages_to_reuse
    reused = stages_to_reuse(results, data_dir, stages, settings_of, run_ids, cfg.epochs, runs_of) - set(args.refresh)
    sizes = {s: len(read_annotations(data_dir / f"{s}_annotations.json")["images"])
             for s in ("train", "val", evaluation_split(data_dir))}
    device = runtime.pick_device(cfg.device)
    # --quick trains for seconds: a short probe (a rough estimate) will do
    probe = speed_probe(device, runtime.resolve_precision(cfg.precision, device), budget_s=0.3 if args.quick else 3.0)
    return Plan(run_ids, results, cfg.epochs, sizes["train"], sizes["val"], probe,
                stage_estimates(REFERENCE_DIR, sizes[evaluation_split(data_dir)], args.quick,
                                [s for s in stages if s not in reused]))


def run_all(args) -> None:
    t_start = time.perf_counter()
    results = Path(args.results)
    writes_reference = results.resolve() == REFERENCE_DIR.resolve() and not args.plan_only
    if writes_reference and not args.update_reference:
        raise UserError(f"{results} is the committed reference run: pass --update-reference to regenerate it")
    print(f"output directory: {results}" + (" (the committed reference: regenerating it)" if writes_reference else
                                            f" (the committed reference in {REFERENCE_DIR} is not touched)"), flush=True)
    cfg = TrainConfig(epochs=args.epochs, device=args.device)
    executor = executor_from_args(args)
    if args.quick:
        cfg.snapshot_epochs = tuple(range(1, cfg.epochs + 1))
    data_dir = prepare_data(args, results)
    course = args.course_data or (COURSE_DATA if (COURSE_DATA / "val_annotations.json").exists() else None)
    from problem2.pipeline.stage_runs import planned_runs, weights_needed  # the studies: only when a pipeline runs
    tier = run_tier(args)
    stages = [s for s in STAGES if s in args.only and not (s == "studies" and args.skip_studies)
              and not (s == "course_eval" and not course) and s in TIER_STAGES.get(tier, STAGES)]
    seeds = {"quick": (0,), "deliverables": ()}.get(tier, (0, 1, 2))  # of the seeded studies (none: seed 0 only)
    print(f"tier: {tier} ({TIER_NOTES[tier]}); stages: {', '.join(stages)}", flush=True)
    curve = ((125, 250), (0,)) if args.quick else None  # learning-curve sizes and seeds (None: all)
    from problem2.experiments.runner import runs_to_train
    run_ids = [] if args.trained_only else runs_to_train(planned_runs(stages, seeds, curve, args.quick), results,
                                                         weights_needed(stages))
    settings = {"train": cfg.record(), "data_dir": portable(data_dir), "quick": args.quick} | (
        {"tier": tier} if tier == "deliverables" else {})
    stage_settings = lambda s: settings | {"course": portable(course)} if s == "course_eval" else settings  # noqa: E731
    plan = make_plan(args, cfg, results, data_dir, run_ids, stages, stage_settings,
                     lambda s: planned_runs([s], seeds, curve, args.quick))
    print(plan.describe(), flush=True)
    if args.plan_only:
        print(f"--plan-only: nothing trained, nothing written to {results}")
        return

    from problem2.experiments.runner import train_runs
    from problem2.pipeline.plan import Pipeline, duration, reproduction, reproduction_table, run_stage
    from problem2.report import document as report
    from problem2.report import readme
    from problem2.report.ablations import write_ablation_markdown
    from problem2.studies import (
        ablation_seeds,
        ablations,
        bench,
        course_ends,
        data_efficiency,
        diagnosis,
        evaluation,
        factorial,
        failures,
        gap,
        heads,
        interventions,
        robustness,
    )
    pipe = Pipeline(results, settings, plan, data_dir, refresh=args.refresh)
    pipe.state["command"] = "python -m problem2 " + shlex.join(args.argv)
    plan.start(not args.no_progress)
    try:
        t0 = time.perf_counter()
        train_runs(run_ids, data_dir, cfg, results, plan=plan, executor=executor,  # every training first: one ETA
                   weights=weights_needed(stages))
        pipe.state["executor"] = asdict(executor) | {"kind": "ray"} if executor else {"kind": "sequential"}
        pipe.state["stages"]["train"] = {"seconds": time.perf_counter() - t0}
        stage = lambda name, fn: pipe.stage(name, fn, settings) if name in stages else None  # noqa: E731
        stage("evaluate", lambda: evaluation.evaluate_checkpoints(results, data_dir))
        stage("ablations", lambda: (ablations.ablation_study(data_dir, cfg=cfg, results_dir=results, progress=False),
                                    write_ablation_markdown(results),
                                    ablation_seeds.seeded_ablations(data_dir, results, seeds) if seeds else None))
        stage("failures", lambda: failures.failure_analysis(data_dir, results))
        stage("diagnosis", lambda: diagnosis.run_diagnosis(data_dir, results))
        perturbations = robustness.strongest(robustness.suite()) if args.quick else None
        stage("robustness", lambda: robustness.run_robustness(data_dir, results, perturbations=perturbations))
        stage("data_efficiency", lambda: data_efficiency.learning_curves(data_dir, results, *(curve or ())))
        latency_repeats = 3 if args.quick else 20
        stage("studies", lambda: gap.run_studies(data_dir, cfg, results, False, latency_repeats))
        stage("heads", lambda: heads.run_heads_study(data_dir, results, 3 if args.quick else 10, seeds, args.quick))
        factorial_studies = (factorial.run_factorial, interventions.run_interventions, course_ends.run_course_ends)
        stage("factorial", lambda: [run(data_dir, results, 200 if args.quick else 4000) for run in factorial_studies])
        repeats, rounds = (2, 1) if args.quick else (10, 3)
        stage("bench", lambda: storage.save_json(bench.bench_train(args.device, repeats=repeats, rounds=rounds),
                                                 results / "bench_train.json"))
        if "course_eval" in stages:
            pipe.stage("course_eval", lambda: evaluation.evaluate_checkpoints(results, course, "val",
                                                                            results / "course_eval", figures=False),
                       stage_settings("course_eval"))
    finally:
        plan.close()
    pipe.state["total_seconds_this_invocation"] = total = time.perf_counter() - t_start
    pipe.state["estimate_seconds_this_invocation"] = plan.left_at_start
    pipe.state["environment"] = runtime.environment(runtime.pick_device(args.device))
    storage.save_json(pipe.state, pipe.state_path)
    path = run_stage(results, "report", lambda: report.write_report(results), {})
    report.write_reference_run(results)  # docs/reference_run.md, or RESULTS/RUN_DETAILS.md for another run
    if writes_reference:  # the reference run also refreshes the README's numbers
        readme.update_readme(README, results)
    else:
        rep = reproduction(results, REFERENCE_DIR)
        storage.save_json(rep, results / "reproduction.json")
        print(f"\nreproduction against the committed reference ({REFERENCE_DIR}):\n\n{reproduction_table(rep)}")
    print(f"\nreport: {path}\n\n{report.headline_table(results)}\n")
    if args.quick and not args.keep_checkpoints:  # tiny runs: their results are in the JSON files and the report
        from problem2.experiments.runner import prune_runs
        prune_runs(results, run_ids)
    print(f"total {duration(total)} (estimated before starting: {duration(plan.left_at_start)} of work "
          f"left); output {storage.human_size(storage.directory_size(results))} in {results}")


TIER_STAGES = {"deliverables": ("evaluate", "ablations", "failures", "course_eval")}  # quick and full: every stage
TIER_NOTES = {"deliverables": "the assignment's deliverables at full quality; --full runs the whole study",
              "full": "the whole study: seeds, mechanism, robustness, learning curves, heads, the factorial",
              "quick": "a smoke test of every stage on tiny data: its numbers are not results"}


def run_tier(args) -> str:
    """'quick' (--quick), 'full' (--full, or --update-reference: the reference is the whole study) or
    'deliverables' (the default: the main pair, the single-seed ablations, failures and the report)."""
    return "quick" if args.quick else "full" if args.full or args.update_reference else "deliverables"


def render_only(args) -> None:
    from problem2.report import document as report
    from problem2.report import readme
    results = Path(args.results)
    if results.resolve() == REFERENCE_DIR.resolve() and not args.update_reference:
        raise UserError(f"{results} is the committed reference run: pass --update-reference to re-render it")
    from problem2.pipeline.plan import run_stage
    print(run_stage(results, "report", lambda: report.write_report(results), {}))
    print(report.write_reference_run(results))
    if args.update_reference:
        readme.update_readme(README, results)


def build_parser() -> cli.Parser:
    p = cli.Parser(prog="python -m problem2", description="The whole study in one command, or only its report.")
    p.add_argument("command", choices=["all", "report", *MODULE_COMMANDS],
                   help="'all': the whole pipeline; 'report': REPORT.md only; the others run one step "
                        "(python -m problem2 COMMAND --help)")
    p.add_argument("--quick", action="store_true", help="tiny generated data and 2 epochs: a smoke test of every stage")
    p.add_argument("--full", action="store_true",
                   help="the whole study (seeds, mechanism, robustness, learning curves, heads; hours on a CPU); "
                        "without it, the assignment's deliverables only")
    p.add_argument("--quick-images", type=cli.positive_int, default=64,
                   help=f"with --quick: training images (val, test: half); at least {MIN_QUICK_IMAGES}")
    p.add_argument("--data-dir", default=None, help="course-layout data to use instead of the generated set")
    p.add_argument("--results", default=None,
                   help=f"output directory (default: {DEFAULT_RESULTS}, or {QUICK_RESULTS} with --quick)")
    p.add_argument("--update-reference", action="store_true",
                   help=f"write into the committed reference run {REFERENCE_DIR} and the README (maintainers)")
    p.add_argument("--epochs", type=cli.positive_int, default=None,
                   help="epochs per training (default: 30, or 2 with --quick)")
    p.add_argument("--device", type=cli.device_name, default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda")
    p.add_argument("--course-data", type=cli.course_dir, default=None,
                   help=f"the course's own dataset, to evaluate the main models on its val split (default: "
                        f"{COURSE_DATA} when it is there)")
    p.add_argument("--skip-studies", action="store_true", help="skip the seed/ambiguity/variant studies")
    p.add_argument("--only", type=stage_list, default=list(STAGES), metavar="STAGE,...",
                   help=f"run only these analysis stages (and the trainings they need), then the report; "
                        f"stages: {','.join(STAGES)}")
    p.add_argument("--refresh", type=stage_list, default=[], metavar="STAGE,...",
                   help="recompute these stages even where their inputs are unchanged (provenance tracks a stage's "
                        "inputs, not its code: after changing a study, refresh its stage)")
    p.add_argument("--trained-only", action="store_true",
                   help="train nothing: the stages score the runs already trained in RESULTS (a study states the "
                        "runs it lacks), e.g. to record the factorial while its last seeds still train")
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="with --quick: keep RESULTS/runs/ (the runs other than the main pair; deleted by default "
                        "once the report is written, so that a quick run takes a few MB)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--plan-only", action="store_true",
                   help="print the trainings' and stages' estimated time here (from a few timed training steps), "
                        "counting finished runs in RESULTS as done, and stop (the data is generated if missing)")
    add_executor_options(p)
    return p


def stage_list(text: str) -> list:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in STAGES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of {','.join(STAGES)}, got {text!r}")
    return names


MODULE_COMMANDS = {  # python -m problem2 COMMAND ... runs that module's command line
    "generate": "data.generate", "train": "train", "evaluate": "evaluate", "ablations": "baseline",
    "studies": "studies.gap", "diagnosis": "studies.diagnosis", "robustness": "studies.robustness",
    "data_efficiency": "studies.data_efficiency", "bench": "studies.bench", "predict": "predict",
    "heads": "studies.heads", "verify": "pipeline.verify", "runs": "experiments.command", "factorial": "studies.factorial",
    "interventions": "studies.interventions", "course_ends": "studies.course_ends"}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in MODULE_COMMANDS:
        import importlib
        sys.argv[0] = f"python -m problem2 {argv[0]}"  # argparse's prog in usage and errors
        return importlib.import_module(f"problem2.{MODULE_COMMANDS[argv[0]]}").main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.quick and args.quick_images < MIN_QUICK_IMAGES:
        raise UserError(f"--quick-images must be at least {MIN_QUICK_IMAGES}, got {args.quick_images}")
    if args.quick and args.full:
        raise UserError("--quick and --full are two tiers: pick one")
    if not args.quick and "--quick-images" in argv:
        raise UserError("--quick-images only applies with --quick")
    if args.update_reference:
        refuse_non_reference_run(args)
    if args.results is None:
        args.results = REFERENCE_DIR if args.update_reference else QUICK_RESULTS if args.quick else DEFAULT_RESULTS
    if args.epochs is None:
        args.epochs = 2 if args.quick else TrainConfig.epochs
    with storage.writing_reference() if args.update_reference else contextlib.nullcontext():
        if args.command == "report":
            render_only(args)
        else:
            run_all(args)


def refuse_non_reference_run(args) -> None:
    """--update-reference regenerates the reference as the reference is made: refuse any option that changes that."""
    conflicts = {"--quick": args.quick, "--skip-studies": args.skip_studies,
                 "--epochs": args.epochs not in (None, TrainConfig.epochs),
                 "--data-dir": args.data_dir is not None,
                 "--results": args.results is not None and Path(args.results).resolve() != REFERENCE_DIR.resolve()}
    given = [option for option, conflict in conflicts.items() if conflict]
    if given:
        raise UserError(f"--update-reference regenerates {portable(REFERENCE_DIR)}/ with the reference's own settings: "
                        f"drop {', '.join(given)} (or leave out --update-reference to write elsewhere)")


def cli_main():
    """The console script `problem2`."""
    cli.run(main)


if __name__ == "__main__":
    cli_main()
