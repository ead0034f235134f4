"""Typed results of the studies beyond the assignment: robustness.json, data_efficiency.json, heads.json (the same
strict loading as results.py, whose JsonResult they extend)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from problem2.core.results import JsonResult


@dataclass
class RobustnessRow(JsonResult):
    family: str
    strength: str                        # '-' where the perturbation has no strength
    group: str
    outside: float                       # fraction of keypoints moved outside the image (not scored)
    scores: dict[str, dict]              # {model: {metric: value}}
    hidden: dict[str, dict] | None = None    # occlusion: {model: metrics on the hidden keypoint}
    visible: dict[str, dict] | None = None   # occlusion: {model: metrics on the others}

    @property
    def name(self) -> str:
        return self.family if self.strength == "-" else f"{self.family} {self.strength}"


@dataclass
class Robustness(JsonResult):
    """robustness.json: every model under every perturbation of the evaluation split."""
    split: str
    n_images: int
    seed: int
    models: dict[str, str]               # {label: checkpoint, relative to the results directory}
    metrics: list
    rows: list[RobustnessRow]            # the first is 'clean'
    clean_seeds: dict | None = None      # {label: {runs: {seed: run}, per_seed, summary: {metric: [mean, sd, n]}}}
    augmentation: dict | None = None     # {augmented model: its augment.AugmentConfig as its log records it}
    cutout_hide_rate: dict | None = None  # {augmented model: share of its training items whose cutout hides a keypoint}

    def clean(self, model: str, metric: str) -> float:
        return self.rows[0].scores[model][metric]

    def row(self, name: str) -> RobustnessRow:
        """The row of a perturbation by its name, e.g. 'rotate ±30°' or 'invert'."""
        return next(r for r in self.rows if r.name == name)


@dataclass
class LearningPoint(JsonResult):
    """One model at one training-set size, over seeds."""
    model: str                           # 'heatmap' or 'regression'
    train_images: int
    runs: dict[str, str]                 # {seed: run id}
    per_seed: dict[str, dict]            # {seed: {metric: value}} of the seeds trained so far
    summary: dict[str, list]             # {metric: [mean, sd (0 for one seed), n seeds]}
    epochs: int | None = None            # a step control's epochs; None: the protocol's
    steps_of: int | None = None          # a step control: the training-set size whose optimiser steps it matches


@dataclass
class DataEfficiency(JsonResult):
    """data_efficiency.json: learning curves of both models on the evaluation split."""
    split: str
    n_images: int
    seeds: list
    metrics: list
    points: list[LearningPoint]          # model-major, sizes ascending
    step_controls: list[LearningPoint] = field(default_factory=list)  # 1000 images, k x the epochs

    def curve(self, model: str) -> list[LearningPoint]:
        return [p for p in self.points if p.model == model]


@dataclass
class HeadRow(JsonResult):
    """One model in the representation-or-architecture table: its runs over seeds and their scores (PCK@0.05)."""
    key: str                             # 'regression', 'heatmap', or a head of heads.HEADS
    label: str
    features: str                        # 'global pooling' or 'spatial'
    loss: str                            # 'coordinate' or 'distribution'
    decoder: bool                        # an upsampling decoder (HeatmapNet's layers)
    runs: dict[str, list]                # {'course' | 'side': [run id per seed]}
    missing: list                        # runs with neither stored predictions nor a checkpoint
    scores: dict[str, list]              # {'course' | 'course_swap' | 'side': [PCK@0.05 per seed scored]}
    mean_px: dict[str, list]             # the same keys: [mean px error per seed]
    parameters: int
    gflops_forward: float                # per 128 x 128 image
    gflops_train: float                  # forward + backward per image
    train_img_per_s: float | None        # measured here, side by side (HeadStudy.environment)
    swapmin: dict | None = None          # {'run', 'course', 'course_swap'}: one seed with the hand-swap-min loss


@dataclass
class HeadContrast(JsonResult):
    """mean(a) - mean(b) over seeds on one label set, Welch interval, Holm verdict over the study's family."""
    a: str
    b: str
    labels: str                          # 'side' or 'course_swap'
    question: str
    diff: float
    low: float
    high: float
    p: float
    beyond_noise: bool


