"""The assignment's dataset module: the course's stick-figure files -> (image, heatmap or regression target).

    ds = KeypointDataset("data/keypoints/train", "data/keypoints/train_annotations.json")
    image, heatmaps = ds[0]   # [1, 128, 128] in [0, 1], [5, 64, 64]: a Gaussian (sigma 2) per keypoint
    ds.heatmap_size = 32      # targets follow: [5, 32, 32]

The assignment's front door onto problem2/data/keypoints.py, where KeypointDataset lives with the file
validation, loaders and fingerprints; the coordinate conventions are problem2/models/codec.py's.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python dataset.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

from problem2.data.keypoints import KeypointDataset, load_split, make_loaders

__all__ = ["KeypointDataset", "load_split", "make_loaders"]
