"""Learning curves: nested training pools, any dataset through the training loop, and the curves' scoring."""
import json

import numpy as np
import pytest
import torch
from conftest import COURSE_FIXTURE, log_entry
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset

from problem2.core.cli import UserError
from problem2.data.generate import training_pool
from problem2.data.keypoints import dataset_fingerprint, load_split, make_loaders
from problem2.models.networks import RegressionNet
from problem2.report.data_efficiency import section_data_efficiency
from problem2.studies.data_efficiency import DataEfficiency, data_run_ids, learning_curves
from problem2.training.loop import TrainConfig
from problem2.training.run import train_run

CFG = TrainConfig(epochs=1, batch_size=8, snapshot_epochs=())


def test_the_pool_is_nested_and_drawn_only_for_generated_data(tiny_data):
    train = load_split(tiny_data, "train", "regression")  # 24 images
    small = training_pool(tiny_data, train, 10)
    assert isinstance(small, Subset) and len(small) == 10 and torch.equal(small[9][1], train[9][1])
    big, bigger = training_pool(tiny_data, train, 30), training_pool(tiny_data, train, 40)
    assert len(big) == 30 and len(bigger) == 40
    assert all(torch.equal(big[i][0], bigger[i][0]) for i in (0, 23, 24, 29))  # nested: a prefix of the larger
    assert not torch.equal(big[24][0], big[25][0])
    course = load_split(COURSE_FIXTURE, "train", "regression")
    with pytest.raises(UserError, match="no generator seed"):
        training_pool(COURSE_FIXTURE, course, len(course) + 1)


class OwnDataset(Dataset):
    """A user's dataset: (image, target) pairs and nothing else (no keypoints, no codec)."""

    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        return self.base[i]


@pytest.mark.parametrize("wrap", ["subset", "concat", "own"])
def test_fit_takes_any_dataset_of_image_target_pairs(tiny_data, tmp_path, wrap):
    train_loader, val_loader = make_loaders(tiny_data, "regression", 8)
    base = train_loader.dataset
    train_set = {"subset": lambda: Subset(base, range(16)),
                 "concat": lambda: ConcatDataset([Subset(base, range(8)), Subset(base, range(8, 16))]),
                 "own": lambda: OwnDataset(base)}[wrap]()
    val_set = OwnDataset(val_loader.dataset) if wrap == "own" else val_loader.dataset
    log = train_run(RegressionNet(), DataLoader(train_set, batch_size=8, shuffle=True), DataLoader(val_set, batch_size=8),
              CFG, tmp_path, "regression", progress=False)
    assert len(log["epochs"]) == 1 and 0 <= log["epochs"][0]["val_pck@0.05"] <= 1
    fingerprint = log["data"]["train"]
    assert fingerprint == dataset_fingerprint(train_set) and fingerprint["n"] == len(train_set)
    assert {"subset": "subset_of", "concat": "concat", "own": "note"}[wrap] in fingerprint


def fake_finished_run(directory, name, run_id, pred, test):
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "training_log.json"
    models = json.loads(log.read_text())["models"] if log.exists() else {}
    models[name] = log_entry(1)
    log.write_text(json.dumps({"models": models}))
    file = f"{name}_test_predictions.json" if run_id.startswith("main_") else "test_predictions.json"
    (directory / file).write_text(json.dumps({"run": run_id, "data": dataset_fingerprint(test),
                                              "keypoints": {"subpixel": pred.tolist(), "argmax": pred.tolist()}}))


def test_curves_score_each_finished_run_per_axis(tiny_data, tmp_path):
    test = load_split(tiny_data, "test", "heatmap")
    gt = test.keypoints
    fake_finished_run(tmp_path / "runs" / "data125_heatmap", "heatmap", "data125_heatmap", gt + [0.0, 1.0], test)
    fake_finished_run(tmp_path / "runs" / "data125_regression", "regression", "data125_regression", gt + [8.0, 0.0], test)
    fake_finished_run(tmp_path, "heatmap", "main_heatmap", gt, test)
    fake_finished_run(tmp_path, "regression", "main_regression", gt + [6.0, 0.0], test)
    result = learning_curves(tiny_data, tmp_path, sizes=(125, 1000), seeds=(0, 1))
    reg = {p.train_images: p for p in result.curve("regression")}
    assert reg[125].summary["x_abs_px"] == [8.0, 0.0, 1] and reg[125].summary["y_abs_px"][0] == 0.0
    assert reg[1000].runs == {"0": "main_regression", "1": "seed1_regression"} and list(reg[1000].per_seed) == ["0"]
    hm = {p.train_images: p for p in result.curve("heatmap")}
    assert hm[125].summary["y_abs_px"][0] == pytest.approx(1.0) and hm[1000].summary["pck@0.05"][0] == 1.0
    assert DataEfficiency.load(tmp_path / "data_efficiency.json") == result
    text = section_data_efficiency(result)
    assert "8.0 -> 6.0 px" in text and (tmp_path / "visualizations" / "learning_curves.png").exists()


