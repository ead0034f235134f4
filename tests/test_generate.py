import json

import numpy as np
from conftest import COURSE_FIXTURE
from PIL import Image

from problem2.data.generate import (
    generate_dataset,
    keypoint_statistics,
    label_hands_by_side,
    load_keypoints,
    render_figure,
)


def test_rendering_reproduces_course_images_pixel_for_pixel():
    for split in ("train", "val"):
        records = json.loads((COURSE_FIXTURE / f"{split}_annotations.json").read_text())["images"]
        for r in records:
            course = np.asarray(Image.open(COURSE_FIXTURE / split / r["file_name"]))
            assert np.array_equal(render_figure(np.array(r["keypoints"])), course), r["file_name"]


def test_layout_schema_and_ids(tiny_data):
    for split, first_id, n in (("train", 0, 24), ("val", 24, 12), ("test", 36, 12)):
        ann = json.loads((tiny_data / f"{split}_annotations.json").read_text())
        assert ann["keypoint_names"] == ["head", "left_hand", "right_hand", "left_foot", "right_foot"]
        assert ann["num_keypoints"] == 5 and len(ann["images"]) == n
        assert ann["images"][0]["id"] == first_id and ann["images"][0]["file_name"] == f"{first_id:06d}.png"
        image = Image.open(tiny_data / split / ann["images"][0]["file_name"])
        assert image.mode == "L" and image.size == (128, 128)
        assert set(np.unique(np.asarray(image))) == {0, 255}


def test_same_seed_gives_byte_identical_files(tmp_path):
    sizes = {"train": 5, "val": 2, "test": 2}
    a = generate_dataset(tmp_path / "a", seed=3, sizes=sizes, progress=False)
    b = generate_dataset(tmp_path / "b", seed=3, sizes=sizes, progress=False)
    c = generate_dataset(tmp_path / "c", seed=4, sizes=sizes, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 9 + 3
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "train_annotations.json").read_bytes() != (c / "train_annotations.json").read_bytes()


def test_side_labels_name_the_left_hand_by_image_side(tmp_path):
    sizes = {"train": 50, "val": 0, "test": 0}
    course = load_keypoints(generate_dataset(tmp_path / "a", 7, sizes, progress=False) / "train_annotations.json")
    side = load_keypoints(generate_dataset(tmp_path / "b", 7, sizes, "side", progress=False) / "train_annotations.json")
    assert np.all(side[:, 1, 0] <= side[:, 2, 0])
    assert np.array_equal(side, label_hands_by_side(course))
    assert (course[:, 1, 0] > course[:, 2, 0]).any()  # the course labelling really is ambiguous
    same = sorted(map(tuple, course[:, 1:3].reshape(-1, 2))) == sorted(map(tuple, side[:, 1:3].reshape(-1, 2)))
    assert same


def test_label_hands_by_side_on_a_constructed_case():
    kp = np.array([[[50, 30], [60, 50], [40, 52], [30, 87], [70, 87]]])
    out = label_hands_by_side(kp)
    assert out[0, 1].tolist() == [40, 52] and out[0, 2].tolist() == [60, 50]
    assert kp[0, 1].tolist() == [60, 50]  # input untouched


def test_generated_statistics_match_the_course_data(tmp_path, course_data):
    ours = keypoint_statistics(load_keypoints(generate_dataset(tmp_path, 641, {"train": 1000}, progress=False)
                                              / "train_annotations.json"))
    theirs = keypoint_statistics(load_keypoints(course_data / "train_annotations.json"))
    assert ours["feet_below_head"] == theirs["feet_below_head"] == [57.0]
    assert ours["feet_symmetric"] and theirs["feet_symmetric"]
    assert ours["leg_spread_range"] == theirs["leg_spread_range"] == [10.0, 29.0]
    assert np.allclose(ours["arm_length_range"], theirs["arm_length_range"], atol=0.2)
    assert np.abs(np.array(ours["min"]) - theirs["min"]).max() <= 2
    assert np.abs(np.array(ours["max"]) - theirs["max"]).max() <= 2
    assert np.abs(np.array(ours["mean"]) - theirs["mean"]).max() < 3
    assert abs(ours["left_hand_right_of_right_hand"] - theirs["left_hand_right_of_right_hand"]) < 0.07


def test_fixture_statistics_obey_the_geometry():
    stats = keypoint_statistics(load_keypoints(COURSE_FIXTURE / "train_annotations.json"))
    assert stats["feet_below_head"] == [57.0] and stats["feet_symmetric"]
    lo, hi = stats["arm_length_range"]
    assert 18 <= lo <= hi <= 20
