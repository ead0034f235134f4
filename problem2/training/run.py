"""A training run on disk: train_run trains a model into OUT/NAME_*.pth and OUT/training_log.json, driving the
loop (loop.fit) and a Run, which holds the directory's lock, opens its files (fresh, resumed, reused or repaired)
and commits each finished epoch in order (resume state, best checkpoint, snapshots, log). The files and their
commit points are run_files.py's, the checkpoint format checkpoint.py's.

    log = train_run(HeatmapNet(), train_loader, val_loader, TrainConfig(epochs=30), "outputs/x", "heatmap")
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from problem2.core import metrics, runtime, storage
from problem2.core.schema import DECLARED_SELECTION, DEFAULT_RESULTS
from problem2.data.keypoints import dataset_codec, dataset_fingerprint
from problem2.training import checkpoint, run_files
from problem2.training.loop import TrainConfig, all_targets, fit, predict, validation_keypoints
from problem2.training.objective import Objective, model_codec, objective_for

LOG_SCHEMA = ("{'models': {NAME: log}}; each log: config, environment, data, best_epoch and 'epochs': [{epoch, "
              "train_loss, val_loss, val_mean_px, val_pck@0.05, lr, epoch_seconds, train_img_per_s}]; "
              "'last_command': {argv, wall_seconds, epochs_run} of the last train command")


def train_run(model: nn.Module, train_loader, val_loader, cfg: TrainConfig, out_dir: str | Path = DEFAULT_RESULTS,
              name: str = "model", *, resume: bool = True, progress: bool = True, objective: Objective | None = None,
              overwrite: bool = False, on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train `model` (loop.fit) as the run NAME in out_dir; keep its best epoch by validation loss and its last
    epoch; return the run's log (config, environment, data, best_epoch, epochs).

    resume=True reuses a finished run with the same settings as it is (loaded into the model, nothing trained) and
    continues a partial one from its last completed epoch; resume=False refuses a directory that already holds a
    run NAME unless overwrite=True (run_files.open_run). The run's codec is the training data's (the model is set to
    carry it); on_epoch(entry) is called after each epoch's files are written."""
    run_codec = dataset_codec(train_loader.dataset) or model_codec(model)
    model.codec = run_codec  # the model carries the representation it is trained on
    objective = objective or objective_for(model, cfg.loss, run_codec)
    device = runtime.pick_device(cfg.device)
    precision = runtime.resolve_precision(cfg.precision, device)
    with Run(out_dir, name, cfg, run_codec, overwrite=overwrite) as run:
        model.to(device=device, memory_format=runtime.memory_format(device, precision))
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        signature = run_signature(model, cfg, train_loader.dataset, val_loader.dataset)
        if run.open(model, optimizer, signature, resume=resume, device=device, precision=precision).finished:
            check_logged_best(model, val_loader, objective, run, precision)
            return run.log()
        images = first_images(val_loader, cfg.num_snapshot_images)
        snapshot = lambda: predict(model, images, device, precision)  # noqa: E731
        if run.snapshot_missing():
            run.save_snapshot(len(run.state.history), snapshot())

        def commit(entry: dict) -> None:
            run.commit(model, optimizer, entry, snapshot)
            if on_epoch:
                on_epoch(entry)
        fit(model, objective, train_loader, val_loader, cfg, optimizer=optimizer, start_epoch=len(run.state.history),
            on_epoch=commit, progress=progress, name=name)
        return run.finish(model)


