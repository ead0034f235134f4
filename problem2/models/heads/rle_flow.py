"""RLEFlowNet: pooled-feature regression trained with residual log-likelihood estimation as the RLE paper defines it
(Li et al., ICCV 2021): a Laplace density around each prediction, scaled by a learned sigma, times a density of the
normalised residual learned by a normalising flow (RealNVP, three couplings on the 2-D (x, y) residual). The flow is
a training device only: prediction is the mean, as for RLENet.

    model = RLEFlowNet(dropout=0.0, context_dilations=(2, 4))   # any RegressionNet options
    model(torch.zeros(2, 1, 128, 128)).shape                    # [2, 20]: (x, y) / 128 of 5 keypoints, 10 raw scales
    model.loss_per_image(outputs, targets)                      # [B]: the loss the training loop uses
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.models.heads.rle import MIN_SCALE, LaplaceCodec
from problem2.models.networks import RegressionNet, register_model


class RealNVP2D(nn.Module):
    """A density on R^2: a standard normal mapped through alternating affine couplings (Dinh et al., 2017), as in
    the RLE reference implementation (3 couplings of each half, 64 hidden units, tanh-bounded log-scales)."""

    def __init__(self, couplings: int = 3, hidden: int = 64):
        super().__init__()
        masks = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * couplings)
        self.register_buffer("masks", masks, persistent=False)

        def net(last: nn.Module) -> nn.Sequential:
            return nn.Sequential(nn.Linear(2, hidden), nn.LeakyReLU(), nn.Linear(hidden, hidden), nn.LeakyReLU(),
                                 nn.Linear(hidden, 2), last)
        self.scale = nn.ModuleList(net(nn.Tanh()) for _ in masks)
        self.shift = nn.ModuleList(net(nn.Identity()) for _ in masks)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """[N, 2] -> [N] log density: x mapped back through the couplings to z, log N(z; 0, I) + log |dz/dx|."""
        log_det = torch.zeros(len(x), device=x.device, dtype=x.dtype)
        z = x
        for i in reversed(range(len(self.masks))):
            mask = self.masks[i]
            kept = mask * z
            s = self.scale[i](kept) * (1 - mask)
            t = self.shift[i](kept) * (1 - mask)
            z = kept + (1 - mask) * (z - t) * torch.exp(-s)
            log_det = log_det - s.sum(dim=1)
        return -0.5 * (z ** 2).sum(dim=1) - math.log(2 * math.pi) + log_det


@register_model
class RLEFlowNet(RegressionNet):
    """RegressionNet (any of its options) whose last layer gives 4K numbers, sigmoid means (x, y) / 128 and raw
    scales (LaplaceCodec's layout), and a flow for the residual's density. [B, 1, 128, 128] -> [B, 4K]."""

    output_type = "laplace"
    loss_name = "rle"  # loss_per_image below, not its codec's plain Laplace likelihood

    def __init__(self, num_keypoints: int = 5, **options):
        super().__init__(num_keypoints, **options)
        self.config = {**self.config}
        self.head[-2] = nn.Linear(64, 4 * num_keypoints)
        self.head[-1] = nn.Identity()  # the sigmoid applies to the means only
        self.flow = RealNVP2D()
        self.codec = LaplaceCodec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        half = 2 * self.num_keypoints
        return torch.cat([torch.sigmoid(out[:, :half]), out[:, half:]], dim=1)

    def loss_per_image(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """RLE's loss with the residual term (its 'residual' and Laplace options), per image [B]: for each
        coordinate log sigma - log G(r) + log(2 sigma) + |y - mu| / sigma, r = (mu - y) / sigma the keypoint's
        normalised residual and G the flow's density, averaged over coordinates."""
        half = outputs.shape[1] // 2
        mu = outputs[:, :half].float()
        sigma = F.softplus(outputs[:, half:].float()) + MIN_SCALE
        residual = ((mu - targets) / sigma).reshape(-1, 2)  # one (x, y) residual per keypoint
        log_g = self.flow.log_prob(residual).reshape(len(outputs), -1, 1)  # [B, K, 1]: shared by x and y
        sigma, error = sigma.reshape(len(outputs), -1, 2), (targets - mu).abs().reshape(len(outputs), -1, 2)
        per_coordinate = torch.log(sigma) - log_g + torch.log(2 * sigma) + error / sigma
        return per_coordinate.flatten(1).mean(1)
