"""Views of a split, for the interventions that test where position is read (issue 31): the same images and
keypoints, drawn another way.

    images, keypoints = apply_view(images, keypoints, "transposed")   # [N, H, W] uint8, [N, K, 2] (x, y)

'upright' is the data as drawn. 'transposed' swaps the image's rows and columns and each keypoint's x and y (a
figure lying on its side, head to the left): whatever a model did with x it must now do with y. Hand labels are
assigned before the view (load_split), so a side label keeps naming the same hand.
"""
from __future__ import annotations

import numpy as np

VIEWS = ("upright", "transposed")


def apply_view(images: np.ndarray, keypoints: np.ndarray, view: str = "upright") -> tuple[np.ndarray, np.ndarray]:
    """(images [N, H, W], keypoints [N, K, 2] (x, y) image px) in the view asked for."""
    if view == "upright":
        return images, keypoints
    if view == "transposed":
        return np.ascontiguousarray(np.swapaxes(images, 1, 2)), np.ascontiguousarray(keypoints[..., ::-1])
    raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
