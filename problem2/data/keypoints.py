"""KeypointDataset: the course's stick-figure files -> (image, heatmap or regression target).

    ds = KeypointDataset("data/keypoints/train", "data/keypoints/train_annotations.json")
    image, heatmaps = ds[0]   # [1, 128, 128] in [0, 1], [5, 64, 64]: a Gaussian (sigma 2) per keypoint
    ds.heatmap_size = 32      # targets follow: [5, 32, 32]

Images are decoded once and kept in memory (uint8); targets are computed per item by the codec
(problem2/models/conventions.py and codec.py own every coordinate convention). Bad files raise DatasetError naming the
file and field; a non-grayscale image is converted to grayscale with a warning.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from problem2.core.schema import KEYPOINT_NAMES, portable, split_paths
from problem2.data.files import DatasetError, images_to_tensor, load_image, read_annotations, warn_unusual_images
from problem2.data.views import apply_view
from problem2.models import codec, conventions
from problem2.models.conventions import label_hands_by_side

OUTPUT_TYPES = ("heatmap", "regression")


class KeypointDataset(Dataset):
    """Stick-figure images and their K keypoints in the course layout (K from the file: 5 in the course's).

    image_dir: folder of the split's PNGs; annotation_file: its {split}_annotations.json.
    output_type 'heatmap': targets float32 [K, heatmap_size, heatmap_size], one Gaussian of width sigma
    (heatmap pixels) per keypoint, 1 at its centre: the peak pixel reads 1 when the keypoint falls on a
    heatmap pixel centre and less otherwise (0.939 half a pixel off in x and y at sigma 2);
    output_type 'regression': targets float32 [2K] = (x0, y0, x1, y1, ...) / 128 in [0, 1].
    output_type, heatmap_size and sigma can be changed after construction (validated as in the
    constructor): the targets, and self.codec that makes them, follow.
    """

    def __init__(self, image_dir, annotation_file, output_type='heatmap', heatmap_size=64, sigma=2.0):
        self._retarget(output_type, heatmap_size, sigma)
        self.image_dir = Path(image_dir)
        self.annotation_file = Path(annotation_file)
        annotations = read_annotations(self.annotation_file)
        self.keypoint_names = list(annotations["keypoint_names"])
        self.file_names = [r["file_name"] for r in annotations["images"]]
        self.ids = [r.get("id") for r in annotations["images"]]
        # [N, 5, 2] float32 (x, y) in image pixels
        self.keypoints = np.array([r["keypoints"] for r in annotations["images"]], dtype=np.float32)
        if sorted(self.keypoint_names) == sorted(KEYPOINT_NAMES) and self.keypoint_names != KEYPOINT_NAMES:
            # the course's keypoints listed in another order: matched by name, so that output k is always the same
            self.keypoints = self.keypoints[:, [self.keypoint_names.index(n) for n in KEYPOINT_NAMES]]
            self.keypoint_names = list(KEYPOINT_NAMES)
        self.images = np.stack([load_image(self.image_dir / f, self.image_dir) for f in self.file_names])
        warn_unusual_images(self.images, self.file_names, self.image_dir)

    def _retarget(self, output_type, heatmap_size, sigma) -> None:
        """Validate the three target settings together, then switch the codec to them (all or nothing)."""
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")
        heatmap_size, sigma = conventions.check_heatmap_size(heatmap_size), conventions.check_sigma(sigma)
        self._targets = (output_type, heatmap_size, sigma)
        self._codec = codec.make_codec(output_type, heatmap_size, sigma)

    @property
    def codec(self):
        """The codec that turns keypoints into this dataset's targets (codec.HeatmapCodec, RegressionCodec, or the
        codec of any head: setting it, e.g. ds.codec = model.codec, makes the targets that model trains on)."""
        return self._codec

    @codec.setter
    def codec(self, value) -> None:
        if not callable(getattr(value, "encode", None)):
            raise ValueError(f"a codec needs an encode(keypoints) method, got {value!r}")
        self._targets = (value.name, getattr(value, "heatmap_size", self.heatmap_size),
                         getattr(value, "sigma", self.sigma))
        self._codec = value

    @property
    def output_type(self) -> str:
        return self._targets[0]

    @output_type.setter
    def output_type(self, value) -> None:
        self._retarget(value, self.heatmap_size, self.sigma)

    @property
    def heatmap_size(self) -> int:
        return self._targets[1]

    @heatmap_size.setter
    def heatmap_size(self, value) -> None:
        self._retarget(self.output_type, value, self.sigma)

    @property
    def sigma(self) -> float:
        return self._targets[2]

    @sigma.setter
    def sigma(self, value) -> None:
        self._retarget(self.output_type, self.heatmap_size, value)

    def __len__(self):
        return len(self.file_names)

    def generate_heatmap(self, keypoints, height, width):
        """keypoints [K, 2] (x, y) in heatmap pixels -> float32 tensor [K, height, width]."""
        return torch.from_numpy(conventions.gaussian_heatmaps(keypoints, height, width, self.sigma))

    def __getitem__(self, idx):
        image = images_to_tensor(self.images[idx][None])[0]
        return image, torch.from_numpy(self.codec.encode(self.keypoints[idx]))

    def image_tensor(self) -> torch.Tensor:
        """All images as one float32 tensor [N, 1, 128, 128] in [0, 1] (for batched evaluation)."""
        return images_to_tensor(self.images)


def loader(ds, batch_size: int, workers: int = 0, shuffle: bool = False) -> DataLoader:
    """A DataLoader with the project's settings (persistent workers when there are any)."""
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      persistent_workers=workers > 0)


def evaluation_split(data_dir: Path) -> str:
    """'test' where the data has a test split, else 'val' (the course data has train and val only)."""
    return "test" if (Path(data_dir) / "test_annotations.json").exists() else "val"


