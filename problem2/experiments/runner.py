"""Every training run the project makes, by id, and a runner that reuses finished ones.

    python -m problem2 runs list                          # (the command line is runs.py)
    python -m problem2 runs run ablation_sigma1 seed1_heatmap ...

The main pair trains into results/ itself; every other run trains into results/runs/<id>/.
All share the main protocol (TrainConfig: 30 epochs, batch 32, Adam 1e-3, seed 0) unless the
run's purpose is to change one thing.
"""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Callable

from problem2.core import cli, runtime, storage  # noqa: F401 heads: registers the heads' models and codecs
from problem2.core.schema import DEFAULT_RESULTS, SELECTION_RULES
from problem2.data.augment import AugmentedDataset
from problem2.data.generate import training_pool
from problem2.data.keypoints import loader, make_loaders
from problem2.experiments.registry import (
    RunSpec,
    all_runs,
    checkpoint_path,
    run_dir,
    run_finished,
    run_log,
    selected_checkpoint,
    spec_of,
)
from problem2.models.networks import build_model
from problem2.training.loop import TrainConfig
from problem2.training.objective import objective_for
from problem2.training.run import train_run


def run_training(spec: RunSpec, data_dir, out_dir, *, resume: bool = True, progress: bool = True,
                 on_epoch: Callable[[dict], None] | None = None, overwrite: bool = False) -> dict:
    """Build the spec's model and loaders, seed, and `fit`; a finished identical run is reused."""
    runtime.seed_everything(spec.train.seed)
    model = build_model(spec.model, **spec.model_config)
    train_loader, val_loader = make_loaders(data_dir, model.codec, spec.train.batch_size, spec.train.workers,
                                            hand_labels=spec.hand_labels, view=spec.view)
    train_set = train_loader.dataset
    if spec.train_images:
        train_set = training_pool(data_dir, train_set, spec.train_images)
    if spec.augment:
        train_set = AugmentedDataset(train_set, spec.augment, seed=spec.train.seed)
    if train_set is not train_loader.dataset:
        train_loader = loader(train_set, spec.train.batch_size, spec.train.workers, shuffle=True)
    return train_run(model, train_loader, val_loader, spec.train, out_dir, spec.name, resume=resume, progress=progress,
               objective=objective_for(model, spec.train.loss), overwrite=overwrite, on_epoch=on_epoch)


def runs_to_train(run_ids, results_dir: Path, weights=()) -> list:
    """The runs of run_ids that need training: all but those scored from stored predictions without their
    checkpoint (run_scored: a committed reference run), unless their weights are needed (`weights`: run ids,
    or True for every run)."""
    needed = set(run_ids) if weights is True else set(weights)
    return [r for r in run_ids if r in needed or checkpoint_path(r, results_dir).exists()
            or not run_scored(r, results_dir)]


def train_runs(run_ids, data_dir, cfg: TrainConfig, results_dir: Path = DEFAULT_RESULTS, *,
               progress: bool = True, plan=None, executor=None, weights=()) -> dict:
    """Train the runs in order (finished ones are reused, interrupted ones resume); {id: log} of those trained
    or reused. A finished run whose checkpoint is gone but whose test predictions are stored is not trained
    again unless its weights are needed (runs_to_train).

    plan: a pipeline.Plan that shows one progress bar for all runs (then no bar per run).
    executor: None trains here, one run after another; an executor.RayExecutor trains as Ray tasks.
    """
    runs = all_runs(cfg)
    unknown = [r for r in run_ids if r not in runs]
    if unknown:
        close = {r: difflib.get_close_matches(r, runs, n=3) for r in unknown}
        raise ValueError("unknown run id(s): " + "; ".join(f"{r!r}" + (f" (did you mean {', '.join(c)}?)" if c else "")
                                                          for r, c in close.items())
                         + f"; `python -m problem2 runs list` lists the {len(runs)} known ones")
    run_ids = runs_to_train(run_ids, results_dir, weights)
    if executor is not None:
        return executor.train({r: runs[r] for r in run_ids}, data_dir, results_dir, plan)
    logs = {}
    for i, run_id in enumerate(run_ids, 1):
        if plan is not None:
            plan.note(f"run {i}/{len(run_ids)}: {run_id}")
            on_epoch = lambda entry, run_id=run_id: plan.epoch_finished(run_id)  # noqa: E731
        else:
            print(f"[run {i}/{len(run_ids)}] {run_id}", flush=True)
            on_epoch = None
        logs[run_id] = run_training(runs[run_id], data_dir, run_dir(run_id, results_dir),
                                    progress=progress and plan is None, on_epoch=on_epoch)
    return logs


def run_parser(description: str) -> cli.Parser:
    """A command line with the options every run-training command shares: data, results, epochs."""
    p = cli.Parser(description=description)
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="results directory (runs train into RESULTS/runs/ID/, the main pair into RESULTS/)")
    p.add_argument("--epochs", type=cli.positive_int, default=TrainConfig.epochs, help="epochs for every run")
    return p


