"""The one owner of coordinate conventions: keypoints <-> heatmap and regression targets.

Conventions (used by dataset, training, evaluation and plots; nowhere else re-derived):
  * Keypoints are (x, y) in image pixels, x to the right, y down, the centre of pixel
    (column i, row j) at (i, j): the course annotations' integers are pixel centres.
  * Heatmap of size S over the 128x128 image has stride s = 128 / S. A keypoint at image
    position p sits at heatmap position u = p / s (unrounded), and heatmap position u maps back
    to image position p = u * s. This is the assignment's "position x heatmap_size / 128" and
    MMPose's MSRAHeatmap convention. Encoding and decoding are exact inverses, so the
    convention adds no bias to decoded keypoints; the constant sub-stride offset between a
    heatmap pixel and the image pixels under it is learned by the network.
  * Heatmap target: an unnormalised Gaussian, peak 1 at u, cut to zero outside the square
    |du| <= 3 sigma, |dv| <= 3 sigma (so a keypoint far outside the map gives all zeros).
  * Regression target: (x0, y0, x1, y1, ...) / 128, in [0, 1].

Codec (at the end) is what a representation provides: its targets, its loss and its decoding. HeatmapCodec and
RegressionCodec are the assignment's two; the heads of problem2/models/heads/ bring their own. A model carries its codec
(model.codec), and datasets, training, evaluation, prediction and checkpoints take it from there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from problem2.models.conventions import (
    check_heatmap_size,
    check_sigma,
    decode_regression,
    encode_regression,
    gaussian_heatmaps,
    image_to_heatmap,
)
from problem2.models.decoding import DECODE_METHODS, decode_hand_pair, decode_heatmaps

# ---------------------------------------------------------------- codec objects: one representation, both ways

class Codec:
    """What every representation provides (HeatmapCodec and RegressionCodec below; the heads in problem2/models/heads/):

      name                      its type in checkpoints and logs (to_dict()['type'])
      loss_name                 what loss_per_image computes, in words for listings ('mse' here)
      encode(keypoints)         [K, 2] image (x, y) -> float32 numpy target of one image
      loss_per_image(out, t)    [B] the training loss of each image of a batch (raw outputs, targets)
      decode(out, method)       raw outputs [B, ...] -> [B, K, 2] image (x, y); method one of `decodings`
      swap_keypoints(t, i, j)   targets (or outputs) with keypoints i and j exchanged
      output_shape(shape)       one image's raw output shape for a target of `shape`
      to_dict()                 {'type': name, ...settings}: enough to rebuild it (zoo.codec_from_dict)
    Targets and outputs hold keypoints on dimension 1 ([B, K, ...]) unless a codec says otherwise.
    """
    name = "codec"
    loss_name = "mse"
    decodings: tuple = ("argmax",)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The batch loss: the mean of loss_per_image."""
        return self.loss_per_image(outputs, targets).mean()

    def loss_per_image(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of each image (the assignment's loss for both of its models)."""
        return ((outputs.float() - targets) ** 2).flatten(1).mean(1)

    def output_shape(self, target_shape: tuple) -> tuple:
        """The shape of one image's raw outputs for targets of target_shape (the same, unless a codec says)."""
        return tuple(target_shape)

    def swap_keypoints(self, targets: torch.Tensor, i: int, j: int) -> torch.Tensor:
        order = list(range(targets.shape[1]))
        order[i], order[j] = j, i
        return targets[:, order]

    @property
    def output_type(self) -> str:
        return self.name

    @property
    def default_decoding(self) -> str:
        """The decoding results and predictions use unless told otherwise (validation uses decodings[0])."""
        return self.decodings[0]

    def check_decoding(self, method: str) -> None:
        if method not in self.decodings:
            raise ValueError(f"decoding must be one of {self.decodings} for {self.name} outputs, got {method!r}")


@dataclass(frozen=True)
class HeatmapCodec(Codec):
    """Keypoints <-> K Gaussian heatmaps of size S (stride 128 / S); sigma in heatmap pixels.

    encode: [K, 2] image (x, y) -> float32 [K, S, S]; decode: [B, K, S, S] -> [B, K, 2] image (x, y).
    Stored in checkpoints (to_dict) so that a model travels with the representation it was trained on.
    """
    heatmap_size: int = 64
    sigma: float = 2.0
    name = "heatmap"
    decodings = DECODE_METHODS
    default_decoding = "subpixel"

    def __post_init__(self):
        object.__setattr__(self, "heatmap_size", check_heatmap_size(self.heatmap_size))
        object.__setattr__(self, "sigma", check_sigma(self.sigma))
        if self.sigma > self.heatmap_size / 4:
            raise ValueError(f"sigma must be at most a quarter of heatmap_size ({self.heatmap_size / 4:g} heatmap px "
                             f"at {self.heatmap_size}): a wider Gaussian covers the map and marks no place; "
                             f"got {self.sigma:g}")

    def encode(self, keypoints) -> np.ndarray:
        size = self.heatmap_size
        return gaussian_heatmaps(image_to_heatmap(np.asarray(keypoints, np.float64), size), size, size, self.sigma)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        return decode_heatmaps(outputs, method, sigma=self.sigma)

    def decode_hand_pair(self, outputs: torch.Tensor) -> torch.Tensor:
        """decode_hand_pair with this codec's sigma (the width the model was trained to draw)."""
        return decode_hand_pair(outputs, self.sigma)

    def to_dict(self) -> dict:
        return {"type": "heatmap", "heatmap_size": self.heatmap_size, "sigma": self.sigma}


@dataclass(frozen=True)
class RegressionCodec(Codec):
    """Keypoints <-> normalised coordinates: encode [K, 2] image (x, y) -> float32 [2K] = (x0, y0, ...) / 128;
    decode [B, 2K] -> [B, K, 2] image (x, y) (its one decoding is called 'argmax' in stored files)."""
    name = "regression"

    def encode(self, keypoints) -> np.ndarray:
        return encode_regression(keypoints)

    def decode(self, outputs: torch.Tensor, method: str = "argmax") -> torch.Tensor:
        return decode_regression(outputs)

    def swap_keypoints(self, targets: torch.Tensor, i: int, j: int) -> torch.Tensor:
        b = targets.shape[0]
        return Codec.swap_keypoints(self, targets.reshape(b, -1, 2), i, j).reshape(b, -1)

    def to_dict(self) -> dict:
        return {"type": "regression"}


CODEC_TYPES: dict = {}  # name -> codec class; the heads of problem2/models/heads/ add theirs (register_codec)


def register_codec(cls):
    """Class decorator: make a codec class rebuildable from its to_dict() (codec_from_dict)."""
    CODEC_TYPES[cls.name] = cls
    return cls


register_codec(HeatmapCodec)
register_codec(RegressionCodec)


def codec_record(run_codec) -> dict:
    """run_codec.to_dict(), checked to rebuild the same codec (class and settings): a subclass that kept its
    parent's to_dict or name, or that was never registered, would otherwise reload silently as something else."""
    record = run_codec.to_dict()
    try:
        rebuilt = codec_from_dict(record)
    except (TypeError, ValueError) as e:
        rebuilt = e
    if rebuilt != run_codec:
        raise ValueError(f"{type(run_codec).__name__}.to_dict() gives {record}, which rebuilds "
                         f"{type(rebuilt).__name__ if not isinstance(rebuilt, Exception) else 'nothing'}, not the "
                         f"codec itself: give the class its own `name`, register it (@register_codec) and make "
                         f"to_dict() record every setting")
    return record


def codec_from_dict(d: dict):
    """The codec a checkpoint or log describes ({'type': name, ...settings}, as to_dict writes it)."""
    d = dict(d)
    name = d.pop("type", d.pop("output_type", None))
    if name not in CODEC_TYPES:
        raise ValueError(f"unknown codec {name!r}; known: {sorted(CODEC_TYPES)} (a head's codec is known once "
                         f"problem2.models.heads is imported)")
    return CODEC_TYPES[name](**d)


def make_codec(output_type: str, heatmap_size: int = 64, sigma: float = 2.0):
    """The assignment's two representations by name (KeypointDataset's output_type)."""
    if output_type == "heatmap":
        return HeatmapCodec(heatmap_size, sigma)
    if output_type == "regression":
        return RegressionCodec()
    raise ValueError(f"output_type must be 'heatmap' or 'regression', got {output_type!r}")