def test_a_step_control_is_set_against_the_point_whose_steps_it_matches(tiny_data, tmp_path):
    test = load_split(tiny_data, "test", "heatmap")
    gt = test.keypoints
    fake_finished_run(tmp_path, "heatmap", "main_heatmap", gt, test)
    fake_finished_run(tmp_path, "regression", "main_regression", gt + [6.0, 0.0], test)
    for run_id, dx in (("data2000_heatmap", 0.0), ("data2000_regression", 3.0), ("steps2x_regression", 5.0)):
        fake_finished_run(tmp_path / "runs" / run_id, run_id.split("_")[1], run_id, gt + [dx, 0.0], test)
    result = learning_curves(tiny_data, tmp_path, sizes=(1000, 2000), seeds=(0,))
    control = result.step_controls[0]
    assert (control.train_images, control.steps_of, control.summary["x_abs_px"]) == (1000, 2000, [5.0, 0.0, 1])
    assert result.step_controls[1].summary["x_abs_px"] == [None, None, 0]  # steps4x: not trained
    text = section_data_efficiency(result)
    assert "(from x error 6.0 px" in text and "x error 5.0 px" in text and "against 3.0 px" in text
    assert "The steps alone give 33% (2000) of the x gain" in text and "new images give more than the steps" in text


def test_the_curves_plan_every_size_and_seed():
    ids = data_run_ids()
    assert len(ids) == 6 * 2 * 2 + 2 and "main_heatmap" in ids and "seed1_regression" in ids
    assert ids[-2:] == ["steps2x_regression", "steps4x_regression"]  # 1000 images, 2x and 4x the epochs
    assert "data4000_regression_seed1" in ids and not any(i.startswith("data1000") for i in ids)
    assert np.all([ids.count(i) == 1 for i in ids])


def test_heatmapnet_levels_off_where_it_first_comes_within_0015_of_its_best():
    from problem2.report.data_efficiency import heatmap_plateau
    from problem2.report.markdown import render
    from problem2.studies.data_efficiency import LearningPoint
    point = lambda n, pck, x: LearningPoint("heatmap", n, {}, {}, {"pck@0.05": [pck, 0, 2], "x_abs_px": [x, 0, 2],  # noqa: E731
                                                                 "y_abs_px": [x, 0, 2]})
    curve = [point(125, 0.57, 1.4), point(500, 0.830, 0.43), point(1000, 0.843, 0.21), point(4000, 0.846, 0.10)]
    flat = heatmap_plateau(curve)
    assert (flat["n"], flat["pck"], flat["x"]) == (1000, 0.843, 0.21)
    assert heatmap_plateau(curve[:2]) is None  # still rising at the last size: nothing to say
    numbers = {"n": 0, "pck": 0.0, "x": 0.0, "y": 0.0}
    text = render("data_efficiency", trained=[125], seeds=[0, 1], split="test", n_images=200, table="T", figure="F",
                  ceiling=0.859, curves=True, reg={"first": numbers, "last": numbers, "best": numbers},
                  hm={"first": numbers, "last": {"n": 4000, "pck": 0.846, "x": 0.10, "y": 0.1}}, enough=None,
                  plateau=flat, controls=None, architecture_limit=True, levelled=None, probe=None)
    assert ("levels off at 1000 images**: PCK@0.05 0.843 there and 0.846 with 4000, close to the 0.859 that the "
            "ambiguous hand labels leave an image-only model (section {§seeds}); more images still sharpen it (head "
            "and feet x error 0.21 -> 0.10 px)") in text
    assert text.startswith("## {§data_efficiency} How much data each approach needs\n\nBoth models")
    assert text.endswith("\n\nF") and "\n\n\n" not in text


def test_a_template_asking_for_a_number_the_renderer_did_not_pass_is_an_error():
    import jinja2

    from problem2.report.markdown import render
    assert render("data_efficiency", trained=[]).endswith("\n\n(no learning-curve run finished yet)")
    with pytest.raises(jinja2.UndefinedError, match="seeds"):
        render("data_efficiency", trained=[125])
