import json
import warnings

import numpy as np
import pytest
import torch
from conftest import COURSE_FIXTURE
from PIL import Image

from problem2.data.files import DatasetError
from problem2.data.keypoints import KeypointDataset, load_split


def fixture_dataset(**kw):
    return KeypointDataset(COURSE_FIXTURE / "train", COURSE_FIXTURE / "train_annotations.json", **kw)


def test_reads_course_files_heatmap_targets():
    ds = fixture_dataset()
    assert len(ds) == 6
    image, target = ds[0]
    assert image.shape == (1, 128, 128) and image.dtype == torch.float32
    assert image.min() == 0.0 and image.max() == 1.0
    assert target.shape == (5, 64, 64) and target.dtype == torch.float32
    # first course image: head at (78, 55) -> heatmap (39, 27.5): the two rows 27 and 28 tie
    assert ds.keypoints[0, 0].tolist() == [78, 55]
    assert target[0, 27, 39] == pytest.approx(np.exp(-0.25 / 8)) == target[0, 28, 39].item()


def test_regression_targets_are_normalised_interleaved():
    ds = fixture_dataset(output_type="regression")
    _, target = ds[0]
    assert target.shape == (10,)
    assert target.tolist() == pytest.approx([78 / 128, 55 / 128, 93 / 128, 82 / 128, 64 / 128, 83 / 128,
                                             60 / 128, 112 / 128, 96 / 128, 112 / 128])


@pytest.mark.parametrize("size", [32, 64, 128])
def test_heatmap_sizes_and_sigma(size):
    ds = fixture_dataset(heatmap_size=size, sigma=1.5)
    _, target = ds[1]
    assert target.shape == (5, size, size)
    assert target.amax(dim=(1, 2)).min() > 0.8  # every keypoint's peak is in the map


def test_generate_heatmap_method_contract():
    ds = fixture_dataset(sigma=2.0)
    maps = ds.generate_heatmap(np.array([[3.0, 4.0], [10.0, 10.0]]), 16, 20)
    assert maps.shape == (2, 16, 20) and maps[0, 4, 3] == 1.0
    assert maps[1, 10, 12] == pytest.approx(np.exp(-4 / 8))


def test_reads_the_full_course_dataset(course_data):
    for split, n in (("train", 1000), ("val", 200)):
        ds = load_split(course_data, split)
        assert len(ds) == n and ds.images.shape == (n, 128, 128)


@pytest.mark.parametrize("kw, match", [
    ({"output_type": "points"}, "output_type"),
    ({"heatmap_size": 0}, "heatmap_size"),
    ({"sigma": 0.0}, "sigma"),
    ({"sigma": -1.0}, "sigma"),
])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        fixture_dataset(**kw)


def write_case(tmp_path, annotations=None, text=None, image=None):
    (tmp_path / "img").mkdir(exist_ok=True)
    Image.fromarray(image if image is not None else np.full((128, 128), 255, np.uint8)).save(tmp_path / "img" / "a.png")
    ann = tmp_path / "ann.json"
    if text is None:
        base = {"images": [{"id": 0, "file_name": "a.png", "keypoints": [[1, 2]] * 5}],
                "keypoint_names": ["head", "left_hand", "right_hand", "left_foot", "right_foot"], "num_keypoints": 5}
        base.update(annotations or {})
        text = json.dumps(base)
    ann.write_text(text)
    return tmp_path / "img", ann


@pytest.mark.parametrize("case, match", [
    ({"text": "{not json"}, "invalid JSON"),
    ({"annotations": {"images": None}}, "'images' must be a list"),
    ({"annotations": {"num_keypoints": 4}}, "must be a positive integer equal to the number of keypoint_names"),
    ({"annotations": {"images": [{"file_name": "a.png"}]}}, "missing key 'keypoints'"),
    ({"annotations": {"images": [{"keypoints": [[1, 2]] * 5}]}}, "missing key 'file_name'"),
    ({"annotations": {"images": [{"file_name": "a.png", "keypoints": [[1, 2]] * 4}]}}, "got 4"),
    ({"annotations": {"images": [{"file_name": "a.png", "keypoints": [[1, "x"]] * 5}]}}, "two finite numbers"),
    ({"annotations": {"images": [{"file_name": "b.png", "keypoints": [[1, 2]] * 5}]}}, "image not found"),
    ({"image": np.zeros((64, 128), np.uint8)}, "128x64, expected 128x128"),
])
def test_bad_files_name_the_file_and_field(tmp_path, case, match):
    image_dir, ann = write_case(tmp_path, **case)
    with pytest.raises(DatasetError, match=match) as err:
        KeypointDataset(image_dir, ann)
    assert str(ann) in str(err.value) or str(image_dir) in str(err.value)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(DatasetError, match="annotation file not found"):
        KeypointDataset(tmp_path, tmp_path / "nope.json")
    (tmp_path / "x.json").write_text("[]")
    with pytest.raises(DatasetError, match="JSON object"):
        KeypointDataset(tmp_path, tmp_path / "x.json")


def test_unreadable_image(tmp_path):
    image_dir, ann = write_case(tmp_path)
    (image_dir / "a.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="cannot read image"):
        KeypointDataset(image_dir, ann)


def test_rgb_image_is_converted_with_a_warning(tmp_path):
    rgb = np.full((128, 128, 3), 255, np.uint8)
    rgb[10:60, 20:23] = 0  # a line: enough contrast not to be warned about as a blank image
    image_dir, ann = write_case(tmp_path, image=rgb)
    with pytest.warns(UserWarning, match="converted to grayscale"):
        ds = KeypointDataset(image_dir, ann)
    assert ds.images[0, 10, 20] == 0 and ds.images[0, 0, 0] == 255


def test_grayscale_course_files_load_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fixture_dataset()
