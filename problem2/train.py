"""The assignment's training entry points and the `train` command: HeatmapNet and RegressionNet on identical data.

    python -m problem2.train                      # both models, 30 epochs, into outputs/reproduction/
    python -m problem2.train --epochs 2 --out X   # elsewhere; an interrupted run there resumes

This file builds the two models and their loaders and hands them to training/run.py's train_run (a run on disk:
resume, reuse, commits), which drives training/loop.py's fit (the loop). The study's other runs are specified in
experiments/registry.py and trained by experiments/runner.py.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python train.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

from problem2.core import cli, runtime
from problem2.core import storage
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.generate import ensure_data
from problem2.data.keypoints import make_loaders
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.training.loop import TrainConfig, fit, predict  # noqa: F401 the library's entry points
from problem2.training.run import train_run
from problem2.training.run_files import RunFiles

MODELS = {"heatmap": HeatmapNet, "regression": RegressionNet}  # the main pair, at the assignment's settings


def train_heatmap_model(model, train_loader, val_loader, num_epochs=30, config: TrainConfig | None = None,
                        out_dir=DEFAULT_RESULTS, resume: bool = False):
    """The assignment's entry point: train `model` with MSE on heatmaps; best epoch saved as OUT/heatmap_model.pth.

    Any DataLoaders whose datasets yield (image, heatmaps) work. The model given is the one trained: a run
    'heatmap' already in out_dir is replaced (a note says so). resume=True instead continues an interrupted
    run with the same settings, or loads a finished one into `model` without training (also said).
    Returns the training log (see run.train_run).
    """
    return _train(model, train_loader, val_loader, num_epochs, config, out_dir, "heatmap", resume)


def train_regression_model(model, train_loader, val_loader, num_epochs=30, config: TrainConfig | None = None,
                           out_dir=DEFAULT_RESULTS, resume: bool = False):
    """The assignment's entry point: MSE on normalised coordinates; best epoch as OUT/regression_model.pth.
    Replacing, resuming and reusing as in train_heatmap_model."""
    return _train(model, train_loader, val_loader, num_epochs, config, out_dir, "regression", resume)


def _train(model, train_loader, val_loader, num_epochs, config, out_dir, name: str, resume: bool) -> dict:
    cfg = replace(config or TrainConfig(), epochs=num_epochs)
    files = RunFiles(out_dir, name)
    if not resume and (files.model.exists() or files.last.exists() or files.logged() is not None):
        print(f"note: replacing the run '{name}' in {out_dir} with this model's training (resume=True would "
              f"continue or reuse it instead)", file=sys.stderr)
    return train_run(model, train_loader, val_loader, cfg, out_dir, name, resume=resume, overwrite=not resume)


def train_pair(data_dir: Path, out_dir: Path, cfg: TrainConfig, models=tuple(MODELS), *, overwrite: bool = False,
               progress: bool = True) -> dict:
    """The main pair on the same data, each built from cfg's seed and trained as the run NAME in out_dir
    (registry.main_pair_spec names the same runs for the pipeline); {name: log}."""
    logs = {}
    for name in models:
        runtime.seed_everything(cfg.seed)
        model = MODELS[name]()
        train_loader, val_loader = make_loaders(data_dir, model.codec, cfg.batch_size, cfg.workers)
        logs[name] = train_run(model, train_loader, val_loader, cfg, out_dir, name, overwrite=overwrite,
                               progress=progress)
    return logs


def build_parser() -> cli.Parser:
    d = TrainConfig()
    p = cli.Parser(description="Train HeatmapNet and RegressionNet on the same data.")
    p.add_argument("--data-dir", type=Path, default=None,
                   help="dataset in the course layout (DIR/train, DIR/train_annotations.json, DIR/val, ...); "
                        "default: data/keypoints, generated with seed 641 when missing")
    p.add_argument("--out", type=cli.output_dir, default=DEFAULT_RESULTS, help="output directory")
    p.add_argument("--models", nargs="+", choices=["heatmap", "regression"], default=["heatmap", "regression"],
                   help="which models to train")
    p.add_argument("--epochs", type=cli.positive_int, default=d.epochs, help="training epochs")
    p.add_argument("--batch-size", type=cli.positive_int, default=d.batch_size, help="batch size")
    p.add_argument("--lr", type=cli.learning_rate, default=d.lr, help="Adam learning rate, in (0, 1]")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for initialisation, shuffling, dropout")
    p.add_argument("--device", type=cli.device_name, default=d.device,
                   help="auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=runtime.PRECISIONS, default=d.precision,
                   help="auto: bf16 autocast + channels_last where the device is fast at it, else fp32")
    p.add_argument("--workers", type=cli.nonnegative_int, default=d.workers, help="DataLoader worker processes")
    p.add_argument("--resume", action="store_true",
                   help="(the default) continue an interrupted run with the same settings; reuse a finished one")
    p.add_argument("--overwrite", action="store_true", help="replace the runs already in --out")
    return p


def record_command(out_dir: Path, argv: list, seconds: float, epochs_run: dict) -> None:
    """Store this command's wall time in OUT/training_log.json under 'last_command'."""
    path = Path(out_dir) / "training_log.json"
    data = storage.load_json(path)
    data["last_command"] = {"argv": argv, "wall_seconds": seconds, "epochs_run": epochs_run}
    storage.save_json(data, path)


def main(argv=None):
    t0 = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.resume and args.overwrite:
        raise cli.UserError("--resume and --overwrite contradict each other: --resume continues the runs in --out, "
                            "--overwrite deletes them first; pass one")
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      device=args.device, precision=args.precision, workers=args.workers)
    data_dir = ensure_data(args.data_dir)
    print(f"training {', '.join(args.models)} into {args.out}", flush=True)
    previous = {} if args.overwrite else (storage.load_json(args.out / "training_log.json", {}) or {}).get("models", {})
    logs = train_pair(data_dir, args.out, cfg, args.models, overwrite=args.overwrite)
    epochs_run = {name: len(log["epochs"]) - len(previous.get(name, {}).get("epochs", [])) for name, log in logs.items()}
    seconds = time.perf_counter() - t0
    record_command(args.out, ["python", "-m", "problem2.train", *argv], seconds, epochs_run)
    for name, log in logs.items():
        best = log["epochs"][log["best_epoch"] - 1]
        print(f"{name}: best epoch {log['best_epoch']}, val loss {best['val_loss']:.5f}, "
              f"val mean error {best['val_mean_px']:.2f} px, val PCK@0.05 {best['val_pck@0.05']:.3f}")
    print(f"checkpoints and training_log.json in {args.out}; {seconds / 60:.1f} min from start to finish "
          f"(epochs run now: {epochs_run})")


def resume_command() -> str:
    argv = [a for a in sys.argv[1:] if a not in ("--overwrite", "--resume")]
    return shlex.join(["python", "-m", "problem2.train", *argv])


if __name__ == "__main__":
    cli.run(main, resume_hint=resume_command)