@dataclass
class HeadStudy(JsonResult):
    """heads.json: is it the representation or the architecture? (heads_study.py)"""
    split: str
    n_images: int
    metric: str
    rows: list[HeadRow]
    contrasts: list[HeadContrast]
    environment: dict                    # CPU, threads and load while img/s was measured
    note: str

    def row(self, key: str) -> HeadRow:
        return next(r for r in self.rows if r.key == key)

    def n_seeds(self) -> int:
        """The most seeds any row was scored over on side labels (fewer are marked in the table)."""
        return max((len(r.scores["side"]) for r in self.rows), default=0)


# ------------------------------------------- files typed at the top level: studies, diagnosis, failures, benchmarks

class Sections(JsonResult):
    """A result file typed at its top level only: loading is strict about the section names (an unknown one is an
    error naming it), and each section is the nested dict whose keys its writer's docstring lists. Read like the
    dict it was written from: obj['seeds'], obj.get('precision'), 'cost' in obj."""

    def __getitem__(self, key: str):
        if key not in self.__dataclass_fields__ or getattr(self, key) is None:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default=None):
        value = getattr(self, key, None) if key in self.__dataclass_fields__ else None
        return default if value is None else value

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list:
        return [k for k in self.__dataclass_fields__ if getattr(self, k) is not None]

    def items(self) -> list:
        return [(k, getattr(self, k)) for k in self.keys()]


@dataclass
class Studies(Sections):
    """studies.json (studies/gap.py): seeds and intervals, label ambiguity, regression variants, precision, cost."""
    split: str
    n_images: int
    seeds: dict | None = None
    ambiguity: dict | None = None
    regression_variants: dict | None = None
    precision: dict | None = None
    cost: dict | None = None


@dataclass
class Diagnosis(Sections):
    """diagnosis.json (studies/diagnosis.py): where RegressionNet loses position, axis by axis."""
    split: str
    n_images: int
    axes: dict | None = None
    border_reach: dict | None = None
    canvas_margin_px: float | None = None
    dropout_seeds: dict | None = None
    mirror: dict | None = None
    offset: dict | None = None
    probes: dict | None = None
    receptive_field_px: float | None = None
    shift: dict | None = None
    unambiguous_keypoints: list | None = None
    variants: dict | None = None


@dataclass
class FailureCases(Sections):
    """failure_cases.json (studies/failures.py): who fails where, and what those keypoints have in common."""
    n_images: int
    threshold: float
    keypoint_names: list
    split: str | None = None
    all_keypoints: dict | None = None
    categories: dict | None = None
    heatmap_decoding: str | None = None
    normalize_by: str | None = None
    split_definitions: dict | None = None
    swap_or_localisation: dict | None = None
    trait_definitions: dict | None = None


@dataclass
class BenchTrain(Sections):
    """bench_train.json (studies/bench.py train): training images/s of each path, side by side."""
    batch_size: int
    environment: dict
    HeatmapNet: dict | None = None
    RegressionNet: dict | None = None
    compute_floor: dict | None = None
    device: str | None = None
    keep_freed_memory_supported: bool | None = None
    project_precision: str | None = None
    repeats: int | None = None
    rounds: int | None = None


@dataclass
class BenchSweep(Sections):
    """bench_sweep.json (studies/bench_sweep.py): a sweep of small runs, sequential against Ray tasks."""
    environment: dict
    epochs: int | None = None
    first_round: dict | None = None
    load_average_1min: list | None = None
    median: dict | None = None
    per_round: list | None = None
    ray_cpus_per_run: float | None = None
    ray_init_seconds: float | None = None
    ray_workers: int | None = None
    rounds: int | None = None
    runs: int | None = None
    sequential_threads: int | None = None
    train_images: int | None = None


SECTION_FILES = {"studies.json": Studies, "diagnosis.json": Diagnosis, "failure_cases.json": FailureCases,
                 "bench_train.json": BenchTrain, "bench_sweep.json": BenchSweep}


def load_sections(results: Path, name: str):
    """RESULTS/name (a file of SECTION_FILES) typed, or None when the stage that writes it did not run."""
    return SECTION_FILES[name].load(Path(results) / name, missing_ok=True)
