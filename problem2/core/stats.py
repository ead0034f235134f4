"""Comparisons between settings over seeds: the one place where "beyond seed noise" is decided.

    c = welch(values_a, values_b)            # difference of means with a 95% Welch t interval and p value
    verdicts = holm([c1.p, c2.p, ...])       # which of a family of comparisons survive Holm's correction
    family = compare_family({name: (a, b)})  # both at once: {name: Comparison with .beyond_noise set}
    low, high = prediction_interval(values)  # where one more run of the same kind should land
    draws = hierarchical_bootstrap({"a": scores_a, "b": scores_b})  # [seeds, images] each -> resampled means

A difference is called beyond seed noise only when Welch's two-sided t test rejects equal means at
ALPHA after Holm's step-down correction over its family (all the comparisons one table or paragraph makes).
With 3 seeds a side the test has 2 to 4 degrees of freedom: only large, consistent differences pass.
The Student t distribution is computed here (regularised incomplete beta), so the package needs no SciPy.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

ALPHA = 0.05
METHOD_NOTE = (f"Welch's two-sided t test on the per-seed values, {int(100 * (1 - ALPHA))}% Welch interval for the "
               f"difference of means, Holm's correction over each family of comparisons at alpha {ALPHA}")


@dataclass
class Comparison:
    """mean(a) - mean(b), its Welch interval [low, high], the two-sided p value, the sample sizes and the
    verdict after the family's correction (None until compare_family sets it)."""
    diff: float
    low: float
    high: float
    p: float
    n_a: int
    n_b: int
    beyond_noise: bool | None = None


def welch(a, b, confidence: float = 1 - ALPHA) -> Comparison | None:
    """Welch's t test of mean(a) = mean(b); None unless each side has at least two values."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if len(a) < 2 or len(b) < 2:
        return None
    diff = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Comparison(diff, diff, diff, 1.0 if diff == 0 else 0.0, len(a), len(b))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(0.5 + confidence / 2, df) * se
    return Comparison(diff, diff - half, diff + half, t_two_sided_p(diff / se, df), len(a), len(b))


def holm(pvalues: list, alpha: float = ALPHA) -> list:
    """Holm's step-down procedure: [True where the hypothesis is rejected] in the input order."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    rejected = [False] * len(pvalues)
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (len(pvalues) - rank):
            break
        rejected[i] = True
    return rejected


def compare_family(pairs: dict) -> dict:
    """{name: (a, b)} -> {name: Comparison or None}, beyond_noise decided by Holm over the comparisons made."""
    out = {name: welch(a, b) for name, (a, b) in pairs.items()}
    made = [name for name, c in out.items() if c is not None]
    for name, rejected in zip(made, holm([out[name].p for name in made])):
        out[name].beyond_noise = rejected
    return out


def noise_words(c, n: int | None = None) -> str:
    """The verdict of a comparison in words: 'beyond seed noise' (Welch rejects after Holm), 'within seed noise'
    (it does not, and the interval holds 0), or 'not established (n = k)' when the interval excludes 0 but the
    corrected test does not reject: never 'within noise' beside an interval that excludes 0. n: seeds a side
    (default: the comparison's smaller side)."""
    if c.beyond_noise:
        return "beyond seed noise"
    if c.low <= 0 <= c.high:
        return "within seed noise"
    return f"not established (n = {n or min(c.n_a, c.n_b)})"


def percent(share: float) -> str:
    """A share of a gap as a percentage that never rounds to 100% (or 0%) when it is not: 0.997 -> '99.7%'."""
    text = f"{share:.0%}"
    return f"{share:.1%}" if text in ("100%", "0%", "-0%") and share not in (0.0, 1.0) else text


def prediction_interval(values, confidence: float = 1 - ALPHA) -> tuple | None:
    """(low, high) that one more run from the same seed distribution falls in with `confidence`:
    mean ± t(n - 1) · sd · sqrt(1 + 1/n); None for fewer than two values."""
    values = [float(v) for v in values]
    if len(values) < 2:
        return None
    mean, sd, n = statistics.fmean(values), statistics.stdev(values), len(values)
    half = t_quantile(0.5 + confidence / 2, n - 1) * sd * math.sqrt(1 + 1 / n)
    return mean - half, mean + half


# ---------------------------------------------------------------- two levels of noise: seeds and test images

def hierarchical_bootstrap(groups: dict, n_boot: int = 4000, seed: int = 0) -> dict:
    """Resampled means of every group, for intervals that count both the training seeds and the test images.

    groups: {name: scores [S, N]}: one row per seed (run), one column per test image, the same N images in every
    group. Each of the n_boot replicates draws N images with replacement, one draw shared by all groups (the
    comparisons are paired on images), and for each group its S seeds with replacement (the seeds of different
    groups are different runs); a group's replicate is the mean of its drawn seeds over the drawn images.
    Returns {name: [n_boot] means}; any statistic of the group means, computed replicate by replicate, has
    its percentile interval in `interval`.
    """
    arrays = {k: np.asarray(v, np.float64) for k, v in groups.items()}
    widths = {a.shape[1] for a in arrays.values() if a.ndim == 2}
    if len(widths) != 1 or any(a.ndim != 2 or a.shape[0] < 1 for a in arrays.values()):
        raise ValueError("every group must be [seeds >= 1, images] over the same images; got shapes "
                         f"{ {k: a.shape for k, a in arrays.items()} }")
    n_images = widths.pop()
    rng = np.random.default_rng(seed)
    image_weights = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=n_boot) / n_images  # [B, N]
    out = {}
    for name, scores in arrays.items():
        n_seeds = scores.shape[0]
        seed_weights = rng.multinomial(n_seeds, np.full(n_seeds, 1 / n_seeds), size=n_boot) / n_seeds  # [B, S]
        out[name] = ((seed_weights @ scores) * image_weights).sum(axis=1)
    return out


def interval(estimate: float, draws, level: float = 1 - ALPHA) -> dict:
    """{'estimate', 'low', 'high', 'excludes_zero'}: a statistic on the data and the percentile interval of its
    bootstrap replicates (draws [B])."""
    low, high = np.quantile(np.asarray(draws, np.float64), [(1 - level) / 2, (1 + level) / 2])
    return {"estimate": float(estimate), "low": float(low), "high": float(high),
            "excludes_zero": bool(low > 0 or high < 0)}


def verdict(ci: dict, n: int) -> str:
    """The words for a difference with its interval: 'established' when the interval excludes zero, else
    'not established (n = k)', never 'within noise'."""
    return "established" if ci["excludes_zero"] else f"not established (n = {n})"


# ---------------------------------------------------------------- the Student t distribution

def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom."""
    return regularized_beta(df / (df + t * t), df / 2, 0.5)


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * t_two_sided_p(t, df)
    return 1 - tail if t >= 0 else tail


def t_quantile(q: float, df: float) -> float:
    """The t with t_cdf(t, df) = q (bisection; 0 < q < 1)."""
    low, high = -1.0, 1.0
    while t_cdf(low, df) > q:
        low *= 2
    while t_cdf(high, df) < q:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < q else (low, mid)
    return (low + high) / 2


def regularized_beta(x: float, a: float, b: float) -> float:
    """I_x(a, b) by its continued fraction (Lentz's method), using the symmetry for fast convergence."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_beta(1.0 - x, b, a)
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return front * result / a
