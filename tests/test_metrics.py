import numpy as np
import pytest

from problem2.core import metrics
from problem2.studies.ambiguity import ambiguity_ceiling
from problem2.studies.evaluation import compute_pck


def figure(dx=0.0):
    """One figure whose keypoint bbox is 30 x 40 (diagonal 50); torso (head to feet midpoint) 40."""
    gt = np.array([[[15, 0], [0, 20], [30, 20], [5, 40], [25, 40]]], dtype=float)
    return gt


def test_pck_hand_computed_bbox():
    gt = figure()
    pred = gt.copy()
    pred[0, 0] += [3, 4]    # 5 px: 0.1 of the diagonal 50
    pred[0, 1] += [0, 2.4]  # 2.4 px
    pred[0, 2] += [10, 0]   # 10 px
    # strict <: the 5 px head fails at 0.1 (5 px) and the 10 px hand at 0.2 (10 px)
    assert compute_pck(pred, gt, [0.05, 0.1, 0.2, 0.3]) == {0.05: 3 / 5, 0.1: 3 / 5, 0.2: 4 / 5, 0.3: 1.0}


def test_pck_threshold_boundary_is_strict():
    gt = figure()
    pred = gt.copy()
    pred[0, 0] += [3, 4]  # exactly 0.1 x 50
    assert compute_pck(pred, gt, [0.1])[0.1] == 4 / 5
    assert compute_pck(pred, gt, [0.1000001])[0.1000001] == 1.0


def test_pck_torso_normaliser():
    gt = figure()
    assert metrics.normalizer(gt, "torso").tolist() == [40.0]
    pred = gt.copy()
    pred[0, 4] += [0, 4]  # 4 px = 0.1 x torso, 0.08 x bbox
    assert compute_pck(pred, gt, [0.1], "torso")[0.1] == 4 / 5
    assert compute_pck(pred, gt, [0.1], "bbox")[0.1] == 1.0


def test_zero_normaliser_and_shape_errors():
    gt = np.zeros((1, 5, 2))
    with pytest.raises(ValueError, match="zero bbox normaliser for image"):
        compute_pck(gt, gt, [0.1])
    with pytest.raises(ValueError, match=r"\[N, K, 2\]"):
        compute_pck(np.zeros((2, 5, 2)), np.zeros((1, 5, 2)), [0.1])
    with pytest.raises(ValueError, match="normalize_by"):
        compute_pck(figure(), figure(), [0.1], "head")


def test_swap_invariant_alignment_on_a_constructed_swap():
    gt = np.concatenate([figure(), figure()])
    pred = gt.copy()
    pred[0, [1, 2]] = gt[0, [2, 1]]  # image 0: hands exchanged exactly
    pred[1, 1] += [1, 0]              # image 1: a small error, no swap
    assert compute_pck(pred, gt, [0.05])[0.05] == 8 / 10
    aligned = metrics.align_hands(pred, gt)
    assert np.array_equal(aligned[0], gt[0]) and np.array_equal(aligned[1], pred[1])
    report = metrics.localization_report(pred, gt)
    assert report["standard"]["pck"]["0.05"] == 0.8 and report["hand_swap_invariant"]["pck"]["0.05"] == 1.0


def test_errors_and_curve():
    gt = figure()
    pred = gt + np.array([3.0, 4.0])  # every keypoint 5 px off
    s = metrics.error_summary(pred, gt)
    assert s["mean_px"] == 5.0 and s["median_px"] == 5.0 and s["mean_px_per_keypoint"] == [5.0] * 5
    curve, auc = metrics.pck_curve(pred, gt, thresholds=np.array([0.0, 0.1, 0.2]))
    assert curve == [0.0, 0.0, 1.0]  # 5 px = 0.1 x 50 is not < 0.1 x 50
    assert auc == pytest.approx(0.25)


def test_paired_bootstrap_known_answer():
    rng = np.random.default_rng(0)
    b = rng.uniform(size=400)
    out = metrics.paired_bootstrap(b + 0.3, b)  # a constant difference: the interval collapses on it
    assert out["diff"] == pytest.approx(0.3) and out["low"] == pytest.approx(0.3) and out["high"] == pytest.approx(0.3)
    a = b + rng.normal(0.1, 0.2, size=400)
    out = metrics.paired_bootstrap(a, b, n_boot=4000)
    se = 0.2 / np.sqrt(400)
    assert out["low"] < 0.1 < out["high"]
    assert out["high"] - out["low"] == pytest.approx(2 * 1.96 * se, rel=0.2)
    with pytest.raises(ValueError):
        metrics.paired_bootstrap(np.zeros(3), np.zeros(4))


def test_ambiguity_ceiling_on_a_constructed_case():
    near = figure()
    near[0, 2] = [2, 20]   # hands 2 px apart: one point is within 0.05 x 50 = 2.5 px of both
    far = figure()         # hands 30 px apart: each hand label is a coin flip
    ceiling = ambiguity_ceiling(np.concatenate([near, far]), thresholds=[0.05, 0.5])
    bbox_near = metrics.normalizer(near)[0]
    assert 1.0 / 2 < 0.05 * bbox_near  # the near case really is within reach
    assert ceiling["0.05"] == pytest.approx((1.0 + (3 + 2 * 0.5) / 5) / 2)
    assert ceiling["0.5"] == 1.0


def test_paired_bootstrap_agrees_with_scipy():
    """The hand-written percentile bootstrap against scipy.stats.bootstrap (paired) on PCK-like per-image scores:
    the same interval up to Monte-Carlo error, and BCa within 0.01 (a skewed, bounded statistic)."""
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a = rng.choice([0, 0.2, 0.4, 0.6, 0.8, 1.0], size=200, p=[.02, .02, .03, .08, .25, .6])
    b = rng.choice([0, 0.2, 0.4], size=200, p=[.6, .3, .1])
    ours = metrics.paired_bootstrap(a, b)
    assert ours["diff"] == pytest.approx(np.mean(a - b))
    for method, tolerance in (("percentile", 0.004), ("BCa", 0.01)):
        theirs = stats.bootstrap((a, b), lambda x, y, axis=-1: np.mean(x - y, axis=axis), paired=True,
                                 method=method, n_resamples=10000, random_state=0).confidence_interval
        assert abs(ours["low"] - theirs.low) <= tolerance and abs(ours["high"] - theirs.high) <= tolerance, method
