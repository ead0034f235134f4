"""The checkpoint format: a model's best-epoch weights as a plain state_dict (NAME_model.pth, so that
model.load_state_dict(torch.load(path)) works as the assignment's code expects) and a JSON sidecar (NAME_model.json:
class, config, codec, epoch, training settings and data, and the SHA-256 of the .pth); reading any checkpoint the
project, an older version of it, or a student wrote. The files of a run around it are run_files.py's."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import torch
import torch.nn as nn

import problem2.models.heads  # noqa: F401 (registers the heads' models and codecs, so their checkpoints load)
from problem2.core import storage
from problem2.core.cli import UserError
from problem2.core.shapes import Maybe, check
from problem2.models import codec
from problem2.models.networks import MODEL_CLASSES, build_model

CHECKPOINT_FORMAT = "problem2-checkpoint-v2"  # a plain state_dict + a JSON sidecar
LEGACY_FORMAT = "problem2-checkpoint-v1"      # one self-describing dict (read, no longer written)


class CheckpointError(UserError, ValueError):
    """A checkpoint is missing, unreadable, or not the model that was expected."""


def sidecar_path(path: str | Path) -> Path:
    """NAME_model.pth -> NAME_model.json: what the weights in the .pth are."""
    return Path(path).with_suffix(".json")


SIDECAR = {"model_class": str, "model_config": dict, "weights_sha256": str,  # NAME_model.json (save_checkpoint)
           "codec": Maybe({"type": str}), "epoch": Maybe(int), "val_loss": Maybe(float),
           "train_config": Maybe(dict), "train_data": Maybe(dict), "selection": Maybe(str)}


def save_checkpoint(path: str | Path, model: nn.Module, epoch: int, val_loss: float, signature: dict,
                    run_codec=None, selection: str = "best_val_loss") -> None:
    """One epoch's weights: the plain state_dict at PATH, then its sidecar (class, config, codec, epoch, settings,
    data, the rule that selected the epoch (schema.SELECTION_RULES), and the SHA-256 of PATH, so that a .pth and a
    .json from different epochs are caught)."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    digest = storage.save_torch(state, path)
    meta = {"format": CHECKPOINT_FORMAT, "model_class": type(model).__name__,
            "model_config": dict(model.config), "codec": codec.codec_record(run_codec) if run_codec is not None else None,
            "epoch": epoch, "val_loss": val_loss, "train_config": signature["train"],
            "train_data": signature["train_data"], "selection": selection, "weights_sha256": digest}
    storage.save_json(meta, sidecar_path(path))


def load_checkpoint(path: str | Path) -> dict:
    """A best checkpoint as one dict: {'model_class', 'model_config', 'codec', 'epoch', 'val_loss',
    'train_config', 'train_data', 'state_dict', 'format'}.

    Reads the three forms: a plain state_dict with its sidecar (what training writes), a plain state_dict
    alone (anyone's HeatmapNet()/RegressionNet(): the class is recognised by its parameter names and shapes;
    epoch, codec and settings are then None), and the older self-describing dict (problem2-checkpoint-v1).
    """
    path = Path(path)
    if not storage.regular_file(path, CheckpointError):
        raise FileNotFoundError(f"checkpoint not found: {path} (train first: python -m problem2.train)")
    raw = path.read_bytes()
    storage.traced("read", path)
    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a zip, not a torch file, unsafe pickle ...
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and obj.get("format") == LEGACY_FORMAT:
        return obj
    if not _is_state_dict(obj):
        raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint (a state_dict of tensors, with "
                              f"{sidecar_path(path).name} beside it) nor a {LEGACY_FORMAT} one")
    meta_path = sidecar_path(path)
    if not meta_path.exists():
        return {**_recognise(path, obj), "state_dict": obj}
    meta = check(storage.load_json(meta_path), SIDECAR, meta_path, CheckpointError)  # traced as read, like every JSON file
    if meta["weights_sha256"] != hashlib.sha256(raw).hexdigest():
        raise CheckpointError(f"{meta_path} describes other weights than {path} (SHA-256 differs): the two were "
                              f"not written together; restore both, or delete both to retrain")
    return {**meta, "state_dict": obj}


