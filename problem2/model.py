"""The assignment's model module: HeatmapNet (U-Net style) and RegressionNet (global pooling), each taking images
[B, 1, 128, 128] in [0, 1]; every constructor default is the assignment's specification.

    >>> HeatmapNet()(torch.zeros(2, 1, 128, 128)).shape      # heatmaps [B, K, 64, 64]
    >>> RegressionNet()(torch.zeros(2, 1, 128, 128)).shape   # (x0, y0, x1, y1, ...) / 128, [B, 2K]

    python -m problem2.model     # parameters and FLOPs of the two specified models

The assignment's front door onto problem2/models/networks.py (the models, their variants, FLOP counting); the
heatmap-free heads are in problem2/models/heads/.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python model.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

from problem2.models.cost import count_flops, model_summary
from problem2.models.networks import HeatmapNet, RegressionNet, build_model

__all__ = ["HeatmapNet", "RegressionNet", "build_model", "count_flops", "model_summary"]

if __name__ == "__main__":
    for net in (HeatmapNet(), RegressionNet()):
        s = model_summary(net)
        print(f"{s['name']:14s} {s['parameters']:>10,d} parameters  {s['gflops_per_image']:.3f} GFLOPs per 128x128 image")
