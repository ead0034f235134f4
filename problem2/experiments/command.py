"""The `runs` command: list the project's training runs, or train some by id (finished ones are reused).

    python -m problem2 runs list
    python -m problem2 runs run ablation_sigma1 seed1_heatmap --predictions [--executor ray]

The runs themselves (ids, specs, training, stored predictions) are experiments.py's; where they train is
executor.py's.
"""
from __future__ import annotations

import functools
import json

from problem2.core import cli
from problem2.data.generate import ensure_data
from problem2.experiments.executor import add_executor_options, executor_from_args
from problem2.experiments.registry import all_runs, augment_changes, final_checkpoint
from problem2.experiments.runner import run_parser, save_predictions, train_runs
from problem2.models.networks import build_model
from problem2.training.loop import TrainConfig


def loss_words(spec) -> str:
    """The loss a run trains with: its codec's own ('mse' in the config; MSE for the two specified models, KL for
    SimCC, the Laplace likelihood for RLENet), or the one the config names instead ('l1', '+swapmin')."""
    base, plus, swap = spec.train.loss.partition("+")
    if base == "mse":
        base = codec_loss(spec.model, json.dumps(spec.model_config, sort_keys=True))
    return base + plus + swap


@functools.cache
def codec_loss(model: str, config: str) -> str:
    built = build_model(model, **json.loads(config))
    return getattr(built, "loss_name", built.codec.loss_name)  # a model with a loss of its own names it


def main(argv=None):
    p = run_parser("List or train the project's runs (finished ones are reused).")
    p.add_argument("command", choices=["list", "run"])
    p.add_argument("ids", nargs="*", help="run ids (default for 'run': all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--predictions", action="store_true",
                   help="after each run, store its keypoints on the evaluation split (RUN/test_predictions.json, "
                        "and RUN/test_predictions_last.json from its last epoch)")
    add_executor_options(p)
    p.add_argument("--device", type=cli.device_name, default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda")
    args = p.parse_args(argv)
    executor = executor_from_args(args)
    cfg = TrainConfig(epochs=args.epochs, device=args.device)
    runs = all_runs(cfg)
    if args.command == "list":
        for run_id, spec in runs.items():
            print(f"{run_id:28s} {spec.model:14s} {spec.model_config} "
                  f"hands={spec.hand_labels} seed={spec.train.seed} loss={loss_words(spec)} "
                  f"schedule={spec.train.schedule} epochs={spec.train.epochs} precision={spec.train.precision}"
                  + (f" view={spec.view}" if spec.view != "upright" else "")
                  + (f" augmented {augment_changes(spec.augment) or ''}" if spec.augment else ""))
        return
    data_dir = ensure_data(args.data_dir)
    run_ids = args.ids or list(runs)
    if executor is not None:
        train_runs(run_ids, data_dir, cfg, args.results, progress=not args.no_progress, executor=executor,
                   weights=True)
    for run_id in run_ids:
        if executor is None:
            train_runs([run_id], data_dir, cfg, args.results, progress=not args.no_progress, weights=True)
        if args.predictions:  # under both selection rules where the run kept its last epoch's weights
            save_predictions(run_id, args.results, data_dir)
            if final_checkpoint(run_id, args.results).exists():
                save_predictions(run_id, args.results, data_dir, "last_epoch")


if __name__ == "__main__":
    cli.run(main)
