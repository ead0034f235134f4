"""What a model costs and what it sees: parameters, FLOPs per image, the receptive field of RegressionNet's deepest
units.

    count_flops(HeatmapNet()) / 1e9     # 0.80 GFLOPs per 128 x 128 image, forward
    receptive_field((2, 4))             # 238 px: Conv4 and two dilated context convolutions
"""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from problem2.core.schema import IMAGE_SIZE
from problem2.models.networks import ENCODER_CHANNELS


def receptive_field(context_dilations: tuple = ()) -> int:
    """Receptive field (image px) of one unit after Conv4 and the context layers: each 3x3 conv adds 2 x dilation
    x its input stride, each 2x2 pool 1 x its input stride. The encoder alone: 3 -> 4 -> 8 -> 10 -> 18 -> 22 ->
    38 -> 46 px; dilations (2, 4) at stride 16 add 64 + 128: 238 px."""
    field, stride = 1, 1
    for _ in ENCODER_CHANNELS:
        field, stride = field + 2 * stride, stride  # conv 3x3
        field, stride = field + stride, stride * 2  # max pool 2x2
    return field + sum(2 * int(d) * stride for d in context_dilations)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, image_size: int = IMAGE_SIZE, training: bool = False) -> int:
    """FLOPs for one image, as torch.utils.flop_counter counts them (2 per multiply-add of convolutions,
    transposed convolutions and matrix products): the forward pass, or with training=True forward and
    backward (about 3x forward; the input image needs no gradient)."""
    was_training = model.training
    device = next(model.parameters()).device
    model.train(training)
    try:
        with FlopCounterMode(display=False) as counter:
            if training:
                model(torch.zeros(2, 1, image_size, image_size, device=device)).float().sum().backward()
            else:
                with torch.no_grad():
                    model(torch.zeros(1, 1, image_size, image_size, device=device))
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return counter.get_total_flops() // (2 if training else 1)


def model_summary(model: nn.Module) -> dict:
    """{'name', 'config', 'parameters', 'gflops_per_image'} for the reports."""
    return dict(name=type(model).__name__, config=dict(model.config),
                parameters=count_parameters(model), gflops_per_image=count_flops(model) / 1e9)