def load_split(data_dir, split: str, output_type="heatmap", heatmap_size: int = 64,
               sigma: float = 2.0, hand_labels: str = "assignment", view: str = "upright") -> KeypointDataset:
    """The dataset of one split of a course-layout directory (DIR/{split}/, DIR/{split}_annotations.json).

    output_type: 'heatmap' or 'regression' (with heatmap_size and sigma), or a codec object (a model's
    model.codec), whose targets the dataset then makes. hand_labels='side' relabels the hands by image side
    (left_hand = smaller x) in memory; then `view` (views.apply_view: 'upright' as drawn, or 'transposed').
    """
    image_dir, annotation_file = split_paths(data_dir, split)
    if isinstance(output_type, str):
        ds = KeypointDataset(image_dir, annotation_file, output_type, heatmap_size, sigma)
    else:
        ds = KeypointDataset(image_dir, annotation_file)
        ds.codec = output_type
    if hand_labels == "side":
        ds.keypoints = label_hands_by_side(ds.keypoints)
    elif hand_labels != "assignment":
        raise ValueError(f"hand_labels must be 'assignment' or 'side', got {hand_labels!r}")
    if view != "upright":  # upright: the data as drawn
        ds.images, ds.keypoints = apply_view(ds.images, ds.keypoints, view)
    return ds


def dataset_keypoints(ds) -> np.ndarray | None:
    """[N, K, 2] ground-truth keypoints of a dataset, through Subset and ConcatDataset; None when the
    dataset has no `keypoints` accessor (then callers decode the targets through the codec)."""
    if isinstance(ds, Subset):
        inner = dataset_keypoints(ds.dataset)
        return None if inner is None else inner[np.asarray(ds.indices, dtype=np.int64)]
    if isinstance(ds, ConcatDataset):
        parts = [dataset_keypoints(d) for d in ds.datasets]
        return None if any(p is None for p in parts) else np.concatenate(parts)
    points = getattr(ds, "keypoints", None)
    return None if points is None else np.asarray(points, dtype=np.float32)


def dataset_codec(ds):
    """The codec that made a dataset's targets (KeypointDataset.codec, through Subset and ConcatDataset); None
    for a dataset that does not say."""
    if isinstance(ds, Subset):
        return dataset_codec(ds.dataset)
    if isinstance(ds, ConcatDataset):
        return dataset_codec(ds.datasets[0]) if ds.datasets else None
    return getattr(ds, "codec", None)


def dataset_fingerprint(ds) -> dict:
    """What identifies a run's data: a KeypointDataset by its images, keypoints and target settings;
    a dataset with a fingerprint() method (augment.AugmentedDataset) by what it returns; Subset and
    ConcatDataset by their parts; any other dataset by a hash of every (image, target) item it yields."""
    if hasattr(ds, "fingerprint"):
        return ds.fingerprint()
    if isinstance(ds, Subset):  # by composition: no pass over the items
        indices = np.asarray(ds.indices, dtype=np.int64)
        if isinstance(ds.dataset, KeypointDataset):  # by the items it selects (a grown pool keeps its prefix)
            base = {k: v for k, v in dataset_fingerprint(ds.dataset).items() if k not in ("n", "sha1")}
            digest = hashlib.sha1(ds.dataset.images[indices].tobytes())
            digest.update(ds.dataset.keypoints[indices].tobytes())
            return {"n": len(ds), "subset_of": base, "sha1": digest.hexdigest()[:16]}
        return {"n": len(ds), "subset_of": dataset_fingerprint(ds.dataset),
                "indices_sha1": hashlib.sha1(indices.tobytes()).hexdigest()[:16]}
    if isinstance(ds, ConcatDataset):
        return {"n": len(ds), "concat": [dataset_fingerprint(d) for d in ds.datasets]}
    if isinstance(ds, KeypointDataset):
        digest = hashlib.sha1(ds.images.tobytes())
        digest.update(ds.keypoints.tobytes())
        targets = ({"output_type": ds.output_type, "heatmap_size": ds.heatmap_size, "sigma": ds.sigma}
                   if ds.output_type in OUTPUT_TYPES else {"codec": ds.codec.to_dict()})
        return {"n": len(ds), **targets, "sha1": digest.hexdigest()[:16], "annotation_file": portable(ds.annotation_file)}
    digest = hashlib.sha1()
    for i in range(len(ds)):
        for tensor in ds[i][:2]:
            digest.update(torch.as_tensor(tensor).float().contiguous().numpy().tobytes())
    return {"n": len(ds), "dataset": type(ds).__name__, "sha1": digest.hexdigest()[:16],
            "note": "hash of every (image, target) item: the dataset is not a KeypointDataset"}


def make_loaders(data_dir, output_type, batch_size: int = 32, workers: int = 0,
                 heatmap_size: int = 64, sigma: float = 2.0, hand_labels: str = "assignment",
                 val_split: str = "val", view: str = "upright"):
    """(train_loader, val_loader) over DATA_DIR/train and DATA_DIR/{val_split}; output_type as in load_split
    (a name, or a model's codec).

    hand_labels='side' relabels the hands by image side (left_hand = smaller x) in memory; view as in load_split.
    """
    loaders = []
    for split, shuffle in (("train", True), (val_split, False)):
        ds = load_split(data_dir, split, output_type, heatmap_size, sigma, hand_labels, view)
        loaders.append(loader(ds, batch_size, workers, shuffle))
    train_names, val_names = (ld.dataset.keypoint_names for ld in loaders)
    if train_names != val_names:
        raise DatasetError(f"{data_dir}: the train split names keypoints {train_names} but {val_split} names "
                           f"{val_names}: a model's output k must mean one keypoint in both")
    return tuple(loaders)
