"""IntegralNet: integral regression (soft-argmax, as in Sun et al. 2018 and Nibali et al.'s DSNT) on RegressionNet's
encoder, with no decoder: spatial features and a coordinate loss.

    >>> IntegralNet()(torch.zeros(2, 1, 128, 128)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import torch
import torch.nn as nn

from problem2.core.schema import IMAGE_SIZE
from problem2.models.codec import RegressionCodec
from problem2.models.networks import ENCODER_CHANNELS, Encoder, register_model, spatial_expectation


@register_model
class IntegralNet(nn.Module):
    """Encoder (Conv1..Conv4) -> 1x1 conv to K maps at the encoder's 8 x 8 -> spatial softmax -> expected (x, y).

    Output [B, 2K] interleaved (x, y) / 128, like RegressionNet, trained with the same coordinate loss. The grid
    puts the 8 cells' positions from the image's first pixel edge to its last (-0.5 to 127.5 image px, 18.3 px
    apart): an expectation lies strictly between the first and the last position, so cell centres (7.5 to 119.5)
    could not reach feet at y = 125.
    """

    output_type = "regression"

    def __init__(self, num_keypoints: int = 5):
        super().__init__()
        self.config = dict(num_keypoints=num_keypoints)
        self.num_keypoints = num_keypoints
        self.encoder = Encoder()
        self.final = nn.Conv2d(ENCODER_CHANNELS[-1], num_keypoints, 1)
        cells = IMAGE_SIZE // 16
        grid = (-0.5 + torch.arange(cells, dtype=torch.float32) * IMAGE_SIZE / (cells - 1)) / IMAGE_SIZE
        self.register_buffer("grid", grid, persistent=False)
        self.codec = RegressionCodec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 128, 128] -> [B, 2K] = (x0, y0, x1, y1, ...) / 128."""
        return spatial_expectation(self.final(self.encoder(x)[-1]), self.grid, self.grid)
