"""Train HeatmapNet and RegressionNet on identical data with one training loop.

    python -m problem2.train                      # both models, 30 epochs, into problem2/results/
    python -m problem2.train --epochs 2 --resume  # continue an interrupted run

One loop (`fit`) serves every model: what differs between them (the loss, and how outputs become
keypoints for the validation metric) is an `Objective`. Each epoch is seeded from (seed, epoch),
so an interrupted run resumed from its last completed epoch ends with the same log and weights.

Files written into the output directory, each atomically, for a model named NAME:
  NAME_model.pth      best epoch by validation loss: {'model_class', 'model_config', 'state_dict', ...}
  NAME_last.pth       last completed epoch (weights, optimiser, history) for --resume
  NAME_snapshots.pt   raw outputs on fixed validation images after selected epochs
  training_log.json   {'models': {NAME: log}}; each log: config, environment, data, best_epoch and
                      'epochs': [{epoch, train_loss, val_loss, val_mean_px, val_pck@0.05, lr,
                      epoch_seconds, train_img_per_s}]; 'last_command': {argv, wall_seconds (from
                      main() start, after imports, to the end), epochs_run} of the last train command
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python train.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

import argparse
import hashlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, SequentialSampler
from tqdm import tqdm

from problem2 import codec, metrics, runtime
from problem2.dataset import KeypointDataset, load_split
from problem2.generate import label_hands_by_side
from problem2.model import build_model

PACKAGE_DIR = Path(__file__).resolve().parent
RESULTS_DIR = PACKAGE_DIR / "results"
DEFAULT_DATA_ROOT = PACKAGE_DIR.parent / "data"  # generated data lands in data/keypoints/
CHECKPOINT_FORMAT = "problem2-checkpoint-v1"


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


@dataclass
class Objective:
    """What differs between models: the loss on raw outputs, and outputs -> [B, K, 2] image px."""
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


def objective_for(model: nn.Module, loss: str = "mse") -> Objective:
    """The model's objective: its output type decides the decoding (argmax for heatmaps)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return Objective(loss=LOSSES[loss], decode=lambda out: codec.decode(out, model.output_type, "argmax"))


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss."""


@dataclass
class RunState:
    """Everything a resumed run needs besides the weights."""
    history: list = field(default_factory=list)
    best_val_loss: float = float("inf")
    best_epoch: int = 0


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, cfg: TrainConfig,
        out_dir: str | Path = RESULTS_DIR, name: str = "model", resume: bool = True,
        progress: bool = True, objective: Objective | None = None) -> dict:
    """Train `model` for cfg.epochs with Adam; keep the best epoch by validation loss; return the log.

    With resume=True a finished run with the same settings is reused as it is, and a partial one
    continues from its last completed epoch. The validation loader must not shuffle (its
    predictions are matched to its dataset's keypoints in order).
    """
    out_dir = Path(out_dir)
    objective = objective or objective_for(model, cfg.loss)
    device = runtime.pick_device(cfg.device)
    precision = runtime.resolve_precision(cfg.precision, device)
    mem_format = runtime.memory_format(device, precision)
    runtime.keep_freed_memory()  # reuse activation buffers across steps (same results, faster)
    if not isinstance(val_loader.sampler, SequentialSampler):
        raise ValueError("val_loader must iterate in order (shuffle=False)")
    model.to(device=device, memory_format=mem_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    signature = run_signature(model, cfg, train_loader.dataset, val_loader.dataset)
    paths = {k: out_dir / f"{name}_{k}" for k in ("model.pth", "last.pth", "snapshots.pt")}
    state, snapshots = RunState(), {}
    if resume and paths["last.pth"].exists():
        state, snapshots = _restore(paths, model, optimizer, signature, device, cfg.epochs)
    val_gt = val_loader.dataset.keypoints
    val_targets = _all_targets(val_loader)  # fixed: computed once, not every epoch
    snapshot_images = val_loader.dataset.image_tensor()[: cfg.num_snapshot_images]
    steps_per_epoch = len(train_loader)
    start = len(state.history)
    bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=start * steps_per_epoch, disable=not progress,
               desc=f"train {name}", unit="step", dynamic_ncols=True)
    for epoch in range(start + 1, cfg.epochs + 1):
        # ---- train one epoch (seeded per epoch: shuffling and dropout replay exactly on resume)
        torch.manual_seed(cfg.seed * 100003 + epoch)
        model.train()
        t0, loss_sum, seen = time.perf_counter(), 0.0, 0
        for step, (images, targets) in enumerate(train_loader, 1):
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
        # ---- validate
        outputs = predict(model, val_loader, device, precision)
        val_loss = float(objective.loss(outputs, val_targets))
        pred = objective.decode(outputs)
        entry = {"epoch": epoch, "train_loss": loss_sum / seen, "val_loss": val_loss,
                 "val_mean_px": float(metrics.distances(pred, val_gt).mean()),
                 "val_pck@0.05": metrics.compute_pck(pred, val_gt, [0.05])[0.05],
                 "lr": optimizer.param_groups[0]["lr"], "epoch_seconds": time.perf_counter() - t0,
                 "train_img_per_s": seen / train_seconds}
        state.history.append(entry)
        bar.set_postfix(epoch=f"{epoch}/{cfg.epochs}", val_loss=f"{val_loss:.4g}",
                        val_px=f"{entry['val_mean_px']:.2f}")
        # ---- checkpoint: best model, snapshots, then the resume state last
        if val_loss < state.best_val_loss:
            state.best_val_loss, state.best_epoch = val_loss, epoch
            runtime.save_torch(checkpoint_dict(model, epoch, val_loss, cfg, signature), paths["model.pth"])
        if epoch in cfg.snapshot_epochs:
            snapshots[epoch] = predict(model, snapshot_images, device, precision).half()
            runtime.save_torch({"epochs": snapshots, "val_indices": list(range(len(snapshot_images)))},
                               paths["snapshots.pt"])
        runtime.save_torch({"signature": signature, "model": model.state_dict(),
                            "optimizer": optimizer.state_dict(), "state": asdict(state)}, paths["last.pth"])
        log = _log(name, cfg, device, precision, signature, state)
        update_training_log(out_dir, name, log)
    bar.close()
    model.load_state_dict(load_checkpoint(paths["model.pth"])["state_dict"])  # leave the best epoch loaded
    return _log(name, cfg, device, precision, signature, state)


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


def _all_targets(loader: DataLoader) -> torch.Tensor:
    return torch.stack([loader.dataset[i][1] for i in range(len(loader.dataset))])


def run_signature(model: nn.Module, cfg: TrainConfig, train_set, val_set) -> dict:
    """The settings that define a run (all but epochs, device and workers); resuming needs a match."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("epochs", "device", "workers")}
    settings["snapshot_epochs"] = list(settings["snapshot_epochs"])
    return {"model_class": type(model).__name__, "model_config": dict(model.config),
            "train": settings, "train_data": dataset_fingerprint(train_set),
            "val_data": dataset_fingerprint(val_set)}


def dataset_fingerprint(ds: KeypointDataset) -> dict:
    digest = hashlib.sha1(ds.images.tobytes())
    digest.update(ds.keypoints.tobytes())
    return {"n": len(ds), "output_type": ds.output_type, "heatmap_size": ds.heatmap_size,
            "sigma": ds.sigma, "sha1": digest.hexdigest()[:16], "annotation_file": str(ds.annotation_file)}


def _same_run(a: dict, b: dict) -> bool:
    strip = lambda s: {**s, "train_data": {**s["train_data"], "annotation_file": None},  # noqa: E731
                       "val_data": {**s["val_data"], "annotation_file": None}}
    return strip(a) == strip(b)


def _restore(paths, model, optimizer, signature, device, cfg_epochs) -> tuple[RunState, dict]:
    saved = torch.load(paths["last.pth"], map_location=device, weights_only=True)
    if not _same_run(saved["signature"], signature):
        raise ValueError(f"{paths['last.pth']} was made with other settings or data; remove it, or "
                         f"train into another output directory.\n saved:   {saved['signature']}\n"
                         f" current: {signature}")
    if len(saved["state"]["history"]) > cfg_epochs:
        raise ValueError(f"{paths['last.pth']} already holds {len(saved['state']['history'])} epochs, more than "
                         f"the {cfg_epochs} asked for; train into another output directory")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    snapshots = {}
    if paths["snapshots.pt"].exists():
        snapshots = torch.load(paths["snapshots.pt"], weights_only=True)["epochs"]
    return RunState(**saved["state"]), snapshots


def checkpoint_dict(model: nn.Module, epoch: int, val_loss: float, cfg: TrainConfig, signature: dict) -> dict:
    """A self-describing checkpoint (plain types and tensors: loads with weights_only=True)."""
    return {"format": CHECKPOINT_FORMAT, "model_class": type(model).__name__,
            "model_config": dict(model.config),
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
            "epoch": epoch, "val_loss": val_loss, "train_config": signature["train"],
            "train_data": signature["train_data"]}


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by `fit`; clear errors for a missing or unreadable file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path} (train first: python -m problem2.train)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a zip, not a torch file, unsafe pickle ...
        raise ValueError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
    return ckpt


