"""Heatmap-free heads on RegressionNet's encoder: is it the representation or the architecture?

Each head is one file holding its model and, where it needs one, its codec (targets, loss, decoding); importing
this package registers them (networks.build_model, codec.codec_from_dict), so checkpoints of any head load. A new
head is its file and one line in HEADS below: its runs (experiments/registry.py), its rows in the heads study and the
report follow.

    IntegralNet  spatial features, coordinate loss: a soft-argmax over K maps at the encoder's 8 x 8
    SimCCNet     1-D classification of x and y over sub-pixel bins (SimCC), from spatial or pooled features
    RLENet       the specified GAP + MLP regression with a learned Laplace scale (RLE without its flow)
    RLEFlowNet   any RegressionNet with RLE as the paper defines it (Laplace density times a RealNVP residual
                 density); trained in the factorial's interventions, not one of the heads study's rows
"""
from dataclasses import dataclass

from problem2.models.heads.integral import IntegralNet
from problem2.models.heads.rle import LaplaceCodec, RLENet
from problem2.models.heads.rle_flow import RLEFlowNet
from problem2.models.heads.simcc import SimCCCodec, SimCCNet

__all__ = ["HEADS", "Head", "IntegralNet", "LaplaceCodec", "RLEFlowNet", "RLENet", "SimCCCodec", "SimCCNet"]

@dataclass(frozen=True)
class Head:
    """A heatmap-free head on RegressionNet's encoder (problem2/models/heads/), as the runs and the heads study name it."""
    model: str              # class in problem2.models.heads
    config: dict            # its model_config
    label: str              # human name in tables and figures
    features: str           # 'global pooling' or 'spatial'
    loss: str               # 'coordinate' or 'distribution'


# one line per head: its runs (head_*, side_head_*, swapmin_head_*) and its rows in the heads study follow
HEADS = {
    "rle": Head("RLENet", {}, "RLE without its flow, pooled", "global pooling", "distribution"),
    "simcc_gap": Head("SimCCNet", {"pooling": "avg"}, "SimCC, pooled features", "global pooling", "distribution"),
    "integral": Head("IntegralNet", {}, "Integral (soft-argmax, 8 x 8)", "spatial", "coordinate"),
    "simcc": Head("SimCCNet", {}, "SimCC, spatial features", "spatial", "distribution"),
}

