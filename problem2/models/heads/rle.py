"""RLENet: the specified RegressionNet with a learned scale per coordinate, trained by its Laplace likelihood: RLE
(Li et al., ICCV 2021) with the Laplace baseline density and without the normalising flow of the paper.

    RLENet()(torch.zeros(2, 1, 128, 128)).shape     # [2, 20]: (x, y) / 128 of 5 keypoints, then 10 raw scales
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.models.codec import Codec, RegressionCodec, register_codec
from problem2.models.conventions import decode_regression, encode_regression
from problem2.models.networks import RegressionNet, register_model

MIN_SCALE = 1e-4  # normalised units (0.013 image px): keeps log(2b) finite


@register_codec
@dataclass(frozen=True)
class LaplaceCodec(Codec):
    """Coordinates with a learned spread. Targets as RegressionCodec: [2K] = (x0, y0, ...) / 128. Outputs
    [B, 4K]: the means mu [2K] (normalised like the targets), then one raw scale per coordinate,
    b = softplus(raw) + MIN_SCALE. Loss: the Laplace negative log-likelihood log(2b) + |y - mu| / b, averaged over
    coordinates; for any b it is smallest at mu = y. decode: mu ('argmax' in stored files, as for regression);
    scales(outputs) gives b in image px (the model's own uncertainty).
    """
    name = "laplace"
    loss_name = "laplace-nll"

    def encode(self, keypoints) -> np.ndarray:
        return encode_regression(keypoints)

    def split(self, outputs: torch.Tensor) -> tuple:
        """[B, 4K] -> (mu [B, 2K], b [B, 2K]) in normalised units."""
        half = outputs.shape[1] // 2
        return outputs[:, :half].float(), F.softplus(outputs[:, half:].float()) + MIN_SCALE

    def loss_per_image(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        mu, b = self.split(outputs)
        return (torch.log(2 * b) + (targets - mu).abs() / b).mean(1)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        self.check_decoding(method)
        return decode_regression(self.split(outputs)[0])

    def scales(self, outputs: torch.Tensor) -> torch.Tensor:
        """[B, 4K] -> [B, K, 2] Laplace scale b of each coordinate, image px."""
        return decode_regression(self.split(outputs)[1])

    def output_shape(self, target_shape: tuple) -> tuple:
        return (2 * target_shape[0],)  # a scale beside every coordinate

    def swap_keypoints(self, targets: torch.Tensor, i: int, j: int) -> torch.Tensor:
        return RegressionCodec().swap_keypoints(targets, i, j)

    def to_dict(self) -> dict:
        return {"type": self.name}


@register_model
class RLENet(RegressionNet):
    """RegressionNet as specified (global average pooling, FC 256 -> 128 -> 64, ReLU, Dropout) whose last layer
    gives 4K numbers: sigmoid means (x, y) / 128 and raw scales. [B, 1, 128, 128] -> [B, 4K]."""

    output_type = "laplace"

    def __init__(self, num_keypoints: int = 5, dropout: float = 0.5):
        super().__init__(num_keypoints, dropout=dropout)
        self.config = dict(num_keypoints=num_keypoints, dropout=dropout)
        self.head[-2] = nn.Linear(64, 4 * num_keypoints)
        self.head[-1] = nn.Identity()  # the sigmoid applies to the means only
        self.codec = LaplaceCodec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        half = 2 * self.num_keypoints
        return torch.cat([torch.sigmoid(out[:, :half]), out[:, half:]], dim=1)