def run_predictions(run_id: str, results_dir: Path, data_dir: Path, fingerprint: dict, decoding: str = "subpixel",
                    selection: str = "best_val_loss"):
    """[N, K, 2] predictions of a finished run on the evaluation split (heatmap models: by `decoding`; regression
    models: their one output) from the checkpoint a selection rule picks, from its stored file, or stored now from
    its checkpoint (so that it can be scored once the checkpoint is gone); None for a run that is missing or still
    training, or whose stored file lacks the decoding (or the rule's epoch) and whose checkpoint is gone.
    fingerprint: the evaluation split's dataset_fingerprint."""
    import numpy as np
    if not run_finished(run_id, results_dir):
        return None
    path = predictions_path(run_id, results_dir, selection)
    stored = storage.load_json(path)
    log = run_log(run_id, results_dir)
    usable = lambda s: (s and s["data"]["sha1"] == fingerprint["sha1"] and s.get("run") == run_id  # noqa: E731
                        and (decoding in s["keypoints"] or "subpixel" not in s["keypoints"])
                        and from_logged_training(s, log, selection))
    if not usable(stored):
        if not selected_checkpoint(run_id, results_dir, selection).exists():
            return None
        save_predictions(run_id, results_dir, data_dir, selection)
        stored = storage.load_json(path)
    keypoints = stored["keypoints"]
    return np.asarray(keypoints[decoding] if decoding in keypoints else keypoints["argmax"])


def from_logged_training(stored: dict, log: dict, selection: str = "best_val_loss") -> bool:
    """True when stored predictions came from the epoch that the run's log and the selection rule pick: the best
    epoch (files that do not record their checkpoint, older than that record, are taken as they are) or the last."""
    made_by = stored.get("checkpoint")
    if selection == "last_epoch":
        return made_by is not None and made_by["epoch"] == len(log["epochs"])
    return made_by is None or (made_by["epoch"] == log["best_epoch"] and made_by["val_loss"] == log["best_val_loss"])


def run_scored(run_id: str, results_dir: Path) -> bool:
    """Finished, with stored test predictions from its logged best epoch: every stage that scores the run can
    do so without its checkpoint (which a committed reference run does not keep)."""
    if not run_finished(run_id, results_dir):
        return False
    stored = storage.load_json(predictions_path(run_id, results_dir))
    return bool(stored) and from_logged_training(stored, run_log(run_id, results_dir))




def predictions_path(run_id: str, results_dir: Path, selection: str = "best_val_loss") -> Path:
    """RUN/test_predictions.json (RUN/test_predictions_last.json under the last-epoch rule); the main pair share one
    directory: NAME_test_predictions.json there."""
    suffix = "_last" if selection == "last_epoch" else ""
    if run_id.startswith("main_"):
        return run_dir(run_id, results_dir) / f"{spec_of(run_id).name}_test_predictions{suffix}.json"
    return run_dir(run_id, results_dir) / f"test_predictions{suffix}.json"


def save_predictions(run_id: str, results_dir: Path, data_dir: Path, selection: str = "best_val_loss") -> Path:
    """RUN/test_predictions.json: the run's model on the evaluation split, so that it can be scored with any
    metric after its checkpoint is gone ({decoding: [N, K, 2] image px}, data fingerprint, the selection rule).
    selection: 'best_val_loss' (NAME_model.pth, the epoch of lowest validation loss) or 'last_epoch'
    (NAME_final.pth, the weights the run ended with)."""
    from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split
    from problem2.data.perturb import SHIFT_PROBE_PX, shift_toward_centre
    from problem2.training.checkpoint import load_checkpoint, model_from_checkpoint
    from problem2.training.loop import predict
    from problem2.training.objective import model_codec
    if selection not in SELECTION_RULES:
        raise ValueError(f"selection must be one of {SELECTION_RULES}, got {selection!r}")
    split = evaluation_split(data_dir)
    ds = load_split(data_dir, split, "heatmap", view=spec_of(run_id).view)  # a transposed run sees transposed images
    ckpt_path = selected_checkpoint(run_id, results_dir, selection)
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, str(ckpt_path))
    run_codec = model_codec(model)

    def keypoints(images):  # one forward pass, decoded every way (with the run's own sigma)
        outputs = predict(model, images)
        return {d: run_codec.decode(outputs, d).numpy().round(3).tolist() for d in run_codec.decodings}

    images = ds.image_tensor()
    path = predictions_path(run_id, results_dir, selection)
    made_by = {k: ckpt.get(k) for k in ("epoch", "val_loss", "weights_sha256")}
    record = {"run": run_id, "split": split, "data": dataset_fingerprint(ds), "checkpoint": made_by,
              "keypoints": keypoints(images)}
    if selection != "best_val_loss":  # files of the best-val-loss rule keep the layout they were committed with
        # ... the others also hold the images moved towards the centre along x and along y: shift gains from files
        record["selection"] = selection
        record["shifted"] = {"step_px": SHIFT_PROBE_PX} | {
            axis: keypoints(shift_toward_centre(images, ds.keypoints, i, view=spec_of(run_id).view))
            for i, axis in enumerate("xy")}
    storage.save_json(record, path)
    return path


def prune_runs(results: Path, run_ids: list) -> None:
    """Delete the checkpoints of every run but the main pair; their logs stay as they are (RunFiles.prune)."""
    from problem2.training.run_files import RunFiles
    specs = all_runs(TrainConfig())
    for run_id in run_ids:
        if not run_id.startswith("main_"):
            RunFiles(run_dir(run_id, results), specs[run_id].name).prune()