def load_model(path: str | Path, expected_class: type | None = None) -> nn.Module:
    """Rebuild a model from a checkpoint and load its weights (eval mode, on the CPU)."""
    ckpt = load_checkpoint(path)
    if expected_class is not None and ckpt["model_class"] != expected_class.__name__:
        raise ValueError(f"{path} holds a {ckpt['model_class']}, not a {expected_class.__name__}")
    model = build_model(ckpt["model_class"], **ckpt["model_config"])
    load_weights(model, ckpt, source=str(path))
    return model.eval()


def load_weights(model: nn.Module, ckpt: dict, source: str = "checkpoint") -> None:
    """model.load_state_dict with a readable error when the checkpoint is for another model."""
    if ckpt["model_class"] != type(model).__name__ or ckpt["model_config"] != getattr(model, "config", None):
        raise ValueError(f"{source} holds a {ckpt['model_class']}({ckpt['model_config']}), which does not "
                         f"fit a {type(model).__name__}({getattr(model, 'config', '?')})")
    model.load_state_dict(ckpt["state_dict"])


def _log(name, cfg, device, precision, signature, state: RunState) -> dict:
    return {"name": name, "config": {**asdict(cfg), "resolved_device": str(device),
                                      "resolved_precision": precision},
            "model": signature["model_class"], "model_config": signature["model_config"],
            "data": {"train": signature["train_data"], "val": signature["val_data"]},
            "environment": runtime.environment(device), "best_epoch": state.best_epoch,
            "best_val_loss": state.best_val_loss, "epochs": state.history}


