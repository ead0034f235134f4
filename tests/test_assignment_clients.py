"""The assignment's modules driven the way its starter code, a grader and a classmate's scripts drive them.

Written by us in the style of a student's train.py / evaluate.py / baseline.py: plain DataLoaders, the training
functions called in a loop from one folder, deliverables loaded with load_state_dict(torch.load(...)), scoring
with extract_keypoints_from_heatmaps and compute_pck. Each test is one contract such code takes for granted.
"""
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from problem2.core.schema import REFERENCE_DIR
from problem2.data.generate import generate_dataset
from problem2.data.keypoints import dataset_fingerprint
from problem2.dataset import KeypointDataset
from problem2.evaluate import compute_pck, extract_keypoints_from_heatmaps, predict_keypoints
from problem2.model import HeatmapNet, RegressionNet
from problem2.train import train_heatmap_model, train_regression_model
from problem2.training.loop import TrainConfig

FAST = dict(batch_size=8, device="cpu", precision="fp32", snapshot_epochs=())


def split(data, name, **kw):
    return KeypointDataset(data / name, data / f"{name}_annotations.json", **kw)


def weights_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- the deliverables load the way everyone loads them

@pytest.fixture(scope="module")
def reference_test_split(tmp_path_factory):
    """The default data (seed 641, 1000/200/200) the reference was scored on: its test split."""
    data = generate_dataset(tmp_path_factory.mktemp("default"), seed=641, progress=False)
    return split(data, "test")


@pytest.mark.parametrize("name, cls", [("heatmap", HeatmapNet), ("regression", RegressionNet)])
def test_a_deliverable_loads_with_plain_load_state_dict_and_scores_the_reference_numbers(
        reference_test_split, name, cls):
    model = cls()
    model.load_state_dict(torch.load(REFERENCE_DIR / f"{name}_model.pth"))  # a grader's one line
    model.eval()
    ds = reference_test_split
    stored = json.loads((REFERENCE_DIR / f"{name}_test_predictions.json").read_text())
    assert dataset_fingerprint(ds)["sha1"] == stored["data"]["sha1"]  # the very images the reference was scored on
    with torch.no_grad():
        out = model(ds.image_tensor())
    if name == "heatmap":  # a student's decoding: argmax in heatmap pixels, times the stride 128 / 64
        pred = extract_keypoints_from_heatmaps(out, "argmax").numpy() * 2.0
    else:
        pred = out.reshape(len(ds), -1, 2).numpy() * 128.0
    ours = np.asarray(stored["keypoints"]["argmax"])
    agree = np.isclose(pred, ours, atol=0.01).all(axis=-1).mean()
    assert agree >= 0.99  # the same points (an argmax tie may fall the other way on another CPU)
    metrics = json.loads((REFERENCE_DIR / "metrics.json").read_text())
    method = "heatmap_argmax" if name == "heatmap" else "regression"
    expected = metrics["methods"][method]["standard"]["pck"]["0.05"]
    assert compute_pck(pred, ds.keypoints, [0.05])[0.05] == pytest.approx(expected, abs=0.006)


def test_the_deliverables_carry_their_metadata_in_a_sidecar():
    from problem2.training.checkpoint import load_model
    meta = json.loads((REFERENCE_DIR / "heatmap_model.json").read_text())
    assert meta["model_class"] == "HeatmapNet" and meta["codec"] == {"type": "heatmap", "heatmap_size": 64,
                                                                       "sigma": 2.0}
    model = load_model(REFERENCE_DIR / "heatmap_model.pth", HeatmapNet)  # the project's loader reads both
    assert same_weights(model.state_dict(), torch.load(REFERENCE_DIR / "heatmap_model.pth"))


def test_a_bare_state_dict_of_the_specified_model_loads_through_the_projects_loader(tmp_path):
    from problem2.training.checkpoint import load_model
    torch.manual_seed(1)
    theirs = RegressionNet()
    torch.save(theirs.state_dict(), tmp_path / "their_model.pth")  # no sidecar: a classmate's file
    ours = load_model(tmp_path / "their_model.pth")
    assert type(ours) is RegressionNet and same_weights(ours.state_dict(), theirs.state_dict())


# ---------------------------------------------------------------- the training functions train the model they are given

