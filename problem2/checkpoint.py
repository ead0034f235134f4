"""Checkpoint files and the state of a run directory: what is committed, what can be resumed or reused.

A run named NAME in directory OUT owns these files (each written atomically):
  NAME_last.pth       the commit point: weights, optimiser and RunState after the last completed epoch;
                      deleted once the run has finished (it is 3x the model's size)
  NAME_model.pth      the best epoch by validation loss (a self-describing checkpoint, see checkpoint_dict)
  NAME_snapshots.pt   raw outputs on fixed validation images after selected epochs
  training_log.json   {'models': {NAME: log}}, derived from the RunState
Each epoch writes NAME_last.pth first, then NAME_model.pth (when the epoch is a new best), the snapshots
and the log. An interruption between two writes leaves files that `open_run` repairs from the commit
point (the weights in NAME_last.pth are the newest best ones whenever NAME_model.pth lags behind);
files that disagree in any other way are refused with the mismatch named.
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from problem2 import codec, runtime
from problem2.cli import UserError
from problem2.model import MODEL_CLASSES, build_model

CHECKPOINT_FORMAT = "problem2-checkpoint-v1"
NOT_IN_SIGNATURE = ("epochs", "device", "workers", "resolved_device", "resolved_precision")


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable, or not the model that was expected."""


class RunDirectoryError(UserError, ValueError):
    """A run directory holds files that cannot be resumed, reused or overwritten as asked."""


@dataclass
class RunState:
    """Everything a resumed run needs besides the weights."""
    history: list = field(default_factory=list)
    best_val_loss: float = float("inf")
    best_epoch: int = 0


@dataclass
class RunFiles:
    out_dir: Path
    name: str

    def __post_init__(self):
        self.out_dir = Path(self.out_dir)
        self.model = self.out_dir / f"{self.name}_model.pth"
        self.last = self.out_dir / f"{self.name}_last.pth"
        self.snapshots = self.out_dir / f"{self.name}_snapshots.pt"
        self.log = self.out_dir / "training_log.json"

    def logged(self) -> dict | None:
        return (runtime.load_json(self.log, {}) or {}).get("models", {}).get(self.name)

    def prune(self) -> None:
        """Delete the run's checkpoints but keep its log, marked 'pruned' (a later run retrains it)."""
        self._delete(lambda models: models[self.name].update(pruned=True))

    def remove(self) -> None:
        """Delete this run's files and its entry in the log (other runs in OUT are kept)."""
        self._delete(lambda models: models.pop(self.name))

    def _delete(self, edit_log) -> None:
        for path in (self.model, self.last, self.snapshots):
            path.unlink(missing_ok=True)
        data = runtime.load_json(self.log)
        if data and self.name in data.get("models", {}):
            edit_log(data["models"])
            runtime.save_json(data, self.log)


def signature_from_log(log: dict) -> dict:
    """The run signature (see train.run_signature) that a training log entry records."""
    return {"model_class": log["model"], "model_config": log["model_config"],
            "train": {k: v for k, v in log["config"].items() if k not in NOT_IN_SIGNATURE},
            "train_data": log["data"]["train"], "val_data": log["data"]["val"]}


def same_run(a: dict, b: dict) -> bool:
    """Signatures equal up to where the data files were read from."""
    def strip(s):
        s = {**s, "train_data": dict(s["train_data"] or {}), "val_data": dict(s["val_data"] or {})}
        s["train_data"].pop("annotation_file", None)
        s["val_data"].pop("annotation_file", None)
        return s
    return strip(a) == strip(b)


@dataclass
class OpenedRun:
    """What open_run found: the state to continue from, and the weights to load (None: fresh run)."""
    state: RunState
    weights: dict | None = None      # state_dict to load into the model
    optimizer: dict | None = None    # optimiser state (None for a finished run)
    snapshots: dict = field(default_factory=dict)
    finished: bool = False
    repaired: list = field(default_factory=list)


def open_run(files: RunFiles, signature: dict, epochs: int, resume: bool, device) -> OpenedRun:
    """Decide from OUT's files whether the run starts fresh, resumes, or is already finished.

    resume=False refuses a directory that already holds a run named NAME (nothing is overwritten
    silently); resume=True continues a run with the same signature and refuses one with another.
    """
    logged = files.logged()
    if logged is not None and not files.last.exists() and not files.model.exists():
        # a log without its checkpoint: pruned (--quick), or a committed reference run (checkpoints are not
        # committed); nothing to resume or reuse, so the run is trained again and its log replaced
        if not logged.get("pruned"):
            print(f"note: {files.log} records run '{files.name}' but {files.model.name} is not there: training it "
                  f"again", file=sys.stderr)
        logged = None
    if not files.last.exists() and logged is None:
        if files.model.exists():
            raise RunDirectoryError(f"{files.model} exists but {files.log} records no run '{files.name}'; "
                                    f"delete it, or train into another directory")
        return OpenedRun(RunState())
    if not resume:
        raise RunDirectoryError(f"{files.out_dir} already holds a run '{files.name}'; continue or reuse it with "
                                f"--resume (resume=True), replace it with --overwrite, or train into another directory")
    if files.last.exists():
        return _resume(files, signature, epochs, device)
    return _reuse(files, signature, epochs, logged)


