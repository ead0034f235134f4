"""HeatmapNet (U-Net style) and RegressionNet (global pooling) for 5-keypoint stick figures (problem2/model.py is the
assignment's front door onto this module).

Both take images [B, 1, 128, 128] in [0, 1] and share the same encoder architecture
(separate weights). Each model carries the codec of its output (model.codec: targets, loss, decoding). Every constructor default is exactly the assignment's specification;
the other options exist for the ablations and the regression studies.

    >>> HeatmapNet()(torch.zeros(2, 1, 128, 128)).shape
    torch.Size([2, 5, 64, 64])
    >>> RegressionNet()(torch.zeros(2, 1, 128, 128)).shape
    torch.Size([2, 10])
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.core.schema import IMAGE_SIZE
from problem2.models.codec import HeatmapCodec, RegressionCodec

ENCODER_CHANNELS = (32, 64, 128, 256)  # Conv1..Conv4; each stage halves the resolution


def conv_bn_relu_pool(c_in: int, c_out: int, padding_mode: str = "zeros") -> nn.Sequential:
    """3x3 conv (padding 1, of padding_mode: 'zeros' as specified, or 'reflect' / 'replicate') -> BN -> ReLU ->
    2x2 max pool."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False, padding_mode=padding_mode),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


def deconv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    """Transposed conv (kernel 4, stride 2, padding 1: doubles H and W) -> BN -> ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


def check_num_keypoints(num_keypoints) -> int:
    """num_keypoints as an int; ValueError naming it unless it is a positive integer."""
    if isinstance(num_keypoints, bool) or not float(num_keypoints).is_integer() or num_keypoints < 1:
        raise ValueError(f"num_keypoints must be a positive integer, got {num_keypoints!r}")
    return int(num_keypoints)


def check_images(x: torch.Tensor, channels: int, exact: bool = False) -> None:
    """ValueError naming the shape unless x is [B, channels, H, W] with H and W multiples of 16 (four 2x2 pools;
    exact=True: H = W = 128, for heads whose weights depend on the 8 x 8 map)."""
    ok = x.dim() == 4 and x.shape[1] == channels and x.shape[-1] % 16 == 0 and x.shape[-2] % 16 == 0 and x.shape[-1] > 0
    if ok and exact:
        ok = tuple(x.shape[-2:]) == (IMAGE_SIZE, IMAGE_SIZE)
    if not ok:
        size = f"{IMAGE_SIZE} x {IMAGE_SIZE}" if exact else "H x W, multiples of 16 (the models are trained on 128 x 128)"
        raise ValueError(f"images must be [B, {channels}, H, W] of {size}; got {list(x.shape)}")


class Encoder(nn.Module):
    """Conv1..Conv4; returns the four pooled feature maps.

    [B, 1, 128, 128] -> [B, 32, 64, 64], [B, 64, 32, 32], [B, 128, 16, 16], [B, 256, 8, 8]
    """

    def __init__(self, in_channels: int = 1, padding_mode: str = "zeros"):
        super().__init__()
        chans = (in_channels,) + ENCODER_CHANNELS
        self.stages = nn.ModuleList(conv_bn_relu_pool(a, b, padding_mode) for a, b in zip(chans[:-1], chans[1:]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


class HeatmapNet(nn.Module):
    """Encoder + transposed-conv decoder with skip connections -> K heatmaps.

    Default (the specification): Deconv4 (8->16), concat Conv3; Deconv3 (16->32), concat Conv2;
    Deconv2 (32->64); 1x1 Final conv -> [B, K, 64, 64], no activation.
    heatmap_size=32 stops after Deconv3; heatmap_size=128 adds concat Conv1 + Deconv1 (64->128).
    skip_connections=False drops every concatenation: the decoder sees only the upsampled path.
    sigma: the width of its target Gaussians in heatmap px (the codec's, which every setting of it goes through).
    """

    output_type = "heatmap"
    DECODER_CHANNELS = (128, 64, 32, 32)  # Deconv4, Deconv3, Deconv2, Deconv1 outputs

    def __init__(self, num_keypoints: int = 5, heatmap_size: int = 64, skip_connections: bool = True,
                 sigma: float = 2.0):
        super().__init__()
        num_keypoints = check_num_keypoints(num_keypoints)
        if heatmap_size not in (32, 64, 128):
            raise ValueError(f"heatmap_size must be 32, 64 or 128, got {heatmap_size}")
        self.config = dict(num_keypoints=num_keypoints, heatmap_size=heatmap_size,
                           skip_connections=skip_connections)
        if sigma != 2.0:  # recorded only when not the specification's: older runs' records stay the same run
            self.config["sigma"] = float(sigma)
        self.num_keypoints = num_keypoints
        self.heatmap_size = heatmap_size
        self.skip_connections = skip_connections
        self.encoder = Encoder()
        num_stages = {32: 2, 64: 3, 128: 4}[heatmap_size]
        # Encoder features concatenated before Deconv3, Deconv2, Deconv1 (Conv3, Conv2, Conv1).
        skip_channels = ENCODER_CHANNELS[::-1][1:] if skip_connections else (0, 0, 0)
        stages, c_in = [], ENCODER_CHANNELS[-1]
        for i in range(num_stages):
            c_in += skip_channels[i - 1] if i > 0 else 0
            stages.append(deconv_bn_relu(c_in, self.DECODER_CHANNELS[i]))
            c_in = self.DECODER_CHANNELS[i]
        self.decoder = nn.ModuleList(stages)
        self.final = nn.Conv2d(c_in, num_keypoints, 1)
        self.codec = HeatmapCodec(heatmap_size, sigma)  # its targets: Gaussians of sigma heatmap px

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 128, 128] -> heatmaps [B, K, S, S], S = heatmap_size."""
        check_images(x, 1)
        features = self.encoder(x)
        y = features[-1]
        for i, stage in enumerate(self.decoder):
            if i > 0 and self.skip_connections:
                y = torch.cat([y, features[-1 - i]], dim=1)
            y = stage(y)
        return self.final(y)


class RegressionNet(nn.Module):
    """Encoder + pooling + MLP head -> normalised coordinates [B, 2K] in [0, 1], interleaved (x, y).

    Default (the specification): global average pooling; FC 256->128->64->2K with ReLU and
    Dropout(0.5) after the first two; Sigmoid. Options for the regression studies:
      pooling='flatten'     keep the spatial layout (flatten the 8x8x256 map instead of averaging);
      pooling='spatial'     keep the layout at the average's width: a 1x1 conv to 4 channels, flattened to the
                            same 256 features (4 x 8 x 8), so that only where the features are differs;
      coord_channels=True   CoordConv: append normalised x and y channels to the input image;
      dropout=0.0           no dropout;
      context_dilations=(2, 4)  3x3 conv-BN-ReLU layers of these dilations after Conv4 (at 8 x 8, 256 channels):
                            the deepest units' receptive field grows from 46 px to 238 px (cost.receptive_field);
      padding_mode='reflect', 'replicate' or 'circular'  every convolution's padding: the image border no longer
                            reads as zeros ('circular': no border at all, the image wraps round).
    """

    output_type = "regression"
    POOLINGS = ("avg", "flatten", "spatial")
    SPATIAL_CHANNELS = 4  # pooling='spatial': 4 x 8 x 8 = 256 features, the width of the average

    def __init__(self, num_keypoints: int = 5, pooling: str = "avg", dropout: float = 0.5,
                 coord_channels: bool = False, context_dilations: tuple = (), padding_mode: str = "zeros"):
        super().__init__()
        num_keypoints = check_num_keypoints(num_keypoints)
        if pooling not in self.POOLINGS:
            raise ValueError(f"pooling must be one of {self.POOLINGS}, got {pooling!r}")
        self.config = dict(num_keypoints=num_keypoints, pooling=pooling, dropout=dropout,
                           coord_channels=coord_channels)
        if context_dilations:  # recorded only when used: runs logged before the options existed stay the same run
            self.config["context_dilations"] = [int(d) for d in context_dilations]
        if padding_mode != "zeros":
            self.config["padding_mode"] = padding_mode
        self.num_keypoints = num_keypoints
        self.pooling, self.coord_channels = pooling, coord_channels
        self.encoder = Encoder(in_channels=3 if coord_channels else 1, padding_mode=padding_mode)
        c = ENCODER_CHANNELS[-1]
        self.context = nn.Sequential(*(dilated_conv_bn_relu(c, int(d), padding_mode) for d in context_dilations))
        if pooling == "spatial":
            self.reduce = nn.Conv2d(c, self.SPATIAL_CHANNELS, 1)
        in_features = {"avg": c, "flatten": c * (IMAGE_SIZE // 16) ** 2,
                       "spatial": self.SPATIAL_CHANNELS * (IMAGE_SIZE // 16) ** 2}[pooling]
        self.head = nn.Sequential(
            nn.Linear(in_features, 128), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(128, 64), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(64, 2 * num_keypoints), nn.Sigmoid(),
        )
        self.codec = RegressionCodec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, 128, 128] -> [B, 2K] = (x0, y0, x1, y1, ...) / 128."""
        check_images(x, 1, exact=self.pooling != "avg")
        if self.coord_channels:
            x = torch.cat([x, coordinate_channels(x)], dim=1)
        y = self.context(self.encoder(x)[-1])  # [B, 256, 8, 8]
        if self.pooling == "avg":
            y = y.mean(dim=(2, 3))
        elif self.pooling == "spatial":
            y = self.reduce(y).flatten(1)
        else:
            y = y.flatten(1)
        return self.head(y)


def dilated_conv_bn_relu(channels: int, dilation: int, padding_mode: str = "zeros") -> nn.Sequential:
    """3x3 conv of this dilation (padding of padding_mode keeps H and W) -> BN -> ReLU."""
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False,
                                   padding_mode=padding_mode), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class SoftArgmaxNet(nn.Module):
    """Integral regression: HeatmapNet's layers, a spatial softmax, and the expected (x, y).

    Trained with the same coordinate loss as RegressionNet; output [B, 2K] in [0, 1], interleaved
    (x, y), on the same scale as RegressionNet. The heatmap pixel -> image pixel map is the codec's.
    """

    output_type = "regression"

    def __init__(self, num_keypoints: int = 5, heatmap_size: int = 64):
        super().__init__()
        self.config = dict(num_keypoints=num_keypoints, heatmap_size=heatmap_size)
        self.num_keypoints = num_keypoints
        self.backbone = HeatmapNet(num_keypoints, heatmap_size=heatmap_size)
        stride = IMAGE_SIZE / heatmap_size
        # Heatmap pixel u is image position u * stride (codec convention), normalised by 128.
        grid = torch.arange(heatmap_size, dtype=torch.float32) * stride / IMAGE_SIZE
        self.register_buffer("grid", grid, persistent=False)
        self.codec = RegressionCodec()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spatial_expectation(self.backbone(x), self.grid, self.grid)


def spatial_expectation(logits: torch.Tensor, grid_x: torch.Tensor, grid_y: torch.Tensor) -> torch.Tensor:
    """Soft-argmax: logits [B, K, H, W] -> [B, 2K] interleaved (x, y), the expectation of the grid positions
    (grid_x [W], grid_y [H], normalised image coordinates) under each map's spatial softmax."""
    logits = logits.float()
    b, k, h, w = logits.shape
    prob = F.softmax(logits.reshape(b, k, h * w), dim=-1).reshape(b, k, h, w)
    ex = (prob.sum(dim=2) * grid_x).sum(dim=-1)  # marginal over rows -> x
    ey = (prob.sum(dim=3) * grid_y).sum(dim=-1)
    return torch.stack([ex, ey], dim=-1).reshape(b, 2 * k)


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """Two channels [B, 2, H, W] holding each pixel's x and y, scaled to [-1, 1]."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y]).expand(b, 2, h, w)


MODEL_CLASSES = {cls.__name__: cls for cls in (HeatmapNet, RegressionNet, SoftArgmaxNet)}


def register_model(cls):
    """Class decorator: make a model class buildable by name (build_model, checkpoints). The heads of
    problem2/models/heads/ register themselves when that package is imported."""
    MODEL_CLASSES[cls.__name__] = cls
    return cls


def build_model(name: str, **config) -> nn.Module:
    """Rebuild a model from its class name and its `.config` dict (as stored in checkpoints)."""
    if name not in MODEL_CLASSES:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODEL_CLASSES)} (the heads of "
                         f"problem2.models.heads once that package is imported)")
    return MODEL_CLASSES[name](**config)
