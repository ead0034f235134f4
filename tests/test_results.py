"""Typed results: one threshold-key convention, strict loading, exact round trips."""
import json

import numpy as np
import pytest

from problem2.core import metrics
from problem2.core.results import ResultFormatError, tkey
from problem2.core.schema import REFERENCE_DIR
from problem2.studies.ablation_seeds import SeededAblations
from problem2.studies.ablations import Ablations
from problem2.studies.evaluation import MethodScores, Metrics


def test_threshold_keys_have_one_spelling():
    assert [tkey(t) for t in (0.05, 0.1, 0.15, 0.2, "0.10", 1)] == ["0.05", "0.1", "0.15", "0.2", "0.1", "1"]
    gt = np.array([[[10.0, 10.0], [20.0, 30.0], [40.0, 30.0], [20.0, 60.0], [40.0, 60.0]]])
    report = metrics.localization_report(gt, gt)["standard"]
    for field in ("pck", "pck_torso", "pck_per_keypoint"):
        assert list(report[field]) == ["0.05", "0.1", "0.15", "0.2"]
    assert list(metrics.coin_flip_pck(gt, [0.05, 0.2])) == ["0.05", "0.2"]


def make_metrics(n=3) -> Metrics:
    rng = np.random.default_rng(0)
    gt = rng.uniform(10, 110, (n, 5, 2))
    pred = gt + np.array([3.0, 0.0])  # every keypoint 3 px off in x
    return Metrics(split="test", data_dir="data", n_images=n, keypoint_names=["a", "b", "c", "d", "e"],
                   thresholds=[0.05, 0.2], curve_thresholds=metrics.CURVE_THRESHOLDS.tolist(), pck_rule="strict",
                   methods={"regression": MethodScores.from_dict(metrics.localization_report(pred, gt))})


def test_metrics_round_trip_through_the_file(tmp_path):
    m = make_metrics()
    m.save(tmp_path / "metrics.json")
    back = Metrics.load(tmp_path / "metrics.json")
    assert back == m
    assert back.methods["regression"].standard.mean_px == pytest.approx(3.0)
    assert json.loads((tmp_path / "metrics.json").read_text()) == m.to_dict()


@pytest.mark.parametrize("damage, message", [
    (lambda d: d.pop("split"), "missing ['split']"),
    (lambda d: d.update(splt="test"), "unknown ['splt']"),
    (lambda d: d["methods"]["regression"]["standard"].pop("mean_px"), ".methods['regression'].standard: Scores missing"),
    (lambda d: d["methods"].update(regression=[1, 2]), "expected an object for MethodScores"),
])
def test_a_malformed_file_is_refused_naming_the_field(tmp_path, damage, message):
    data = make_metrics().to_dict()
    damage(data)
    (tmp_path / "metrics.json").write_text(json.dumps(data))
    with pytest.raises(ResultFormatError) as err:
        Metrics.load(tmp_path / "metrics.json")
    assert message in str(err.value) and "metrics.json" in str(err.value)


def test_missing_file(tmp_path):
    assert Metrics.load(tmp_path / "metrics.json", missing_ok=True) is None
    with pytest.raises(Exception, match="is missing"):
        Metrics.load(tmp_path / "metrics.json")


def test_committed_results_read_back_exactly():
    for cls, name in ((Metrics, "metrics.json"), (Metrics, "course_eval/metrics.json"),
                      (Ablations, "ablation.json"), (SeededAblations, "ablation_seeds.json")):
        data = json.loads((REFERENCE_DIR / name).read_text())
        assert cls.from_dict(data).to_dict() == data
