import numpy as np
import pytest
import torch

from problem2.experiments.registry import all_runs, run_dir
from problem2.experiments.runner import train_runs
from problem2.studies.ambiguity import hand_collapse
from problem2.studies.bench import inference_latency, train_step_fn
from problem2.studies.gap import VARIANT_RUNS, pooled_std
from problem2.training.checkpoint import load_model
from problem2.training.loop import TrainConfig

CFG = TrainConfig(epochs=1, batch_size=8, snapshot_epochs=(1,), num_snapshot_images=1)


def test_every_regression_variant_builds_and_trains(tiny_data, tmp_path):
    ids = [r for _, r, _ in VARIANT_RUNS if r != "side_heatmap"]
    logs = train_runs(list(dict.fromkeys(ids)), tiny_data, CFG, tmp_path, progress=False)
    for run_id, log in logs.items():
        spec = all_runs(CFG)[run_id]
        assert log["model"] == spec.model and len(log["epochs"]) == 1
        assert np.isfinite(log["epochs"][0]["val_loss"])
        model = load_model(run_dir(run_id, tmp_path) / f"{spec.name}_model.pth")
        out = model(torch.rand(2, 1, 128, 128))
        assert out.shape == (2, 10) and out.min() >= 0 and out.max() <= 1
    assert logs["side_regression_l1"]["config"]["loss"] == "l1"


def test_hand_collapse_measures_the_midpoint_pull():
    gt = np.array([[[50, 30], [40, 60], [60, 60], [40, 87], [60, 87]]], float)
    pred = gt.copy()
    pred[0, [1, 2]] = [50, 60]  # both hands at the midpoint
    out = hand_collapse(pred, gt)
    assert out["mean_predicted_hand_gap_px"] == 0 and out["mean_true_hand_gap_px"] == 20
    assert out["mean_hand_distance_to_midpoint_px"] == 0 and out["same_blob_fraction"] == 1.0


def test_cost_measurements_are_sane_for_a_tiny_model():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten(), torch.nn.Linear(4, 10), torch.nn.Sigmoid())
    lat = inference_latency(model, torch.device("cpu"), "fp32", batch_sizes=(1, 8), repeats=3)
    assert 0 < lat["batch1_ms"] < 1000 and 0 < lat["batch8_ms"] < 1000
    step = train_step_fn(model, 4, "fp32", torch.device("cpu"))
    before = [p.clone() for p in model.parameters()]
    step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_pooled_std_by_hand():
    # means 2 and 4; squared deviations 1 + 1 and 4 + 0 + 4; 5 values - 2 groups = 3 degrees of freedom
    assert pooled_std([1, 3], [2, 4, 6]) == pytest.approx((10 / 3) ** 0.5)


def test_default_training_flops_count_forward_and_backward():
    from problem2.models.cost import count_flops
    from problem2.models.networks import RegressionNet
    from problem2.studies.bench import default_training_tflop
    # per epoch: 10 training images x (forward + backward = 3 forwards) + 4 validation forwards
    assert default_training_tflop(epochs=2, n_train=10, n_val=4)["RegressionNet"] == pytest.approx(
        count_flops(RegressionNet()) * (3 * 10 + 4) * 2 / 1e12)