def test_an_ablation_loop_in_one_folder_trains_every_model_it_is_given(tiny_data, tmp_path, capsys):
    """baseline.py's loop: the same folder, a fresh model per setting; each call trains that model."""
    val = DataLoader(split(tiny_data, "val"), batch_size=8)
    trained = {}
    for heatmap_size, sigma in ((64, 2.0), (64, 4.0), (32, 2.0)):
        train_set = split(tiny_data, "train")
        train_set.heatmap_size, train_set.sigma = heatmap_size, sigma  # set after construction, as starter code does
        val.dataset.heatmap_size, val.dataset.sigma = heatmap_size, sigma
        torch.manual_seed(len(trained))
        model = HeatmapNet(heatmap_size=heatmap_size)
        initial = weights_of(model)
        log = train_heatmap_model(model, DataLoader(train_set, batch_size=8, shuffle=True), val, num_epochs=1,
                                  config=TrainConfig(**FAST), out_dir=tmp_path)
        assert len(log["epochs"]) == 1 and log["data"]["train"]["sigma"] == sigma
        assert not same_weights(weights_of(model), initial)  # this model was trained, not handed stored weights
        saved = HeatmapNet(heatmap_size=heatmap_size)
        saved.load_state_dict(torch.load(tmp_path / "heatmap_model.pth"))
        assert same_weights(saved.state_dict(), weights_of(model))  # the file holds this call's model
        trained[(heatmap_size, sigma)] = weights_of(model)
    assert capsys.readouterr().err.count("note: replacing the run 'heatmap'") == 2


def test_resume_is_asked_for_and_announced(tiny_data, tmp_path, capsys):
    loaders = (DataLoader(split(tiny_data, "train", output_type="regression"), batch_size=8, shuffle=True),
               DataLoader(split(tiny_data, "val", output_type="regression"), batch_size=8))
    cfg = TrainConfig(**FAST)
    torch.manual_seed(0)
    first = RegressionNet()
    train_regression_model(first, *loaders, num_epochs=1, config=cfg, out_dir=tmp_path)
    torch.manual_seed(1)
    fresh = RegressionNet()
    train_regression_model(fresh, *loaders, num_epochs=1, config=cfg, out_dir=tmp_path, resume=True)
    assert "note: reusing the finished run 'regression'" in capsys.readouterr().err
    assert same_weights(weights_of(fresh), weights_of(first))  # asked for: the stored run's weights


# ---------------------------------------------------------------- dataset attributes are live

def test_target_settings_changed_after_construction_change_the_targets(tiny_data):
    ds = split(tiny_data, "train")
    x, y = ds.keypoints[0, 0]
    ds.heatmap_size = 32
    _, target = ds[0]
    assert target.shape == (5, 32, 32)
    ds.sigma = 4.0
    _, target = ds[0]
    u, v = x / 4.0, y / 4.0  # image px -> 32x32 heatmap px (stride 4)
    col, row = int(round(u)) + 1, int(round(v))
    expected = np.exp(-((col - u) ** 2 + (row - v) ** 2) / (2 * 4.0 ** 2))
    assert target[0, row, col].item() == pytest.approx(expected, rel=1e-5)  # width 4, not the constructor's 2
    ds.output_type = "regression"
    _, target = ds[0]
    assert target.shape == (10,) and target[:2].tolist() == pytest.approx([x / 128, y / 128])
    assert ds.codec.output_type == "regression"


def test_a_bad_setting_is_refused_like_the_constructor_and_changes_nothing(tiny_data):
    ds = split(tiny_data, "train")
    for attribute, value, message in (("heatmap_size", 48, "heatmap_size must divide"), ("sigma", -1.0, "sigma must"),
                                      ("output_type", "keypoints", "output_type must be one of")):
        with pytest.raises(ValueError, match=message):
            setattr(ds, attribute, value)
    assert (ds.output_type, ds.heatmap_size, ds.sigma) == ("heatmap", 64, 2.0)
    assert ds[0][1].shape == (5, 64, 64)


# ---------------------------------------------------------------- the models as the starter code describes them

def test_both_models_say_how_many_keypoints_they_predict():
    assert HeatmapNet().num_keypoints == RegressionNet().num_keypoints == 5
    assert HeatmapNet(num_keypoints=3).num_keypoints == 3 and RegressionNet(num_keypoints=7).num_keypoints == 7


class ClassmatesHeatmapNet(nn.Module):
    """A model with no output_type or config: only its output's shape says what it is."""

    def __init__(self):
        super().__init__()
        self.body = HeatmapNet()

    def forward(self, x):
        return self.body(x)


def test_prediction_helpers_read_any_model_by_its_output_shape():
    torch.manual_seed(0)
    theirs = ClassmatesHeatmapNet().eval()
    images = torch.rand(3, 1, 128, 128)
    points, heatmaps = predict_keypoints(theirs, images, "argmax")
    assert points.shape == (3, 5, 2)
    assert np.array_equal(points, extract_keypoints_from_heatmaps(heatmaps, "argmax").numpy() * 2.0)
    odd = nn.Sequential(nn.Flatten(), nn.Linear(128 * 128, 7))
    with pytest.raises(ValueError, match=r"cannot read model outputs of shape \[3, 7\] as keypoints"):
        predict_keypoints(odd, images)