def _resume(files: RunFiles, signature: dict, epochs: int, device) -> OpenedRun:
    saved = torch.load(files.last, map_location=device, weights_only=True)
    if not same_run(saved["signature"], signature):
        raise RunDirectoryError(f"{files.last} was made with other settings or data; delete it, or train into "
                                f"another directory.\n saved:   {saved['signature']}\n current: {signature}")
    state = RunState(**saved["state"])
    if len(state.history) > epochs:
        raise RunDirectoryError(f"{files.last} already holds {len(state.history)} epochs, more than the {epochs} "
                                f"asked for; train into another directory")
    opened = OpenedRun(state, saved["model"], saved["optimizer"])
    best_on_disk = _checkpoint_epoch(files.model)
    if state.best_epoch and best_on_disk != state.best_epoch:
        if state.best_epoch != len(state.history):
            raise RunDirectoryError(f"{files.model} holds epoch {best_on_disk} but {files.last} says the best epoch "
                                    f"is {state.best_epoch}; the files disagree: delete the run's files to retrain")
        opened.repaired.append(files.model.name)  # cut between the commit point and the best-model write
    if files.snapshots.exists():
        opened.snapshots = torch.load(files.snapshots, weights_only=True)["epochs"]
    return opened


def _reuse(files: RunFiles, signature: dict, epochs: int, logged: dict) -> OpenedRun:
    if not same_run(signature_from_log(logged), signature):
        raise RunDirectoryError(f"{files.out_dir} holds a run '{files.name}' made with other settings or data; "
                                f"train into another directory, or replace it with --overwrite")
    done = len(logged["epochs"])
    if done != epochs:
        raise RunDirectoryError(f"{files.out_dir} holds a finished run '{files.name}' of {done} epochs (its resume "
                                f"state was dropped when it finished), not {epochs}; train into another directory")
    on_disk = _checkpoint_epoch(files.model)
    if on_disk != logged["best_epoch"]:
        raise RunDirectoryError(f"{files.model} holds epoch {on_disk} but {files.log} records best epoch "
                                f"{logged['best_epoch']}; the files disagree: delete the run's files to retrain")
    state = RunState(history=logged["epochs"], best_val_loss=logged["best_val_loss"], best_epoch=logged["best_epoch"])
    snapshots = torch.load(files.snapshots, weights_only=True)["epochs"] if files.snapshots.exists() else {}
    return OpenedRun(state, load_checkpoint(files.model)["state_dict"], None, snapshots, finished=True)


def _checkpoint_epoch(path: Path) -> int | None:
    if not path.exists():
        return None
    return load_checkpoint(path)["epoch"]


def save_resume_state(files: RunFiles, model: nn.Module, optimizer, state: RunState, signature: dict) -> None:
    """The commit point of an epoch."""
    runtime.save_torch({"signature": signature, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "state": asdict(state)}, files.last)


def checkpoint_dict(model: nn.Module, epoch: int, val_loss: float, signature: dict, run_codec=None) -> dict:
    """A self-describing checkpoint (plain types and tensors: loads with weights_only=True), with the codec
    (codec.HeatmapCodec / RegressionCodec as a dict) the model was trained with."""
    return {"format": CHECKPOINT_FORMAT, "model_class": type(model).__name__,
            "codec": run_codec.to_dict() if run_codec is not None else None,
            "model_config": dict(model.config),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            "epoch": epoch, "val_loss": val_loss, "train_config": signature["train"],
            "train_data": signature["train_data"]}


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by train.fit; clear errors for a missing or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path} (train first: python -m problem2.train)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a zip, not a torch file, unsafe pickle ...
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return ckpt


def load_codec(path: str | Path):
    """The codec a checkpoint's model was trained with (older checkpoints: from their training data record)."""
    return codec_of(load_checkpoint(path))


def codec_of(ckpt: dict):
    """load_codec for a checkpoint already read."""
    if ckpt.get("codec"):
        return codec.codec_from_dict(ckpt["codec"])
    output_type = MODEL_CLASSES[ckpt["model_class"]].output_type
    sigma = (ckpt.get("train_data") or {}).get("sigma", 2.0)
    return codec.make_codec(output_type, ckpt["model_config"].get("heatmap_size", 64), sigma)


def load_model(path: str | Path, expected_class: type | None = None) -> nn.Module:
    """Rebuild a model from a checkpoint and load its weights (eval mode, on the CPU). The model carries the codec
    it was trained with (model.trained_codec), so that engine.model_codec decodes with its own sigma."""
    ckpt = load_checkpoint(path)
    if expected_class is not None and ckpt["model_class"] != expected_class.__name__:
        raise CheckpointError(f"{path} holds a {ckpt['model_class']}, expected a {expected_class.__name__}")
    model = build_model(ckpt["model_class"], **ckpt["model_config"])
    load_weights(model, ckpt, source=str(path))
    model.trained_codec = codec_of(ckpt)
    return model.eval()


def load_weights(model: nn.Module, ckpt: dict, source: str = "checkpoint") -> None:
    """model.load_state_dict with a readable error when the checkpoint is for another model."""
    if ckpt["model_class"] != type(model).__name__ or ckpt["model_config"] != getattr(model, "config", None):
        raise CheckpointError(f"{source} holds a {ckpt['model_class']}({ckpt['model_config']}), which does not "
                              f"fit a {type(model).__name__}({getattr(model, 'config', '?')})")
    model.load_state_dict(ckpt["state_dict"])