def update_training_log(out_dir: Path, name: str, log: dict) -> None:
    """Merge one model's log into OUT/training_log.json (atomic read-modify-write)."""
    path = Path(out_dir) / "training_log.json"
    data = runtime.load_json(path, {"schema": __doc__.split("Files written")[1].strip(), "models": {}})
    data["models"][name] = log
    data.pop("last_command", None)  # its timing no longer describes these logs; train.main writes it again
    runtime.save_json(data, path)


def make_loaders(data_dir, output_type: str, batch_size: int = 32, workers: int = 0,
                 heatmap_size: int = 64, sigma: float = 2.0, hand_labels: str = "assignment",
                 val_split: str = "val"):
    """(train_loader, val_loader) over DATA_DIR/train and DATA_DIR/{val_split}.

    hand_labels='side' relabels the hands by image side (left_hand = smaller x) in memory.
    """
    loaders = []
    for split, shuffle in (("train", True), (val_split, False)):
        ds = load_split(data_dir, split, output_type, heatmap_size, sigma)
        if hand_labels == "side":
            ds.keypoints = label_hands_by_side(ds.keypoints)
        elif hand_labels != "assignment":
            raise ValueError(f"hand_labels must be 'assignment' or 'side', got {hand_labels!r}")
        loaders.append(DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                  persistent_workers=workers > 0))
    return tuple(loaders)


@dataclass
class RunSpec:
    """One training run: which model, on which targets and labels, with which protocol."""
    name: str                        # file prefix and training_log key: NAME_model.pth
    model: str = "HeatmapNet"        # a class in problem2.model
    model_config: dict = field(default_factory=dict)
    sigma: float = 2.0               # heatmap target Gaussian (heatmap models)
    hand_labels: str = "assignment"  # or 'side'
    train: TrainConfig = field(default_factory=TrainConfig)


def run_training(spec: RunSpec, data_dir, out_dir, resume: bool = True, progress: bool = True) -> dict:
    """Build the spec's model and loaders, seed, and `fit`; a finished identical run is reused."""
    runtime.seed_everything(spec.train.seed)
    model = build_model(spec.model, **spec.model_config)
    heatmap_size = model.config.get("heatmap_size", 64)
    train_loader, val_loader = make_loaders(data_dir, model.output_type, spec.train.batch_size,
                                            spec.train.workers, heatmap_size, spec.sigma, spec.hand_labels)
    return fit(model, train_loader, val_loader, spec.train, out_dir, spec.name, resume, progress,
               objective_for(model, spec.train.loss))