class Run:
    """A run's directory for the time of one train_run: the lock (one writer at a time), the allocator setting, and the
    state (history, best epoch, snapshots) that each commit writes out."""

    def __init__(self, out_dir, name: str, cfg, codec, *, overwrite: bool = False):
        self.files = run_files.RunFiles(out_dir, name)
        self.name, self.cfg, self.codec, self.overwrite = name, cfg, codec, overwrite
        self.lock = runtime.DirectoryLock(self.files.out_dir)
        self.state = self.snapshots = self.signature = self.device = self.precision = None

    def __enter__(self) -> Run:
        runtime.keep_freed_memory()  # reuse activation buffers across steps (same results, faster)
        self.lock.__enter__()
        if self.overwrite:
            self.files.remove()
        return self

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)

    def open(self, model: nn.Module, optimizer, signature: dict, *, resume: bool, device, precision: str):
        """Open the directory for this run (run_files.open_run) and load what it holds into the model and the
        optimiser; a cut after the commit point is repaired here. Returns the OpenedRun (.finished: reuse it)."""
        self.signature, self.device, self.precision = signature, device, precision
        opened = run_files.open_run(self.files, signature, self.cfg.epochs, resume, device)
        self.state, self.snapshots = opened.state, opened.snapshots
        if opened.weights is not None:
            try:
                model.load_state_dict(opened.weights)
            except RuntimeError as e:  # a resume state or checkpoint of another model under this run's name
                raise run_files.RunDirectoryError(
                    f"{self.files.out_dir}: the weights of run '{self.name}' there do not fit this "
                    f"{type(model).__name__} ({str(e).splitlines()[0][:120]}); delete the run's files to train it "
                    f"again, or train into another directory") from None
        if opened.optimizer is not None:
            optimizer.load_state_dict(opened.optimizer)
        if opened.finished:
            print(f"note: reusing the finished run '{self.name}' in {self.files.out_dir} (best epoch "
                  f"{self.state.best_epoch} of {len(self.state.history)}, loaded into the model; nothing trained)",
                  file=sys.stderr)
        elif self.state.history:
            print(f"note: resuming the run '{self.name}' in {self.files.out_dir} after epoch "
                  f"{len(self.state.history)} of {self.cfg.epochs}", file=sys.stderr)
        if opened.repaired:  # cut after the commit point: the weights loaded are the newest best epoch's
            checkpoint.save_checkpoint(self.files.model, model, self.state.best_epoch, self.state.best_val_loss,
                                       signature, self.codec)
        return opened

    def snapshot_missing(self) -> bool:
        """True when the last completed epoch is a snapshot epoch whose snapshot a cut left unwritten."""
        done = len(self.state.history)
        return bool(done) and done in self.cfg.snapshot_epochs and done not in self.snapshots

    def save_snapshot(self, epoch: int, outputs: torch.Tensor) -> None:
        self.snapshots[epoch] = outputs.half()
        storage.save_torch({"epochs": self.snapshots,
                            "val_indices": list(range(len(next(iter(self.snapshots.values())))))},
                           self.files.snapshots)

    def commit(self, model: nn.Module, optimizer, entry: dict, snapshot: Callable[[], torch.Tensor]) -> None:
        """Write one finished epoch: the resume state first (the commit point), then the best checkpoint when the
        epoch is a new best, its snapshot (snapshot() gives the outputs) and the log."""
        state = self.state
        state.history.append(entry)
        is_best = entry["val_loss"] < state.best_val_loss
        if is_best:
            state.best_val_loss, state.best_epoch = entry["val_loss"], entry["epoch"]
        run_files.save_resume_state(self.files, model, optimizer, state, self.signature)
        self.files.pruned.unlink(missing_ok=True)  # training again: the resume state is there from now on
        if is_best:
            checkpoint.save_checkpoint(self.files.model, model, entry["epoch"], entry["val_loss"], self.signature,
                                       self.codec)
        if entry["epoch"] in self.cfg.snapshot_epochs:
            self.save_snapshot(entry["epoch"], snapshot())
        update_training_log(self.files.out_dir, self.name, self.log())

    def finish(self, model: nn.Module) -> dict:
        """The run is complete: keep the last epoch's weights (NAME_final.pth, the checkpoint of the last-epoch
        selection rule), drop the resume state, leave the best epoch loaded; its log."""
        checkpoint.save_checkpoint(self.files.final, model, len(self.state.history),
                                   self.state.history[-1]["val_loss"], self.signature, self.codec, "last_epoch")
        self.files.last.unlink(missing_ok=True)  # the log and the two checkpoints are all a reuse needs
        model.load_state_dict(checkpoint.load_checkpoint(self.files.model)["state_dict"])
        return self.log()

    def log(self) -> dict:
        return {"name": self.name, "config": {**self.cfg.record(), "resolved_device": str(self.device),
                                              "resolved_precision": self.precision},
                "model": self.signature["model_class"], "model_config": self.signature["model_config"],
                "data": {"train": self.signature["train_data"], "val": self.signature["val_data"]},
                "environment": runtime.environment(self.device), "declared_selection": DECLARED_SELECTION,
                "best_epoch": self.state.best_epoch,
                "best_val_loss": self.state.best_val_loss, "epochs": self.state.history}


def update_training_log(out_dir: Path, name: str, log: dict) -> None:
    """Merge one model's log into OUT/training_log.json (atomic read-modify-write)."""
    path = Path(out_dir) / "training_log.json"
    data = storage.load_json(path, {"schema": LOG_SCHEMA, "models": {}})
    run_files.read_log(path)  # the other runs' entries are checked before the file is rewritten with them
    data["models"][name] = log
    data.pop("last_command", None)  # its timing no longer describes these logs; train.main writes it again
    storage.save_json(data, path)


def run_signature(model: nn.Module, cfg: TrainConfig, train_set, val_set) -> dict:
    """The settings that define a run (all but epochs, device and workers); resuming needs a match."""
    settings = {k: v for k, v in cfg.record().items() if k not in ("epochs", "device", "workers")}
    settings["snapshot_epochs"] = list(settings["snapshot_epochs"])
    return {"model_class": type(model).__name__, "model_config": dict(model.config),
            "train": settings, "train_data": dataset_fingerprint(train_set),
            "val_data": dataset_fingerprint(val_set)}


def first_images(loader, n: int) -> torch.Tensor:
    """[n, 1, 128, 128]: the first n images of the loader's dataset (fixed images for snapshots)."""
    return torch.stack([loader.dataset[i][0] for i in range(min(n, len(loader.dataset)))])


LOGGED_LOSS_RTOL, LOGGED_PCK_ATOL = 0.02, 0.02  # other CPU kinds move the last digits (bf16), not more


def check_logged_best(model: nn.Module, val_loader, objective: Objective, run: Run, precision: str) -> None:
    """Before a finished run is reused, its best checkpoint is scored on the validation split again: a log whose
    best epoch's validation loss or PCK@0.05 the weights do not give is refused (hand-edited, or from another run)."""
    state = run.state
    logged = state.history[state.best_epoch - 1]
    outputs = predict(model, val_loader, precision=precision)
    with torch.no_grad():
        loss = float(objective.loss(outputs, all_targets(val_loader)))
    pck = metrics.compute_pck(objective.decode(outputs), validation_keypoints(val_loader), [0.05])[0.05]
    if (abs(loss - logged["val_loss"]) > LOGGED_LOSS_RTOL * abs(logged["val_loss"]) + 1e-9
            or abs(pck - logged["val_pck@0.05"]) > LOGGED_PCK_ATOL):
        raise run_files.RunDirectoryError(
            f"{run.files.log} records validation loss {logged['val_loss']:.6g} and PCK@0.05 "
            f"{logged['val_pck@0.05']:.3f} for best epoch {state.best_epoch}, but {run.files.model.name} gives "
            f"{loss:.6g} and {pck:.3f}: the log or the checkpoint was changed; restore them, or delete the run's files "
            f"to train it again")