def upgrade_checkpoint(path: str | Path) -> bool:
    """Rewrite a problem2-checkpoint-v1 file as the plain state_dict + sidecar (same weights, same metadata);
    False when it is already in the current form."""
    ckpt = load_checkpoint(path)
    if ckpt.get("format") != LEGACY_FORMAT:
        return False
    digest = storage.save_torch(ckpt["state_dict"], path)
    meta = {k: v for k, v in ckpt.items() if k != "state_dict"}
    meta["codec"] = codec_of(ckpt).to_dict()  # the oldest checkpoints recorded it only through their data's sigma
    storage.save_json({**meta, "format": CHECKPOINT_FORMAT, "weights_sha256": digest}, sidecar_path(path))
    return True


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                       for k, v in obj.items())


def _recognise(path: Path, state_dict: dict) -> dict:
    """The metadata of a bare state_dict: the first model in KNOWN_CONFIGS whose parameters it fits exactly."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    for name, config in KNOWN_CONFIGS:
        model = build_model(name, **config)
        if {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes:
            return {"format": "state_dict", "model_class": name, "model_config": dict(model.config), "codec": None,
                    "epoch": None, "val_loss": None, "train_config": None, "train_data": None}
    raise CheckpointError(f"{path} is a state_dict of no model this project builds ({len(shapes)} tensors); "
                          f"put a {sidecar_path(path).name} beside it, or load it into your own model")


# the models a bare state_dict is matched against, in order (the specified ones first)
KNOWN_CONFIGS = (("HeatmapNet", {}), ("RegressionNet", {}), ("HeatmapNet", {"heatmap_size": 32}),
                 ("HeatmapNet", {"heatmap_size": 128}), ("HeatmapNet", {"skip_connections": False}),
                 ("RegressionNet", {"pooling": "flatten"}), ("RegressionNet", {"coord_channels": True}),
                 ("SoftArgmaxNet", {}))


def load_codec(path: str | Path):
    """The codec a checkpoint's model was trained with (older checkpoints: from their training data record)."""
    return codec_of(load_checkpoint(path))


def codec_of(ckpt: dict):
    """load_codec for a checkpoint already read."""
    if ckpt.get("codec"):
        return codec.codec_from_dict(ckpt["codec"])
    output_type = MODEL_CLASSES[ckpt["model_class"]].output_type
    sigma = (ckpt.get("train_data") or {}).get("sigma", 2.0)  # older checkpoints; a bare state_dict: 2
    return codec.make_codec(output_type, ckpt["model_config"].get("heatmap_size", 64), sigma)


def load_model(path: str | Path, expected_class: type | None = None) -> nn.Module:
    """Rebuild a model from a checkpoint and load its weights (eval mode, on the CPU). The model carries the codec
    it was trained with (model.codec), so that objective.model_codec decodes with its own sigma."""
    return model_from_checkpoint(load_checkpoint(path), str(path), expected_class)


def model_from_checkpoint(ckpt: dict, source: str, expected_class: type | None = None) -> nn.Module:
    """load_model for a checkpoint already read (load_checkpoint), so that its file is read and hashed once."""
    if expected_class is not None and ckpt["model_class"] != expected_class.__name__:
        raise CheckpointError(f"{source} holds a {ckpt['model_class']}, expected a {expected_class.__name__}")
    try:
        model = build_model(ckpt["model_class"], **ckpt["model_config"])
        run_codec = codec_of(ckpt)
    except (TypeError, ValueError) as e:  # a config or codec record the classes do not take
        raise CheckpointError(f"{source}: its sidecar records a {ckpt['model_class']}({ckpt['model_config']}) with "
                              f"codec {ckpt.get('codec')} that cannot be built ({e}); restore the sidecar, or retrain"
                              ) from None
    load_weights(model, ckpt, source=source)
    model.codec = run_codec
    return model.eval()


def load_weights(model: nn.Module, ckpt: dict, source: str = "checkpoint") -> None:
    """model.load_state_dict with a readable error when the checkpoint is for another model."""
    if ckpt["model_class"] != type(model).__name__ or ckpt["model_config"] != getattr(model, "config", None):
        raise CheckpointError(f"{source} holds a {ckpt['model_class']}({ckpt['model_config']}), which does not "
                              f"fit a {type(model).__name__}({getattr(model, 'config', '?')})")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:  # the recorded config does not match the weights
        raise CheckpointError(f"{source}: its weights do not fit the {ckpt['model_class']}({ckpt['model_config']}) it "
                              f"records ({str(e).splitlines()[0][:160]})") from None