def train_heatmap_model(model, train_loader, val_loader, num_epochs=30, config: TrainConfig | None = None,
                        out_dir=RESULTS_DIR, resume: bool = False):
    """The assignment's entry point: MSE on heatmaps; best epoch saved as OUT/heatmap_model.pth."""
    cfg = config or TrainConfig()
    cfg.epochs = num_epochs
    return fit(model, train_loader, val_loader, cfg, out_dir, "heatmap", resume)


def train_regression_model(model, train_loader, val_loader, num_epochs=30, config: TrainConfig | None = None,
                           out_dir=RESULTS_DIR, resume: bool = False):
    """The assignment's entry point: MSE on normalised coordinates; best epoch as OUT/regression_model.pth."""
    cfg = config or TrainConfig()
    cfg.epochs = num_epochs
    return fit(model, train_loader, val_loader, cfg, out_dir, "regression", resume)


def ensure_data(data_dir: Path | None) -> Path:
    """The course-layout data directory; the default one is generated (seed 641) when missing."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not (data_dir / "train_annotations.json").exists():
            raise FileNotFoundError(f"{data_dir} has no train_annotations.json (expected the course layout: "
                                    f"DIR/train/*.png, DIR/train_annotations.json, DIR/val/..., ...)")
        return data_dir
    data_dir = DEFAULT_DATA_ROOT / "keypoints"
    if not (data_dir / "test_annotations.json").exists():
        from problem2.generate import generate_dataset
        print(f"generating the default dataset (seed 641) in {data_dir}")
        generate_dataset(DEFAULT_DATA_ROOT, seed=641)
    return data_dir


MAIN_MODELS = {"heatmap": "HeatmapNet", "regression": "RegressionNet"}


def train_both(data_dir: Path, out_dir: Path, cfg: TrainConfig, resume: bool = True,
               models=tuple(MAIN_MODELS), progress: bool = True) -> dict:
    """Train the specified models on the same data and split, each from the same seed."""
    return {name: run_training(RunSpec(name, MAIN_MODELS[name], train=cfg), data_dir, out_dir, resume, progress)
            for name in models}


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(description="Train HeatmapNet and RegressionNet on the same data.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None,
                   help="dataset in the course layout (DIR/train, DIR/train_annotations.json, DIR/val, ...); "
                        "default: data/keypoints, generated with seed 641 when missing")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="output directory")
    p.add_argument("--models", nargs="+", choices=["heatmap", "regression"], default=["heatmap", "regression"],
                   help="which models to train")
    p.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size")
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=d.seed, help="seed for initialisation, shuffling, dropout")
    p.add_argument("--device", default=d.device, help="auto (cuda, then mps, then cpu), or a torch device")
    p.add_argument("--precision", choices=runtime.PRECISIONS, default=d.precision,
                   help="auto: bf16 autocast + channels_last where the device is fast at it, else fp32")
    p.add_argument("--workers", type=int, default=d.workers, help="DataLoader worker processes")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last completed epoch in --out (a finished run is reused)")
    return p


def record_command(out_dir: Path, argv: list, seconds: float, epochs_run: dict) -> None:
    """Store this command's wall time in OUT/training_log.json under 'last_command'."""
    path = Path(out_dir) / "training_log.json"
    data = runtime.load_json(path)
    data["last_command"] = {"argv": argv, "wall_seconds": seconds, "epochs_run": epochs_run}
    runtime.save_json(data, path)


def main(argv=None):
    t0 = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                      device=args.device, precision=args.precision, workers=args.workers)
    data_dir = ensure_data(args.data_dir)
    previous = (runtime.load_json(args.out / "training_log.json", {}) or {}).get("models", {}) if args.resume else {}
    logs = train_both(data_dir, args.out, cfg, resume=args.resume, models=args.models)
    epochs_run = {name: len(log["epochs"]) - len(previous.get(name, {}).get("epochs", [])) for name, log in logs.items()}
    seconds = time.perf_counter() - t0
    record_command(args.out, ["python", "-m", "problem2.train", *argv], seconds, epochs_run)
    for name, log in logs.items():
        best = log["epochs"][log["best_epoch"] - 1]
        print(f"{name}: best epoch {log['best_epoch']}, val loss {best['val_loss']:.5f}, "
              f"val mean error {best['val_mean_px']:.2f} px, val PCK@0.05 {best['val_pck@0.05']:.3f}")
    print(f"checkpoints and training_log.json in {args.out}; {seconds / 60:.1f} min from start to finish "
          f"(epochs run now: {epochs_run})")


if __name__ == "__main__":
    main()
