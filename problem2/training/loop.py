"""The training loop: any model, any objective, any DataLoaders of (image [1, 128, 128], target). It knows nothing
of files: the caller places the model on its device and hands over everything (training/run.py's train_run does it
for a run on disk, with resume and commits in on_epoch).

    model = HeatmapNet()
    train_loader, val_loader = make_loaders("data/keypoints", model.codec)
    history = fit(model, objective_for(model), train_loader, val_loader, TrainConfig(epochs=30))

Each epoch is seeded from (seed, epoch): a caller that restores the weights, the optimiser and the epochs done
replays an interrupted run exactly.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, SequentialSampler
from tqdm import tqdm

from problem2.core import metrics, runtime
from problem2.data.keypoints import dataset_codec, dataset_keypoints
from problem2.models import codec
from problem2.training.objective import Objective


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


def fit(model: nn.Module, objective: Objective, train_loader: DataLoader, val_loader: DataLoader, cfg: TrainConfig,
        *, optimizer: torch.optim.Optimizer | None = None, start_epoch: int = 0,
        on_epoch: Callable[[dict], None] | None = None, progress: bool = True, name: str = "model") -> list[dict]:
    """Train `model` on the device it sits on from epoch start_epoch + 1 to cfg.epochs; return the new epochs' log
    entries {epoch, train_loss, val_loss, val_mean_px, val_pck@0.05, lr, epoch_seconds, train_img_per_s}.

    objective: the loss on raw outputs and their decoding to [B, K, 2] image px (objective.objective_for).
    optimizer: Adam at cfg.lr when None (a resumed run passes its own, state loaded). on_epoch(entry) is called
    after each epoch (a run commits its files there). The validation loader must not shuffle."""
    if not isinstance(val_loader.sampler, SequentialSampler):
        raise ValueError("val_loader must iterate in order (shuffle=False)")
    precision = runtime.resolve_precision(cfg.precision, next(model.parameters()).device)
    check_output_fits(model, val_loader, precision, objective.codec)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=cfg.lr)
    val_targets, val_gt = all_targets(val_loader), validation_keypoints(val_loader)  # fixed: computed once
    steps = len(train_loader)
    bar = tqdm(total=cfg.epochs * steps, initial=start_epoch * steps, disable=not progress, desc=f"train {name}",
               unit="step", dynamic_ncols=True)
    history = []
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        train_loss, seen = train_one_epoch(model, objective, train_loader, optimizer, cfg, epoch, precision, bar, name)
        train_seconds = time.perf_counter() - t0
        entry = {"epoch": epoch, "train_loss": train_loss,
                 **validate(model, objective, val_loader, val_targets, val_gt, precision),
                 "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": time.perf_counter() - t0,
                 "train_img_per_s": seen / train_seconds}
        bar.set_postfix(epoch=f"{epoch}/{cfg.epochs}", val_loss=f"{entry['val_loss']:.4g}",
                        val_px=f"{entry['val_mean_px']:.2f}")
        history.append(entry)
        if on_epoch:
            on_epoch(entry)
    bar.close()
    return history


def train_one_epoch(model: nn.Module, objective: Objective, loader: DataLoader, optimizer, cfg: TrainConfig,
                    epoch: int, precision: str, bar: tqdm, name: str = "model") -> tuple[float, int]:
    """One pass over the training loader, seeded from (cfg.seed, epoch) so that shuffling, augmentation and dropout
    replay exactly on resume; the learning rate set at every step. Returns (mean training loss, images seen)."""
    torch.manual_seed(cfg.seed * 100003 + epoch)
    if hasattr(loader.dataset, "set_epoch"):  # augment.AugmentedDataset: this epoch's draws
        loader.dataset.set_epoch(epoch)
    device = next(model.parameters()).device
    mem_format = runtime.memory_format(device, precision)
    model.train()
    steps, loss_sum, seen = len(loader), 0.0, 0
    for step, (images, targets) in enumerate(loader, 1):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, (epoch - 1) * steps + step - 1, cfg.epochs * steps)
        images = images.to(device, memory_format=mem_format, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with runtime.autocast(device, precision):
            outputs = model(images)
        loss = objective.loss(outputs.float(), targets)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"{name}: non-finite loss ({loss.item()}) at epoch {epoch}, step {step}/{steps}; "
                                     f"stopping")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * len(images)
        seen += len(images)
        bar.update(1)
        bar.set_postfix(epoch=f"{epoch}/{cfg.epochs}", loss=f"{loss.item():.4g}")
    return loss_sum / seen, seen


def validate(model: nn.Module, objective: Objective, loader: DataLoader, targets: torch.Tensor, gt: np.ndarray,
             precision: str = "fp32") -> dict:
    """{val_loss, val_mean_px, val_pck@0.05} on the unshuffled loader, whose targets and [N, K, 2] ground truth in
    image px are given."""
    outputs = predict(model, loader, precision=precision)
    with torch.no_grad():  # a loss with parameters of its own (RLEFlowNet's flow) builds no graph here
        loss = float(objective.loss(outputs, targets))
    pred = objective.decode(outputs)
    return {"val_loss": loss, "val_mean_px": float(metrics.distances(pred, gt).mean()),
            "val_pck@0.05": metrics.compute_pck(pred, gt, [0.05])[0.05]}


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
def check_output_fits(model: nn.Module, loader: DataLoader, precision: str = "fp32", run_codec=None) -> None:
    """ValueError naming both shapes when the model's output cannot be compared with the loader's targets."""
    image, target = loader.dataset[0][:2]
    shape = tuple(predict(model, image[None], precision=precision).shape[1:])
    expected = tuple(run_codec.output_shape(tuple(target.shape)) if run_codec else target.shape)
    if shape != expected:
        raise ValueError(f"the model outputs {list(shape)} per image but the data's targets are "
                         f"{list(target.shape)} (outputs {list(expected)} expected): check num_keypoints (and heatmap_size) against the data")


def all_targets(loader: DataLoader) -> torch.Tensor:
    """The loader's targets, stacked in order."""
    return torch.stack([loader.dataset[i][1] for i in range(len(loader.dataset))])


def validation_keypoints(loader: DataLoader) -> np.ndarray:
    """[N, K, 2] ground truth of the (unshuffled) validation loader, in image pixels."""
    points = dataset_keypoints(loader.dataset)
    if points is not None:
        return points
    targets = all_targets(loader)  # no keypoint accessor: the targets through the codec
    target_codec = dataset_codec(loader.dataset) or codec.make_codec(
        "heatmap" if targets.dim() == 4 else "regression", targets.shape[-1])
    return target_codec.decode(targets, target_codec.default_decoding).numpy()
