"""Heatmap-free heads on RegressionNet's encoder: is it the representation or the architecture?

Each head is one file holding its model and, where it needs one, its codec (targets, loss, decoding); importing
this package registers them (model.build_model, codec.codec_from_dict), so checkpoints of any head load.

    IntegralNet  spatial features, coordinate loss: a soft-argmax over K maps at the encoder's 8 x 8
    SimCCNet     1-D classification of x and y over sub-pixel bins (SimCC), from spatial or pooled features
    RLENet       the specified GAP + MLP regression with a learned Laplace scale (RLE without its flow)
"""
from problem2.models.heads.integral import IntegralNet
from problem2.models.heads.rle import LaplaceCodec, RLENet
from problem2.models.heads.simcc import SimCCCodec, SimCCNet

__all__ = ["IntegralNet", "LaplaceCodec", "RLENet", "SimCCCodec", "SimCCNet"]
