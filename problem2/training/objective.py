"""What differs between models in training: the loss on raw outputs and their decoding to keypoints, both from the
codec the model carries (model.codec), with the option of L1 on coordinates and of the hand-swap-min loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.core.schema import HAND_PAIR
from problem2.models import codec


@dataclass
class Objective:
    """What differs between models: the loss on raw outputs, and outputs -> [B, K, 2] image px."""
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    decode: Callable[[torch.Tensor], torch.Tensor]
    codec: codec.Codec | None = None  # the representation trained on (its output shape is checked before training)


LOSSES = {"mse": None, "l1": F.l1_loss}  # 'mse': the codec's own loss (MSE for the assignment's two models)


def model_codec(model: nn.Module, outputs: torch.Tensor | None = None):
    """The codec of a model's output: the one it carries (model.codec: every project model, and a model read from
    a checkpoint carries the one it was trained with); for anyone's nn.Module without one, by its output_type
    (sigma 2 for heatmaps) or by the shape of its outputs (output_kind)."""
    carried = getattr(model, "codec", None)
    if carried is not None:
        return carried
    output_type = getattr(model, "output_type", None)
    size = getattr(model, "config", {}).get("heatmap_size", 64)
    if outputs is not None:
        kind, shown_size = output_kind(outputs)
        output_type, size = output_type or kind, shown_size or size
    if output_type is None:
        raise ValueError(f"{type(model).__name__} has no codec and no output_type ('heatmap' or 'regression'): set "
                         f"one, or pass its outputs so that their shape tells")
    return codec.make_codec(output_type, size)


def output_kind(outputs: torch.Tensor) -> tuple:
    """What a batch of raw outputs is by its shape: ('heatmap', S) for [B, K, S, S], ('regression', None) for
    [B, 2K]; ValueError naming the shape otherwise."""
    shape = tuple(outputs.shape)
    if len(shape) == 4 and shape[2] == shape[3]:
        return "heatmap", shape[-1]
    if len(shape) == 2 and shape[1] % 2 == 0:
        return "regression", None
    raise ValueError(f"cannot read model outputs of shape {list(shape)} as keypoints: expected heatmaps "
                     f"[B, K, S, S] or coordinates [B, 2K] = (x0, y0, x1, y1, ...) / 128")


def objective_for(model: nn.Module, loss: str = "mse", run_codec=None) -> Objective:
    """The model's objective: the codec's loss ('mse', the default: MSE for heatmaps and coordinates, a head's own
    loss otherwise; the model's loss_per_image where it has one, as RLEFlowNet does) or L1 on coordinates ('l1'); '+swapmin' after either takes, per image, the smaller loss of
    the two hand assignments (hand_swap_min). Validation decodes by the codec's first decoding (argmax)."""
    base, _, swap = loss.partition("+")
    if base not in LOSSES or swap not in ("", "swapmin"):
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, optionally followed by '+swapmin', got {loss!r}")
    run_codec = run_codec or model_codec(model)
    own = getattr(model, "loss_per_image", None)  # a head whose loss has parameters of its own (RLEFlowNet's flow)
    per_image = (own or run_codec.loss_per_image) if LOSSES[base] is None else (
        lambda out, t: LOSSES[base](out.float(), t, reduction="none").flatten(1).mean(1))
    if swap:
        per_image = hand_swap_min(per_image, run_codec)
    return Objective(loss=lambda out, t: per_image(out, t).mean(),
                     decode=lambda out: run_codec.decode(out, run_codec.decodings[0]), codec=run_codec)


def hand_swap_min(per_image: Callable, run_codec, hands=HAND_PAIR) -> Callable:
    """A per-image loss that scores each image against its targets and against its targets with the two hands
    exchanged, and keeps the smaller: the ambiguous course labels cost nothing when the model names the hands the
    other way round. [B] like per_image."""
    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        swapped = run_codec.swap_keypoints(targets, *hands)
        return torch.minimum(per_image(outputs, targets), per_image(outputs, swapped))
    return loss
