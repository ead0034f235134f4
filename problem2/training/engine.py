"""The training engine: one loop (`fit`) for every model, and batched prediction.

    log = fit(model, train_loader, val_loader, TrainConfig(epochs=30), out_dir, name="heatmap")

What differs between models (the loss, and how outputs become keypoints for the validation metric)
is an `Objective`. Each epoch is seeded from (seed, epoch), so an interrupted run resumed from its
last completed epoch ends with the same log and weights. The files of a run, their write order and
how a cut between two writes is repaired: checkpoint.py.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, SequentialSampler
from tqdm import tqdm

from problem2.core import metrics, runtime
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.keypoints import dataset_codec, dataset_fingerprint, dataset_keypoints
from problem2.models import codec
from problem2.training import run_files
from problem2.training.objective import Objective, model_codec, objective_for
from problem2.training.run import Run


@dataclass
class TrainConfig:
    epochs: int = 30                 # the assignment's protocol: 30 epochs,
    batch_size: int = 32             # batch 32,
    lr: float = 1e-3                 # Adam at 0.001, constant
    seed: int = 0                    # model init, shuffling and dropout
    device: str = "auto"             # cuda, then mps, then cpu
    precision: str = "auto"          # bf16 autocast + channels_last where fast, else fp32
    workers: int = 0                 # DataLoader workers (images are in memory: 0 is fastest here)
    loss: str = "mse"                # 'mse' (the assignment's) or 'l1' (a regression study)
    snapshot_epochs: tuple = (1, 2, 5, 10, 20, 30)  # save raw outputs on fixed val images then
    num_snapshot_images: int = 4
    schedule: str = "constant"       # learning rate: 'constant' (the assignment's) or 'cosine' (decays to 0)

    ADDED_LATER = {"schedule": "constant"}  # fields newer than the committed logs, with the value those runs had

    def __post_init__(self):
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{'epochs (num_epochs)' if name == 'epochs' else name} must be a positive integer, "
                                 f"got {value!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    def record(self) -> dict:
        """The config as logs, signatures and provenance record it: every field, except ADDED_LATER ones at the
        value that runs recorded before the field existed (so that their records stay valid)."""
        return {k: v for k, v in asdict(self).items()
                if k not in self.ADDED_LATER or v != self.ADDED_LATER[k]}


SCHEDULES = ("constant", "cosine")


def learning_rate(cfg: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate of optimiser step `step` (0-based, counted over the whole run) of `total_steps`:
    cfg.lr throughout ('constant'), or cosine-annealed from cfg.lr to 0 ('cosine', Loshchilov & Hutter 2017).
    A function of the step alone, so that a resumed run replays it exactly."""
    if cfg.schedule == "constant":
        return cfg.lr
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * step / total_steps))


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, cfg: TrainConfig,
        out_dir: str | Path = DEFAULT_RESULTS, name: str = "model", *, resume: bool = True, progress: bool = True,
        objective: Objective | None = None, overwrite: bool = False,
        on_epoch: Callable[[dict], None] | None = None) -> dict:
    """Train `model` for cfg.epochs with Adam; keep the best epoch by validation loss; return the log.

    The loaders may hold any dataset whose items are (image [1, 128, 128], target); the validation
    loader must not shuffle. With resume=True a finished run with the same settings is reused as it
    is and a partial one continues from its last completed epoch; resume=False refuses a directory
    that already holds a run NAME unless overwrite=True (see run_files.open_run). The directory, its lock and the
    commits of each epoch are run.Run's; this is the loop. on_epoch(entry) is called after each epoch's files.
    """
    run_codec = dataset_codec(train_loader.dataset) or model_codec(model)
    model.codec = run_codec  # the model carries the representation it is trained on
    objective = objective or objective_for(model, cfg.loss, run_codec)
    device = runtime.pick_device(cfg.device)
    precision = runtime.resolve_precision(cfg.precision, device)
    mem_format = runtime.memory_format(device, precision)
    if not isinstance(val_loader.sampler, SequentialSampler):
        raise ValueError("val_loader must iterate in order (shuffle=False)")
    with Run(out_dir, name, cfg, run_codec, overwrite=overwrite) as run:
        model.to(device=device, memory_format=mem_format)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        signature = run_signature(model, cfg, train_loader.dataset, val_loader.dataset)
        if run.open(model, optimizer, signature, resume=resume, device=device, precision=precision).finished:
            check_logged_best(model, val_loader, objective, run.state, device, precision, run.files)
            return run.log()
        val_gt = validation_keypoints(val_loader)
        check_output_fits(model, val_loader, device, mem_format, run_codec)
        val_targets = _all_targets(val_loader)  # fixed: computed once, not every epoch
        snapshot_images = _first_images(val_loader, cfg.num_snapshot_images)
        snapshot = lambda: predict(model, snapshot_images, device, precision)  # noqa: E731
        if run.snapshot_missing():
            run.save_snapshot(len(run.state.history), snapshot())
        steps_per_epoch = len(train_loader)
        start = len(run.state.history)
        bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=start * steps_per_epoch, disable=not progress,
                   desc=f"train {name}", unit="step", dynamic_ncols=True)
        for epoch in range(start + 1, cfg.epochs + 1):
            # ---- train one epoch (seeded per epoch: shuffling and dropout replay exactly on resume)
            torch.manual_seed(cfg.seed * 100003 + epoch)
            if hasattr(train_loader.dataset, "set_epoch"):  # augment.AugmentedDataset: this epoch's draws
                train_loader.dataset.set_epoch(epoch)
            model.train()
            t0, loss_sum, seen = time.perf_counter(), 0.0, 0
            for step, (images, targets) in enumerate(train_loader, 1):
                for group in optimizer.param_groups:
                    group["lr"] = learning_rate(cfg, (epoch - 1) * steps_per_epoch + step - 1,
                                                cfg.epochs * steps_per_epoch)
                images = images.to(device, memory_format=mem_format, non_blocking=True)
                targets = targets.to(device, non_blocking=True)
                with runtime.autocast(device, precision):
                    outputs = model(images)
                loss = objective.loss(outputs.float(), targets)
                if not torch.isfinite(loss):
                    raise NonFiniteLossError(f"{name}: non-finite loss ({loss.item()}) at epoch {epoch}, "
                                             f"step {step}/{steps_per_epoch}; stopping")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(images)
                seen += len(images)
                bar.update(1)
                bar.set_postfix(epoch=f"{epoch}/{cfg.epochs}", loss=f"{loss.item():.4g}")
            train_seconds = time.perf_counter() - t0
            # ---- validate, then commit the epoch
            outputs = predict(model, val_loader, device, precision)
            with torch.no_grad():  # a loss with parameters of its own (RLEFlowNet's flow) builds no graph here
                val_loss = float(objective.loss(outputs, val_targets))
            pred = objective.decode(outputs)
            entry = {"epoch": epoch, "train_loss": loss_sum / seen, "val_loss": val_loss,
                     "val_mean_px": float(metrics.distances(pred, val_gt).mean()),
                     "val_pck@0.05": metrics.compute_pck(pred, val_gt, [0.05])[0.05],
                     "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": time.perf_counter() - t0,
                     "train_img_per_s": seen / train_seconds}
            bar.set_postfix(epoch=f"{epoch}/{cfg.epochs}", val_loss=f"{val_loss:.4g}",
                            val_px=f"{entry['val_mean_px']:.2f}")
            run.commit(model, optimizer, entry, snapshot)
            if on_epoch:
                on_epoch(entry)
        bar.close()
        return run.finish(model)


