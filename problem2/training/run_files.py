"""The files of one run and the state of its directory: what is committed, what can be resumed or reused.

A run named NAME in directory OUT owns these files (each written atomically):
  NAME_last.pth       the commit point: weights, optimiser and RunState after the last completed epoch;
                      deleted once the run has finished (it is 3x the model's size)
  NAME_model.pth      the best epoch by validation loss: a plain state_dict, so that
                      model.load_state_dict(torch.load(path)) works as the assignment's code expects
  NAME_final.pth      the last epoch's weights (+ NAME_final.json), written when the run finishes
  NAME_model.json     what the weights are (class, config, codec, epoch, training settings and data) and the
                      SHA-256 of NAME_model.pth, written right after it (see save_checkpoint)
  NAME_snapshots.pt   raw outputs on fixed validation images after selected epochs
  training_log.json   {'models': {NAME: log}}, derived from the RunState
Each epoch writes NAME_last.pth first, then NAME_model.pth and NAME_model.json (when the epoch is a new
best), the snapshots and the log. An interruption between two writes leaves files that `open_run` repairs from the commit
point (the weights in NAME_last.pth are the newest best ones whenever NAME_model.pth lags behind);
files that disagree in any other way are refused with the mismatch named.
"""
from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from problem2.core import storage
from problem2.core.cli import UserError
from problem2.core.shapes import ANY, DictOf, Exact, ListOf, Maybe, check
from problem2.training.checkpoint import CheckpointError, load_checkpoint, sidecar_path

NOT_IN_SIGNATURE = ("epochs", "device", "workers", "resolved_device", "resolved_precision")


EPOCH = {"epoch": int, "train_loss": float, "val_loss": float, "val_mean_px": float, "val_pck@0.05": float}
SIGNATURE = {"model_class": str, "model_config": dict, "train": dict, "train_data": Maybe(dict),
             "val_data": Maybe(dict)}
LOG_ENTRY = {"model": str, "model_config": dict, "config": {"epochs": int}, "data": dict, "best_epoch": int,
             "best_val_loss": float, "epochs": ListOf(EPOCH)}  # one run's log, as Run.log writes it
LOG_FILE = {"models": DictOf(LOG_ENTRY)}  # training_log.json
RESUME_STATE = {"signature": SIGNATURE, "model": dict, "optimizer": dict,  # NAME_last.pth
                "state": Exact({"history": ListOf(EPOCH), "best_val_loss": ANY, "best_epoch": int})}


def read_log(path: Path) -> dict:
    """{run name: its log entry} of a training_log.json ({} when there is none), checked against LOG_FILE:
    FileFormatError naming the file and the field otherwise."""
    data = storage.load_json(path)
    return {} if data is None else check(data, LOG_FILE, path)["models"]


def load_run_file(path: Path, device="cpu") -> dict:
    """NAME_last.pth or NAME_snapshots.pt (tensors and plain types only); RunDirectoryError naming the file and
    the way out when it is truncated, foreign or unsafe."""
    storage.regular_file(path, RunDirectoryError)
    try:
        obj = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # truncated, not a torch file, a pickle that is not plain data ...
        raise RunDirectoryError(f"{path} is not readable ({type(e).__name__}: {str(e).splitlines()[0][:120]}); "
                                f"delete it: a resume state then restarts the run, snapshots are drawn again"
                                ) from None
    if not isinstance(obj, dict):
        raise RunDirectoryError(f"{path} does not hold a run's state; delete it to train the run again")
    return obj


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
        self.model_meta = sidecar_path(self.model)
        self.last = self.out_dir / f"{self.name}_last.pth"
        self.final = self.out_dir / f"{self.name}_final.pth"  # the last epoch's weights, once the run has finished
        self.pruned = self.out_dir / f"{self.name}.pruned"  # present while the checkpoints are deleted (--quick)
        self.snapshots = self.out_dir / f"{self.name}_snapshots.pt"
        self.log = self.out_dir / "training_log.json"

    def logged(self) -> dict | None:
        """This run's entry in the log (None when it has none); RunDirectoryError naming a damaged entry."""
        return read_log(self.log).get(self.name)

    def prune(self) -> None:
        """Delete the run's checkpoints but keep its log as it is (hashes recorded of it stay true), and mark the
        run pruned with NAME.pruned: a later run retrains it."""
        self._delete_checkpoints()
        storage.save_text("checkpoints deleted (--quick); the log is kept; the run trains again when asked\n",
                          self.pruned)

    def _delete_checkpoints(self) -> None:
        for path in (self.model, self.model_meta, self.last, self.final, sidecar_path(self.final), self.snapshots):
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete this run's files and its entry in the log (other runs in OUT are kept)."""
        self._delete_checkpoints()
        self.pruned.unlink(missing_ok=True)
        data = storage.load_json(self.log)
        if data and self.name in data.get("models", {}):
            data["models"].pop(self.name)
            storage.save_json(data, self.log)


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
        if not (files.pruned.exists() or logged.get("pruned")):  # (older logs carried the mark inside)
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
    saved = check(load_run_file(files.last, device), RESUME_STATE, files.last)
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
            held = "no readable checkpoint" if best_on_disk is None else f"epoch {best_on_disk}"
            raise RunDirectoryError(f"{files.model} holds {held} but {files.last} says the best epoch "
                                    f"is {state.best_epoch}; the files disagree: delete the run's files to retrain")
        opened.repaired.append(files.model.name)  # cut between the commit point and the best-model write
    if files.snapshots.exists():
        opened.snapshots = load_run_file(files.snapshots).get("epochs", {})
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
        held = "no readable checkpoint" if on_disk is None else f"epoch {on_disk}"
        raise RunDirectoryError(f"{files.model} holds {held} but {files.log} records best epoch "
                                f"{logged['best_epoch']}; the files disagree: delete the run's files to retrain")
    state = RunState(history=logged["epochs"], best_val_loss=logged["best_val_loss"], best_epoch=logged["best_epoch"])
    snapshots = load_run_file(files.snapshots).get("epochs", {}) if files.snapshots.exists() else {}
    return OpenedRun(state, load_checkpoint(files.model)["state_dict"], None, snapshots, finished=True)


def _checkpoint_epoch(path: Path) -> int | None:
    """The epoch a best checkpoint holds; None when it is missing or torn (weights and sidecar disagree)."""
    if not path.exists():
        return None
    try:
        return load_checkpoint(path)["epoch"]
    except CheckpointError:
        return None


def save_resume_state(files: RunFiles, model: nn.Module, optimizer, state: RunState, signature: dict) -> None:
    """The commit point of an epoch."""
    storage.save_torch({"signature": signature, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "state": asdict(state)}, files.last)
