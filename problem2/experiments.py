"""Every training run the project makes, by id, and a runner that reuses finished ones.

    python -m problem2.experiments list
    python -m problem2.experiments run ablation_sigma1 seed1_heatmap ...

The main pair trains into results/ itself; every other run trains into results/runs/<id>/.
All share the main protocol (TrainConfig: 30 epochs, batch 32, Adam 1e-3, seed 0) unless the
run's purpose is to change one thing.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script from inside problem2/
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

from dataclasses import replace
from pathlib import Path

from problem2 import cli, runtime
from problem2.schema import DEFAULT_RESULTS
from problem2.train import RunSpec, TrainConfig, ensure_data, run_training

HEATMAP, REGRESSION = "HeatmapNet", "RegressionNet"


def all_runs(cfg: TrainConfig) -> dict[str, RunSpec]:
    """{run id: spec}; cfg is the main protocol every run starts from."""
    def spec(name, model, seed=None, loss=None, precision=None, **kw):
        train = replace(cfg, seed=cfg.seed if seed is None else seed, loss=loss or cfg.loss,
                        precision=precision or cfg.precision)
        return RunSpec(name=name, model=model, train=train, **kw)

    runs = {
        "main_heatmap": spec("heatmap", HEATMAP),
        "main_regression": spec("regression", REGRESSION),
        # ablations of the heatmap model (issue: resolution, sigma, skip connections)
        "ablation_res32": spec("heatmap", HEATMAP, model_config={"heatmap_size": 32}),
        "ablation_res128": spec("heatmap", HEATMAP, model_config={"heatmap_size": 128}),
        "ablation_sigma1": spec("heatmap", HEATMAP, sigma=1.0),
        "ablation_sigma3": spec("heatmap", HEATMAP, sigma=3.0),
        "ablation_sigma4": spec("heatmap", HEATMAP, sigma=4.0),
        "ablation_noskip": spec("heatmap", HEATMAP, model_config={"skip_connections": False}),
        # seeds: the main pair again from other seeds
        "seed1_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 1),
        "seed1_regression": spec("regression", REGRESSION, seed=cfg.seed + 1),
        "seed2_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 2),
        "seed2_regression": spec("regression", REGRESSION, seed=cfg.seed + 2),
        # the main pair in plain fp32 (no autocast, no channels_last): does the fast path change results?
        "fp32_heatmap": spec("heatmap", HEATMAP, precision="fp32"),
        "fp32_regression": spec("regression", REGRESSION, precision="fp32"),
        "fp32_seed1_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 1, precision="fp32"),
        "fp32_seed1_regression": spec("regression", REGRESSION, seed=cfg.seed + 1, precision="fp32"),
        # the same images with hands named by image side: no label ambiguity
        "side_heatmap": spec("heatmap", HEATMAP, hand_labels="side"),
        "side_regression": spec("regression", REGRESSION, hand_labels="side"),
        # regression variants, one change each, on side labels
        "side_regression_nodropout": spec("regression", REGRESSION, hand_labels="side",
                                          model_config={"dropout": 0.0}),
        "side_regression_flatten": spec("regression", REGRESSION, hand_labels="side",
                                        model_config={"pooling": "flatten"}),
        "side_regression_coordconv": spec("regression", REGRESSION, hand_labels="side",
                                          model_config={"coord_channels": True}),
        "side_regression_l1": spec("regression", REGRESSION, hand_labels="side", loss="l1"),
        "side_softargmax": spec("regression", "SoftArgmaxNet", hand_labels="side"),
    }
    return runs


def run_dir(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """Where a run's checkpoint and training_log.json live."""
    return Path(results_dir) if run_id.startswith("main_") else Path(results_dir) / "runs" / run_id


def checkpoint_path(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """The best-epoch checkpoint of a run: run_dir / NAME_model.pth."""
    return run_dir(run_id, results_dir) / f"{all_runs(TrainConfig())[run_id].name}_model.pth"


def run_log(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> dict:
    """A finished run's log: its entry in run_dir / training_log.json."""
    name = all_runs(TrainConfig())[run_id].name
    return runtime.load_json(run_dir(run_id, results_dir) / "training_log.json")["models"][name]


def train_runs(run_ids, data_dir, cfg: TrainConfig, results_dir: Path = DEFAULT_RESULTS,
               progress: bool = True, plan=None) -> dict:
    """Train the runs in order (finished ones are reused, interrupted ones resume); {id: log}.

    plan: a pipeline.Plan that shows one progress bar for all runs (then no bar per run).
    """
    runs = all_runs(cfg)
    unknown = [r for r in run_ids if r not in runs]
    if unknown:
        raise ValueError(f"unknown run id(s) {unknown}; known: {sorted(runs)}")
    logs = {}
    for i, run_id in enumerate(run_ids, 1):
        if plan is not None:
            plan.note(f"run {i}/{len(run_ids)}: {run_id}")
            on_epoch = lambda entry, run_id=run_id: plan.epoch_finished(run_id)  # noqa: E731
        else:
            print(f"[run {i}/{len(run_ids)}] {run_id}", flush=True)
            on_epoch = None
        logs[run_id] = run_training(runs[run_id], data_dir, run_dir(run_id, results_dir), True,
                                    progress and plan is None, on_epoch)
    return logs


def run_parser(description: str) -> cli.Parser:
    """A command line with the options every run-training command shares: data, results, epochs."""
    p = cli.Parser(description=description)
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="results directory (runs train into RESULTS/runs/ID/, the main pair into RESULTS/)")
    p.add_argument("--epochs", type=cli.positive_int, default=TrainConfig.epochs, help="epochs for every run")
    return p


def main(argv=None):
    p = run_parser("List or train the project's runs (finished ones are reused).")
    p.add_argument("command", choices=["list", "run"])
    p.add_argument("ids", nargs="*", help="run ids (default for 'run': all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    cfg = TrainConfig(epochs=args.epochs)
    runs = all_runs(cfg)
    if args.command == "list":
        for run_id, spec in runs.items():
            print(f"{run_id:28s} {spec.model:14s} {spec.model_config} sigma={spec.sigma} "
                  f"hands={spec.hand_labels} seed={spec.train.seed} loss={spec.train.loss} "
                  f"precision={spec.train.precision}")
        return
    train_runs(args.ids or list(runs), ensure_data(args.data_dir), cfg, args.results, not args.no_progress)


if __name__ == "__main__":
    cli.run(main)
