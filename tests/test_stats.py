"""The one comparison module: Welch's test and interval against SciPy, Holm's correction by hand."""
import pytest
from scipy import stats as scipy_stats

from problem2.core import stats


@pytest.mark.parametrize("t, df", [(0.5, 2), (2.5, 2.3), (-3.0, 4), (10.0, 3.5), (0.01, 30)])
def test_student_t_tail_and_quantile_match_scipy(t, df):
    assert stats.t_two_sided_p(t, df) == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=1e-9)
    assert stats.t_quantile(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-9)


def test_welch_matches_scipy_and_needs_two_values_a_side():
    a, b = [0.84, 0.86, 0.85], [0.80, 0.79, 0.83]
    c = stats.welch(a, b)
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    interval = ref.confidence_interval(0.95)
    assert c.diff == pytest.approx(0.0433333, abs=1e-6)
    assert (c.p, c.low, c.high) == pytest.approx((ref.pvalue, interval.low, interval.high), rel=1e-9)
    assert stats.welch([1.0], [2.0, 3.0]) is None
    same = stats.welch([1.0, 1.0], [1.0, 1.0])
    assert (same.diff, same.p) == (0.0, 1.0)


def test_holm_steps_down_until_a_p_value_misses_its_bound():
    # sorted: 0.01 <= 0.05/4 rejected; 0.03 > 0.05/3 stops: 0.04 is not rejected although it is < 0.05
    assert stats.holm([0.01, 0.04, 0.03, 0.2]) == [True, False, False, False]
    assert stats.holm([0.001, 0.012, 0.02]) == [True, True, True]  # 0.001 <= 0.0167, 0.012 <= 0.025, 0.02 <= 0.05
    assert stats.holm([]) == []


def test_a_family_decides_each_verdict_after_the_correction():
    clear = ([0.90, 0.91, 0.90], [0.50, 0.51, 0.50])   # p ~ 1e-6
    marginal = ([0.84, 0.86, 0.85], [0.80, 0.79, 0.83])  # p = 0.050 alone: not beyond noise
    family = stats.compare_family({"clear": clear, "marginal": marginal, "one seed": ([0.9], [0.5, 0.6])})
    assert family["clear"].beyond_noise is True and family["marginal"].beyond_noise is False
    assert family["one seed"] is None


def test_prediction_interval_by_hand():
    # mean 2, sd 1, n 3: t(0.975, 2) = 4.3027, sqrt(1 + 1/3) = 1.1547 -> half width 4.9683
    low, high = stats.prediction_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 4.96832, 2 + 4.96832), abs=1e-4)
    assert stats.prediction_interval([1.0]) is None


def test_the_ablations_count_the_differences_that_are_neither_established_nor_within_noise():
    from problem2.core.stats import Comparison
    from problem2.report.ablations import unresolved
    family = {"rejected": Comparison(-0.04, -0.06, -0.02, 0.001, 3, 3, True),
              "excludes zero, not rejected": Comparison(-0.02, -0.04, -0.003, 0.03, 3, 3, False),
              "holds zero": Comparison(0.01, -0.01, 0.03, 0.4, 3, 3, False), "not compared": None}
    assert unresolved(family) == 1  # only the one that the text must call 'not established (n = 3)'
