"""The factorial of issue 31 and its interventions, as run ids and changes to the main protocol (registry.all_runs
turns them into RunSpecs; studies/factorial.py and interventions.py score them).
"""
from __future__ import annotations


def seeded(run_id: str, seed: int) -> str:
    """The id of run_id's twin from another seed (seed 0 is run_id itself): run_id + '_seedN'."""
    return run_id + (f"_seed{seed}" if seed else "")


# The why-factorial (studies/factorial.py): four factors between the specified RegressionNet (every factor at its
# first level) and a regressor that keeps the map, without dropout, annealed, seeing the whole image
FACTORS = {  # factor -> (level name in run ids, what it changes) for level 0 (the specification) and level 1
    "readout": (("pool", {"pooling": "avg"}), ("map", {"pooling": "spatial"})),
    "dropout": (("do50", {"dropout": 0.5}), ("do0", {"dropout": 0.0})),
    "schedule": (("const", {"schedule": "constant"}), ("cos", {"schedule": "cosine"})),
    "field": (("rf46", {}), ("rf238", {"context_dilations": (2, 4)})),
}
FACTORIAL_SEEDS = (0, 1, 2, 3, 4)
# the factorial's ends on the course labels, beside the side-label design (studies/course_ends.py): the
# specified RegressionNet, the best pooled cell (no dropout, cosine, 238 px) and HeatmapNet, over FACTORIAL_SEEDS
COURSE_CELLS = ((0, 0, 0, 0), (0, 1, 1, 1))
# written 2026-12-04, before any course-label run of the factorial trained; judged by studies/course_ends.EXPECTED
COURSE_PREDICTION = (
    "On the course labels, where the hand names are a coin flip, a regressor trained with MSE is pulled towards the "
    "average of the two hands, while a heatmap keeps both peaks and its decoder picks one. So the best pooled cell "
    "comes as close to HeatmapNet on the head and feet as on side labels (within 0.05 PCK@0.05), but falls "
    "further behind it on the hands, even scored hand-swap-invariant (by more than 0.10): the part of the gap that "
    "global pooling leaves on the course labels is the hands'.")
# interventions that test the border mechanism's predictions by training (side labels, FACTORIAL_SEEDS each):
# {run id prefix: (the change, in RunSpec fields)}
INTERVENTIONS = {
    "transposed_regression": {"view": "transposed"},  # predicts: x and y exchange roles
    "pad_reflect_regression": {"model_config": {"padding_mode": "reflect"}},  # predicts: y collapses like x
    "pad_replicate_regression": {"model_config": {"padding_mode": "replicate"}},
    "pad_circular_regression": {"model_config": {"padding_mode": "circular"}},  # no border: both axes lost
    # the best pooled cell (no dropout, cosine, 238 px) without a border: does the wide field read the border?
    "pad_circular_wide_regression": {"model_config": {"dropout": 0.0, "context_dilations": (2, 4),
                                                      "padding_mode": "circular"}, "schedule": "cosine"},
    # is 30 epochs of cosine converged? The best pooled cell for three times as long
    "long_wide_regression": {"model_config": {"dropout": 0.0, "context_dilations": (2, 4)}, "schedule": "cosine",
                             "epochs": 90},
    # regression given its best shot: the best pooled cell with L1, and with RLE as its paper defines it
    "best_l1_regression": {"model_config": {"dropout": 0.0, "context_dilations": (2, 4)}, "schedule": "cosine",
                           "loss": "l1"},
    "best_rle_regression": {"model": "RLEFlowNet", "model_config": {"dropout": 0.0, "context_dilations": (2, 4)},
                            "schedule": "cosine"},
    # why the flatten head (the whole 8 x 8 x 256 map into the FC) fails: with the specified dropout, and without
    "flatten_regression": {"model_config": {"pooling": "flatten"}},
    "flatten_nodropout_regression": {"model_config": {"pooling": "flatten", "dropout": 0.0}},
}


def factorial_run(levels: tuple, seed: int = 0) -> str:
    """The factorial's run of one cell (a 0/1 level per factor of FACTORS, in order) and seed:
    factorial_run((0, 0, 0, 0), 3) == 'factor_pool_do50_const_rf46_seed3'."""
    names = [FACTORS[f][level][0] for f, level in zip(FACTORS, levels, strict=True)]
    return seeded("factor_" + "_".join(names), seed)


def factorial_heatmap_run(seed: int = 0) -> str:
    """The factorial's end point, the specified HeatmapNet on side labels, of one seed."""
    return seeded("factor_heatmap", seed)


def course_run(levels: tuple | None, seed: int = 0) -> str:
    """A course-label twin of a factorial run (levels None: HeatmapNet): 'course_' + its side-label id."""
    return "course_" + (factorial_heatmap_run(seed) if levels is None else factorial_run(levels, seed))


def factorial_cells() -> list:
    """Every cell of the 2^4 design as a tuple of levels, the specification (0, 0, 0, 0) first."""
    return [tuple((i >> (len(FACTORS) - 1 - b)) & 1 for b in range(len(FACTORS))) for i in range(2 ** len(FACTORS))]


