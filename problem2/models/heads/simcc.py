"""SimCC (Li et al., ECCV 2022): each keypoint's x and y classified over sub-pixel bins, on RegressionNet's encoder.

    codec = SimCCCodec(bins_per_px=2, sigma=2.0)      # 256 bins per axis, bin b at image position b / 2
    codec.encode(points)                               # [K, 2] -> [K, 2, 256], each row a distribution
    SimCCNet()(torch.zeros(2, 1, 128, 128)).shape      # [2, 5, 2, 256] logits (x row, y row)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.core.schema import IMAGE_SIZE
from problem2.models.codec import Codec, register_codec
from problem2.models.networks import ENCODER_CHANNELS, Encoder, register_model


@register_codec
@dataclass(frozen=True)
class SimCCCodec(Codec):
    """Keypoints <-> two 1-D distributions per keypoint over n = 128 * bins_per_px bins; bin b is image position
    b / bins_per_px (pixel-centre convention of codec.py).

    encode: [K, 2] image (x, y) -> float32 [K, 2, n]: a Gaussian of width sigma image px around each coordinate,
    normalised to sum 1 (SimCC's label smoothing). Outputs are logits of the same shape. Loss: KL(target ||
    softmax(logits)) over the bins, averaged over keypoints and both axes (0 exactly at the target). decode:
    'argmax' (the best bin) or 'expectation' (the mean position under the softmax).
    """
    bins_per_px: int = 2
    sigma: float = 2.0
    name = "simcc"
    loss_name = "kl"
    decodings = ("argmax", "expectation")

    def __post_init__(self):
        if int(self.bins_per_px) != self.bins_per_px or self.bins_per_px < 1:
            raise ValueError(f"bins_per_px must be a positive integer, got {self.bins_per_px!r}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive (image px), got {self.sigma!r}")

    @property
    def bins(self) -> int:
        return IMAGE_SIZE * self.bins_per_px

    def encode(self, keypoints) -> np.ndarray:
        points = np.asarray(keypoints, np.float64).reshape(-1, 2) * self.bins_per_px  # [K, 2] in bins
        offsets = np.arange(self.bins)[None, None, :] - points[:, :, None]  # [K, 2, n]
        target = np.exp(-offsets**2 / (2 * (self.sigma * self.bins_per_px) ** 2))
        return (target / target.sum(-1, keepdims=True)).astype(np.float32)

    def loss_per_image(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(outputs.float(), dim=-1)
        terms = targets * (torch.log(targets.clamp_min(1e-12)) - log_p)
        kl = torch.where(targets > 0, terms, torch.zeros_like(terms)).sum(-1)  # [B, K, 2]; bins without mass add 0
        return kl.flatten(1).mean(1)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        self.check_decoding(method)
        if method == "argmax":
            return outputs.argmax(-1).float() / self.bins_per_px
        positions = torch.arange(self.bins, dtype=torch.float32, device=outputs.device) / self.bins_per_px
        return (F.softmax(outputs.float(), dim=-1) * positions).sum(-1)

    def to_dict(self) -> dict:
        return {"type": self.name, "bins_per_px": self.bins_per_px, "sigma": self.sigma}


@register_model
class SimCCNet(nn.Module):
    """Encoder (Conv1..Conv4) + a SimCC head -> logits [B, K, 2, 128 k] (x row, y row).

    pooling='flatten' (the paper's design: spatial features kept): a 1x1 conv to K x C channels; each keypoint's
    C x 8 x 8 block, flattened, goes through one linear layer for x and one for y (shared by the keypoints).
    pooling='avg' (global pooling, a distribution loss): the average-pooled 256 features through RegressionNet's
    MLP (256 -> 128 -> 64, ReLU, Dropout(dropout)) to every keypoint's two rows of logits.
    bins_per_px and sigma (image px) are the codec's.
    """

    output_type = "simcc"

    def __init__(self, num_keypoints: int = 5, pooling: str = "flatten", channels_per_keypoint: int = 4,
                 bins_per_px: int = 2, sigma: float = 2.0, dropout: float = 0.0):
        super().__init__()
        if pooling not in ("avg", "flatten"):
            raise ValueError(f"pooling must be 'avg' or 'flatten', got {pooling!r}")
        self.config = dict(num_keypoints=num_keypoints, pooling=pooling, channels_per_keypoint=channels_per_keypoint,
                           bins_per_px=bins_per_px, sigma=sigma, dropout=dropout)
        self.num_keypoints, self.pooling = num_keypoints, pooling
        self.codec = SimCCCodec(bins_per_px, sigma)
        bins, c = self.codec.bins, ENCODER_CHANNELS[-1]
        self.encoder = Encoder()
        if pooling == "flatten":
            self.project = nn.Conv2d(c, num_keypoints * channels_per_keypoint, 1)
            features = channels_per_keypoint * (IMAGE_SIZE // 16) ** 2
            self.to_x, self.to_y = nn.Linear(features, bins), nn.Linear(features, bins)
        else:
            self.head = nn.Sequential(
                nn.Linear(c, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Dropout(dropout),
                nn.Linear(64, num_keypoints * 2 * bins))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 128, 128] -> logits [B, K, 2, 128 k]."""
        y = self.encoder(x)[-1]
        b, k = y.shape[0], self.num_keypoints
        if self.pooling == "avg":
            return self.head(y.mean(dim=(2, 3))).reshape(b, k, 2, -1)
        per_keypoint = self.project(y).reshape(b, k, -1)  # [B, K, C * 64]
        return torch.stack([self.to_x(per_keypoint), self.to_y(per_keypoint)], dim=2)