LOGGED_LOSS_RTOL, LOGGED_PCK_ATOL = 0.02, 0.02  # other CPU kinds move the last digits (bf16), not more


def check_logged_best(model, val_loader, objective: Objective, state: run_files.RunState, device, precision,
                      files: run_files.RunFiles) -> None:
    """Before a finished run is reused, its best checkpoint is scored on the validation split again: a log whose
    best epoch's validation loss or PCK@0.05 the weights do not give is refused (hand-edited, or from another run)."""
    logged = state.history[state.best_epoch - 1]
    outputs = predict(model, val_loader, device, precision)
    with torch.no_grad():
        loss = float(objective.loss(outputs, _all_targets(val_loader)))
    pck = metrics.compute_pck(objective.decode(outputs), validation_keypoints(val_loader), [0.05])[0.05]
    if (abs(loss - logged["val_loss"]) > LOGGED_LOSS_RTOL * abs(logged["val_loss"]) + 1e-9
            or abs(pck - logged["val_pck@0.05"]) > LOGGED_PCK_ATOL):
        raise run_files.RunDirectoryError(
            f"{files.log} records validation loss {logged['val_loss']:.6g} and PCK@0.05 {logged['val_pck@0.05']:.3f} "
            f"for best epoch {state.best_epoch}, but {files.model.name} gives {loss:.6g} and {pck:.3f}: the log or "
            f"the checkpoint was changed; restore them, or delete the run's files to train it again")


