"""Augmentation: keypoints move with the image, flips swap sides, targets come from the moved keypoints,
every draw is reproducible, and an augmented run resumes to the same weights."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from problem2.core.schema import LEFT_FOOT, LEFT_HAND, REFERENCE_DIR, RIGHT_FOOT, RIGHT_HAND
from problem2.data import perturb as P
from problem2.data.augment import (
    AugmentConfig,
    AugmentedDataset,
    augment,
    config_record,
    cutout,
    cutout_hide_rate,
    random_geometry,
)
from problem2.data.keypoints import dataset_fingerprint, load_split
from problem2.experiments.registry import RunSpec
from problem2.experiments.runner import run_training
from problem2.models import decoding
from problem2.training.loop import TrainConfig

NO_PHOTOMETRY = AugmentConfig(contrast=(1, 1, 0), darken=(0, 0), blur=(1, 0), noise=(0, 0), invert=0, cutout=(3, 0))
FLIP_ONLY = replace(NO_PHOTOMETRY, max_rotation=0, scale=(1, 1), max_shift=0, flip=1.0)


def test_a_flip_mirrors_the_image_and_swaps_left_and_right(tiny_data):
    ds = load_split(tiny_data, "train", "heatmap")
    image, keypoints = ds.images[0] / 255.0, ds.keypoints[0].astype(np.float64)
    out, moved = augment(image, keypoints, FLIP_ONLY, np.random.default_rng(0))
    assert np.allclose(out, image[:, ::-1])
    mirrored = keypoints * [-1, 1] + [127, 0]
    for a, b in ((LEFT_HAND, RIGHT_HAND), (LEFT_FOOT, RIGHT_FOOT)):
        assert np.allclose(moved[a], mirrored[b]) and np.allclose(moved[b], mirrored[a])


def test_geometry_moves_keypoints_with_the_image_and_keeps_them_inside(tiny_data):
    ds = load_split(tiny_data, "train", "heatmap")
    for i in range(len(ds)):
        image, keypoints = ds.images[i] / 255.0, ds.keypoints[i].astype(np.float64)
        out, moved = augment(image, keypoints, NO_PHOTOMETRY, np.random.default_rng(i))
        a, b, flip = random_geometry(keypoints, NO_PHOTOMETRY, np.random.default_rng(i))  # the same draws
        expected = P.warp_keypoints(keypoints, a, b)
        assert np.allclose(moved, P.swap_left_right(expected) if flip else expected)
        assert np.allclose(out, P.warp_image(image, a, b))
        assert moved.min() >= 0 and moved.max() <= 127
        head = np.rint(moved[0]).astype(int)  # the head keypoint is the head circle's centre: not ink, but
        ring = out[head[1] - 9:head[1] + 10, head[0] - 9:head[0] + 10]  # the circle of radius 8 around it is
        assert ring.min() < 0.5


def test_targets_are_drawn_at_the_moved_keypoints(tiny_data):
    ds = AugmentedDataset(load_split(tiny_data, "train", "heatmap"), AugmentConfig(), seed=3)
    ds.set_epoch(2)
    _, keypoints = ds.item(5)
    image, target = ds[5]
    assert torch.equal(target, torch.from_numpy(ds.codec.encode(keypoints.astype(np.float32))))
    peaks = decoding.argmax_2d(target[None]).float()[0] * 2  # heatmap px (stride 2) -> image px
    assert np.abs(peaks.numpy() - keypoints).max() <= 1.0
    assert image.shape == (1, 128, 128) and 0 <= image.min() and image.max() <= 1


def test_draws_depend_on_seed_epoch_and_item_only(tiny_data):
    base = load_split(tiny_data, "train", "regression")
    a, b = AugmentedDataset(base, seed=0), AugmentedDataset(base, seed=0)
    a.set_epoch(1)
    b.set_epoch(1)
    assert all(torch.equal(x, y) for i in range(4) for x, y in zip(a[i], b[i]))
    b.set_epoch(2)
    assert not torch.equal(a[0][0], b[0][0])
    assert dataset_fingerprint(a) == dataset_fingerprint(b) != dataset_fingerprint(AugmentedDataset(base, seed=1))
    assert dataset_fingerprint(a)["augment"]["scale"] == [0.8, 1.2]  # JSON form: comparable with a stored log


def test_an_augmented_run_resumes_to_the_weights_of_an_uninterrupted_one(tiny_data, tmp_path):
    spec = RunSpec("regression", "RegressionNet", augment=AugmentConfig(), train=TrainConfig(epochs=2, batch_size=8, snapshot_epochs=()))
    whole = run_training(spec, tiny_data, tmp_path / "whole", progress=False)

    def stop(entry):
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run_training(spec, tiny_data, tmp_path / "cut", progress=False, on_epoch=stop)
    resumed = run_training(spec, tiny_data, tmp_path / "cut", progress=False)
    strip = lambda log: [{k: v for k, v in e.items() if k not in ("epoch_seconds", "train_img_per_s")}  # noqa: E731
                         for e in log["epochs"]]
    assert strip(resumed) == strip(whole) and whole["data"]["train"]["augment"]["flip"] == 0.5
    ours = torch.load(tmp_path / "cut" / "regression_model.pth", weights_only=True)
    theirs = torch.load(tmp_path / "whole" / "regression_model.pth", weights_only=True)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_the_cutout_hide_rate_counts_squares_over_keypoints():
    everywhere = np.stack(np.meshgrid(np.arange(128.0), np.arange(128.0)), -1).reshape(1, -1, 2)  # every pixel
    nowhere = np.full((3, 5, 2), -10.0)
    assert cutout_hide_rate(everywhere, AugmentConfig(cutout=(15, 0.5)), draws=200) == 0.5
    assert cutout_hide_rate(nowhere, AugmentConfig(cutout=(15, 1.0)), draws=200) == 0.0
    left_half = everywhere[:, everywhere[0, :, 0] < 64]  # a side-3 square covers one iff its corner x <= 63
    rate = cutout_hide_rate(left_half, AugmentConfig(cutout=(3, 1.0)), draws=20000)
    assert rate == pytest.approx(64 / 126, abs=0.015)  # 126 corner columns, 64 of them hit


@pytest.mark.parametrize("point", [(64.0, 40.0), (0.0, 0.0), (127.4, 3.0), (126.6, 127.0)])
def test_an_aimed_cutout_covers_its_keypoint_and_stays_inside(point):
    point = np.array(point)
    px, py = np.rint(point).astype(int)
    for seed in range(50):
        for side in (3, 9, 15):
            image = np.zeros((128, 128))
            out = cutout(side, over=point)(image, point[None], np.random.default_rng(seed))[0]
            assert out[py, px] == P.BACKGROUND
            ys, xs = np.nonzero(out == P.BACKGROUND)
            assert len(ys) == side * side and ys.max() - ys.min() == xs.max() - xs.min() == side - 1


def test_aimed_cutouts_always_hide_a_keypoint():
    keypoints = np.array([[[10.0, 20.0], [100.0, 30.0], [64.0, 64.0], [3.0, 120.0], [120.0, 120.0]]])
    assert cutout_hide_rate(keypoints, AugmentConfig(cutout=(15, 0.4), aimed_cutout=1.0), draws=300) == 0.4
    some = cutout_hide_rate(keypoints, AugmentConfig(cutout=(15, 1.0), aimed_cutout=0.5), draws=4000)
    never = cutout_hide_rate(keypoints, AugmentConfig(cutout=(15, 1.0)), draws=4000)
    assert some == pytest.approx(0.5 + 0.5 * never, abs=0.03)


def test_a_new_augmentation_field_at_its_old_value_leaves_the_fingerprint_unchanged():
    """Runs augmented before `aimed_cutout` existed (the committed augmented pair) are still reused."""
    assert "aimed_cutout" not in config_record(AugmentConfig())
    assert config_record(AugmentConfig(aimed_cutout=0.5))["aimed_cutout"] == 0.5
    committed = REFERENCE_DIR / "runs" / "augment_heatmap" / "training_log.json"
    recorded = json.loads(committed.read_text())["models"]["heatmap"]["data"]["train"]["augment"]
    assert recorded == json.loads(json.dumps(config_record(AugmentConfig())))


def test_the_share_of_deeply_buried_keypoints_is_exact():
    from problem2.data.augment import aimed_depth_share
    one_side = AugmentConfig(cutout=(3, 1.0), aimed_cutout=1.0)  # 3 x 3 squares, always aimed
    assert aimed_depth_share(one_side, 0) == 1.0
    assert aimed_depth_share(one_side, 1) == pytest.approx(1 / 9)  # only the centred square of the 9 places
    assert aimed_depth_share(one_side, 2) == 0.0
    assert aimed_depth_share(AugmentConfig(), 1) == 0.0  # nothing aimed by default
