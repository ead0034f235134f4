"""The trainings each analysis stage needs, declared once per stage: the pipeline's plan trains exactly these
(the main pair first), and keeps the checkpoints of the runs whose weights a stage loads.

    planned_runs(["evaluate", "ablations"], seeds=(0,))   # ['main_heatmap', 'main_regression', 'ablation_res32', ...]
"""
from __future__ import annotations

from problem2.experiments.registry import main_pair_run
from problem2.studies.ablation_seeds import seeded_run_ids
from problem2.studies.ablations import ABLATIONS
from problem2.studies.data_efficiency import data_run_ids
from problem2.studies.diagnosis import DROPOUT_SEEDS, VARIANT_RUNS
from problem2.studies.factorial import run_ids as factorial_run_ids
from problem2.studies.gap import STUDY_RUNS
from problem2.studies.heads import run_ids as head_run_ids
from problem2.studies.robustness import AUGMENTED_RUNS, seed_run_ids

MAIN_PAIR = [main_pair_run("heatmap"), main_pair_run("regression")]

STAGE_RUNS = {  # stage -> (seeds, learning-curve sizes and seeds or None, quick) -> the run ids it scores
    "evaluate": lambda seeds, curve, quick: MAIN_PAIR,
    "ablations": lambda seeds, curve, quick: [r for variants in ABLATIONS.values() for _, r in variants]
                                              + seeded_run_ids(seeds),
    "failures": lambda seeds, curve, quick: MAIN_PAIR,
    "diagnosis": lambda seeds, curve, quick: VARIANT_RUNS + [r for runs in DROPOUT_SEEDS.values() for r in runs],
    "robustness": lambda seeds, curve, quick: seed_run_ids(seeds),
    "data_efficiency": lambda seeds, curve, quick: data_run_ids(*(curve or ())),
    "studies": lambda seeds, curve, quick: STUDY_RUNS,
    "heads": lambda seeds, curve, quick: head_run_ids(seeds, quick),
    "factorial": lambda seeds, curve, quick: factorial_run_ids(quick),
}
STAGE_WEIGHTS = {"diagnosis": set(VARIANT_RUNS), "robustness": set(AUGMENTED_RUNS)}  # checkpoints loaded, not scored


def planned_runs(stages: list, seeds=(0, 1, 2), curve=None, quick: bool = False) -> list:
    """The trainings the given stages need, the main pair first."""
    runs = MAIN_PAIR + [r for s in stages for r in STAGE_RUNS.get(s, lambda *a: [])(seeds, curve, quick)]
    return list(dict.fromkeys(runs))


def weights_needed(stages: list) -> set:
    """The runs whose checkpoints the stages load (the others are scored from their stored test predictions)."""
    return set(MAIN_PAIR).union(*(STAGE_WEIGHTS.get(s, set()) for s in stages))