@torch.no_grad()
def predict(model: nn.Module, source, device: torch.device | None = None, precision: str = "fp32",
            batch_size: int = 64) -> torch.Tensor:
    """Raw outputs (float32, on the CPU) for a DataLoader of (image, target) or an image tensor [N, 1, 128, 128]."""
    device = device or next(model.parameters()).device
    mem_format = runtime.memory_format(device, precision)
    was_training = model.training
    model.eval()
    batches = source if isinstance(source, DataLoader) else source.split(batch_size)
    outputs = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        with runtime.autocast(device, precision):
            out = model(images.to(device, memory_format=mem_format))
        outputs.append(out.float().cpu())
    model.train(was_training)
    return torch.cat(outputs)


@torch.no_grad()
def check_output_fits(model: nn.Module, loader: DataLoader, device, mem_format, run_codec=None) -> None:
    """ValueError naming both shapes when the model's output cannot be compared with the loader's targets."""
    image, target = loader.dataset[0][:2]
    was_training = model.training
    model.eval()
    shape = tuple(model(image[None].to(device, memory_format=mem_format)).shape[1:])
    model.train(was_training)
    expected = tuple(run_codec.output_shape(tuple(target.shape)) if run_codec else target.shape)
    if shape != expected:
        raise ValueError(f"the model outputs {list(shape)} per image but the data's targets are "
                         f"{list(target.shape)} (outputs {list(expected)} expected): check num_keypoints (and heatmap_size) against the data")


def _all_targets(loader: DataLoader) -> torch.Tensor:
    return torch.stack([loader.dataset[i][1] for i in range(len(loader.dataset))])


def _first_images(loader: DataLoader, n: int) -> torch.Tensor:
    """[n, 1, 128, 128]: the first n images of the loader's dataset (fixed images for snapshots)."""
    return torch.stack([loader.dataset[i][0] for i in range(min(n, len(loader.dataset)))])


def validation_keypoints(loader: DataLoader) -> np.ndarray:
    """[N, K, 2] ground truth of the (unshuffled) validation loader, in image pixels."""
    points = dataset_keypoints(loader.dataset)
    if points is not None:
        return points
    targets = _all_targets(loader)  # no keypoint accessor: the targets through the codec
    target_codec = dataset_codec(loader.dataset) or codec.make_codec(
        "heatmap" if targets.dim() == 4 else "regression", targets.shape[-1])
    return target_codec.decode(targets, target_codec.default_decoding).numpy()


def run_signature(model: nn.Module, cfg: TrainConfig, train_set, val_set) -> dict:
    """The settings that define a run (all but epochs, device and workers); resuming needs a match."""
    settings = {k: v for k, v in cfg.record().items() if k not in ("epochs", "device", "workers")}
    settings["snapshot_epochs"] = list(settings["snapshot_epochs"])
    return {"model_class": type(model).__name__, "model_config": dict(model.config),
            "train": settings, "train_data": dataset_fingerprint(train_set),
            "val_data": dataset_fingerprint(val_set)}
