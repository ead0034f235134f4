"""One command for every deliverable: data -> training -> evaluation -> ablations -> failures -> studies ->
training-speed benchmark -> report.

    python -m problem2 all                 # the full default pipeline into problem2/results/
    python -m problem2 all --quick         # the same pipeline on a tiny configuration (minutes)
    python -m problem2 all --data-dir ../shared/ee641_keypoints --results my_results
    python -m problem2 report              # only re-render REPORT.md from the JSON results

Training runs are reused when finished and resumed when interrupted (see train.fit); every other
stage records a key of its inputs (settings and checkpoint hashes) in pipeline.json and is skipped
when the key and its outputs are unchanged.
"""
from __future__ import annotations

if __package__ in (None, ""):
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

import argparse
import hashlib
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

from problem2 import runtime
from problem2.train import DEFAULT_DATA_ROOT, PACKAGE_DIR, RESULTS_DIR, TrainConfig, ensure_data, train_both

COURSE_DATA = PACKAGE_DIR.parent.parent / "shared" / "ee641_keypoints"


def file_digest(paths) -> str:
    digest = hashlib.sha1()
    for path in sorted(Path(p) for p in paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"missing")
    return digest.hexdigest()[:16]


class Pipeline:
    """Runs named stages in order, skipping one whose input key and outputs are unchanged."""

    def __init__(self, results_dir: Path, settings: dict):
        self.results_dir = results_dir
        self.state_path = results_dir / "pipeline.json"
        self.state = runtime.load_json(self.state_path, {}) or {}
        self.state["settings"] = settings
        self.state.setdefault("stages", {})

    def stage(self, name: str, fn, inputs: list, outputs: list, settings: dict | None = None):
        key = hashlib.sha1(json.dumps([settings or {}, file_digest(inputs)], sort_keys=True,
                                      default=str).encode()).hexdigest()[:16]
        record = self.state["stages"].get(name, {})
        if record.get("key") == key and all(Path(o).exists() for o in outputs):
            print(f"== {name}: unchanged, reused ({record.get('seconds', 0):.0f} s when computed)", flush=True)
            return
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        fn()
        self.state["stages"][name] = {"key": key, "seconds": time.perf_counter() - t0}
        runtime.save_json(self.state, self.state_path)


def run_all(args) -> None:
    results = Path(args.results)
    cfg = TrainConfig(epochs=args.epochs, device=args.device)
    if args.quick:
        from problem2.generate import generate_dataset
        data_dir = Path(args.data_dir) if args.data_dir else results / "data" / "keypoints"
        if not args.data_dir and not (data_dir / "test_annotations.json").exists():
            n = args.quick_images
            generate_dataset(results / "data", seed=641, sizes={"train": n, "val": n // 2, "test": n // 2},
                             progress=False)
        cfg.snapshot_epochs = tuple(range(1, cfg.epochs + 1))
    else:
        data_dir = ensure_data(args.data_dir)
    settings = {"train": asdict(cfg), "data_dir": str(data_dir), "quick": args.quick}
    pipe = Pipeline(results, settings)
    pipe.state["command"] = "python -m problem2 " + shlex.join(args.argv)
    t_start = time.perf_counter()
    progress = not args.no_progress

    print("== train: heatmap and regression", flush=True)
    t0 = time.perf_counter()
    train_both(data_dir, results, cfg, resume=True, progress=progress)
    pipe.state["stages"]["train"] = {"seconds": time.perf_counter() - t0}
    main_ckpts = [results / "heatmap_model.pth", results / "regression_model.pth"]

    from problem2 import baseline, evaluate, report, studies
    pipe.stage("evaluate", lambda: evaluate.evaluate_checkpoints(results, data_dir), main_ckpts,
               [results / "metrics.json"], settings)
    pipe.stage("ablations", lambda: baseline.ablation_study(data_dir, cfg=cfg, results_dir=results, progress=progress),
               main_ckpts + list(results.glob("runs/ablation_*/heatmap_model.pth")),
               [results / "ablation.json"], settings)
    pipe.stage("failures", lambda: baseline.failure_analysis(data_dir, results), main_ckpts,
               [results / "failure_cases.json"], settings)
    if not args.skip_studies:
        latency_repeats = 3 if args.quick else 20
        pipe.stage("studies", lambda: studies.run_studies(data_dir, cfg, results, progress, latency_repeats),
                   main_ckpts + list(results.glob("runs/*/*_model.pth")), [results / "studies.json"], settings)
    from problem2 import bench
    repeats, rounds = (2, 1) if args.quick else (10, 3)
    pipe.stage("bench", lambda: runtime.save_json(bench.bench_train(args.device, repeats=repeats, rounds=rounds),
                                                  results / "bench_train.json"),
               [], [results / "bench_train.json"], settings)
    course = Path(args.course_data) if args.course_data else None
    if course and (course / "val_annotations.json").exists():
        pipe.stage("course_eval", lambda: evaluate.evaluate_checkpoints(results, course, "val", results / "course_eval",
                                                                        figures=False),
                   main_ckpts, [results / "course_eval" / "metrics.json"], settings | {"course": str(course)})
    pipe.state["total_seconds_this_invocation"] = time.perf_counter() - t_start
    pipe.state["environment"] = runtime.environment(runtime.pick_device(args.device))
    runtime.save_json(pipe.state, pipe.state_path)
    path = report.write_report(results)
    if results.resolve() == RESULTS_DIR.resolve():  # the reference run also refreshes the README's numbers
        report.update_readme(PACKAGE_DIR.parent / "README.md", results)
    print(f"\nreport: {path}\n")
    print(report.headline_table(results))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m problem2", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("command", choices=["all", "report"], help="'all': the whole pipeline; 'report': REPORT.md only")
    p.add_argument("--quick", action="store_true", help="tiny generated data and 2 epochs, into --results")
    p.add_argument("--quick-images", type=int, default=64, help="with --quick: training images (val, test: half)")
    p.add_argument("--data-dir", default=None, help="course-layout data to use instead of the generated set")
    p.add_argument("--results", default=None, help="results directory (default: problem2/results, "
                                                   "or quick_results/ with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per training (default: 30, or 2 with --quick)")
    p.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), or a torch device")
    p.add_argument("--course-data", default=str(COURSE_DATA) if COURSE_DATA.exists() else None,
                   help="the course's own dataset, to evaluate the main models on its val split")
    p.add_argument("--skip-studies", action="store_true", help="skip the seed/ambiguity/variant studies")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.results is None:
        args.results = DEFAULT_DATA_ROOT.parent / "quick_results" if args.quick else RESULTS_DIR
    if args.epochs is None:
        args.epochs = 2 if args.quick else TrainConfig.epochs
    if args.command == "report":
        from problem2 import report
        print(report.write_report(Path(args.results)))
        if Path(args.results).resolve() == RESULTS_DIR.resolve():
            report.update_readme(PACKAGE_DIR.parent / "README.md", Path(args.results))
        return
    run_all(args)


if __name__ == "__main__":
    main()
