"""Every training run the project makes, by id: its specification (RunSpec) and where its files are.

Run ids are made here and nowhere else: all_runs(cfg) builds every id through the functions below (main_pair_run,
head_runs, swapmin_run, data_run, step_control_run, ablation_seed_runs) and those of factorial_plan.py (seeded,
factorial_run, factorial_heatmap_run, the interventions), which the studies call to name the runs they read; spec_of(run_id) looks one up in the registry of the main protocol, built once.
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.augment import AugmentConfig
from problem2.experiments.factorial_plan import (  # noqa: F401 (the factorial's names, as the studies import them)
    COURSE_CELLS,
    COURSE_PREDICTION,
    FACTORIAL_SEEDS,
    FACTORS,
    INTERVENTIONS,
    course_run,
    factorial_cells,
    factorial_heatmap_run,
    factorial_run,
    seeded,
)
from problem2.models.heads import HEADS
from problem2.training.loop import TrainConfig
from problem2.training.run_files import RunFiles, read_log

HEATMAP, REGRESSION = "HeatmapNet", "RegressionNet"
DATA_SIZES = (125, 250, 500, 1000, 2000, 4000)  # training images of the learning curves
STEP_CONTROLS = (2, 4)  # 1000 images for k x the epochs: the steps of the curves' k x 1000 points
AIMED_OCCLUSION = AugmentConfig(aimed_cutout=0.5)  # the default augmentation, half of its cutouts over a keypoint


def main_pair_run(model: str, seed: int = 0) -> str:
    """The main pair's run of a seed ('heatmap' or 'regression'): main_heatmap, seed1_heatmap, seed2_regression..."""
    return f"main_{model}" if seed == 0 else f"seed{seed}_{model}"


def head_runs(head: str, hand_labels: str = "assignment", seeds=(0, 1, 2)) -> list:
    """Run ids of a head of HEADS over seeds, trained on the course labels or on side labels."""
    prefix = "side_head_" if hand_labels == "side" else "head_"
    return [seeded(prefix + head, s) for s in seeds]


def swapmin_run(model: str) -> str:
    """The run of 'heatmap', 'regression' or a head of HEADS trained with the hand-swap-min loss (seed 0)."""
    return f"swapmin_{model}" if model in ("heatmap", "regression") else f"swapmin_head_{model}"


def data_run(n: int, model: str, seed: int) -> str:
    """A learning-curve run: the main protocol on the first n training images (n = 1000: the main pair's seed run)."""
    return main_pair_run(model, seed) if n == 1000 else seeded(f"data{n}_{model}", seed)


def step_control_run(k: int) -> str:
    """RegressionNet on the split's 1000 images for k x the epochs: the optimiser steps of k x 1000 images."""
    return f"steps{k}x_regression"


@dataclass
class RunSpec:
    """One training run: which model, on which targets and labels, with which protocol."""
    name: str                        # file prefix and training_log key: NAME_model.pth
    model: str = "HeatmapNet"        # a class in problem2.model
    model_config: dict = field(default_factory=dict)
    hand_labels: str = "assignment"  # or 'side'
    view: str = "upright"            # or 'transposed' (data/views.py): train and score on the data drawn so
    augment: AugmentConfig | None = None  # train through augment.AugmentedDataset with this augmentation
    train_images: int | None = None  # the first N of the training pool (generate.training_pool); None: the split
    train: TrainConfig = field(default_factory=TrainConfig)


MAIN_PAIR_MODELS = {"heatmap": HEATMAP, "regression": REGRESSION}


def main_pair_spec(name: str, cfg: TrainConfig) -> RunSpec:
    """The main pair's run of `name` ('heatmap' or 'regression') under cfg: the assignment's model and protocol.
    (Built alone, so that training the pair does not build the whole study's registry.)"""
    return RunSpec(name=name, model=MAIN_PAIR_MODELS[name], train=cfg)


def all_runs(cfg: TrainConfig) -> dict[str, RunSpec]:
    """{run id: spec}; cfg is the main protocol every run starts from."""
    def spec(name, model, seed=None, loss=None, precision=None, epochs=None, schedule=None, **kw):
        train = replace(cfg, seed=cfg.seed if seed is None else seed, loss=loss or cfg.loss,
                        precision=precision or cfg.precision, epochs=epochs or cfg.epochs,
                        schedule=schedule or cfg.schedule)
        return RunSpec(name=name, model=model, train=train, **kw)

    runs = {
        main_pair_run("heatmap"): main_pair_spec("heatmap", cfg),
        main_pair_run("regression"): main_pair_spec("regression", cfg),
        # ablations of the heatmap model (issue: resolution, sigma, skip connections)
        "ablation_res32": spec("heatmap", HEATMAP, model_config={"heatmap_size": 32}),
        "ablation_res128": spec("heatmap", HEATMAP, model_config={"heatmap_size": 128}),
        "ablation_sigma1": spec("heatmap", HEATMAP, model_config={"sigma": 1.0}),
        "ablation_sigma3": spec("heatmap", HEATMAP, model_config={"sigma": 3.0}),
        "ablation_sigma4": spec("heatmap", HEATMAP, model_config={"sigma": 4.0}),
        "ablation_noskip": spec("heatmap", HEATMAP, model_config={"skip_connections": False}),
        # seeds: the main pair again from other seeds
        main_pair_run("heatmap", 1): spec("heatmap", HEATMAP, seed=cfg.seed + 1),
        main_pair_run("regression", 1): spec("regression", REGRESSION, seed=cfg.seed + 1),
        main_pair_run("heatmap", 2): spec("heatmap", HEATMAP, seed=cfg.seed + 2),
        main_pair_run("regression", 2): spec("regression", REGRESSION, seed=cfg.seed + 2),
        # the main pair in plain fp32 (no autocast, no channels_last): does the fast path change results?
        "fp32_heatmap": spec("heatmap", HEATMAP, precision="fp32"),
        "fp32_regression": spec("regression", REGRESSION, precision="fp32"),
        "fp32_seed1_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 1, precision="fp32"),
        "fp32_seed1_regression": spec("regression", REGRESSION, seed=cfg.seed + 1, precision="fp32"),
        # the same images with hands named by image side: no label ambiguity
        "side_heatmap": spec("heatmap", HEATMAP, hand_labels="side"),
        "side_regression": spec("regression", REGRESSION, hand_labels="side"),
        # regression variants, one change each, on side labels
        "side_regression_nodropout": spec("regression", REGRESSION, hand_labels="side",
                                          model_config={"dropout": 0.0}),
        "side_regression_flatten": spec("regression", REGRESSION, hand_labels="side",
                                        model_config={"pooling": "flatten"}),
        "side_regression_coordconv": spec("regression", REGRESSION, hand_labels="side",
                                          model_config={"coord_channels": True}),
        "side_regression_l1": spec("regression", REGRESSION, hand_labels="side", loss="l1"),
        "side_softargmax": spec("regression", "SoftArgmaxNet", hand_labels="side"),
        # where RegressionNet loses x (diagnosis.py): the single changes again, on the assignment's labels
        "axis_regression_nodropout": spec("regression", REGRESSION, model_config={"dropout": 0.0}),
        # ... over two more seeds: is dropout what costs x, beyond seed noise? (the seed0 run is the one above)
        "axis_regression_nodropout_seed1": spec("regression", REGRESSION, seed=cfg.seed + 1,
                                                model_config={"dropout": 0.0}),
        "axis_regression_nodropout_seed2": spec("regression", REGRESSION, seed=cfg.seed + 2,
                                                model_config={"dropout": 0.0}),
        "axis_regression_flatten": spec("regression", REGRESSION, model_config={"pooling": "flatten"}),
        "axis_regression_coordconv": spec("regression", REGRESSION, model_config={"coord_channels": True}),
        "softargmax": spec("regression", "SoftArgmaxNet"),
    }
    # heads on RegressionNet's encoder (problem2/models/heads/): the representation or the architecture? Each over three
    # seeds, on the course labels and on side labels; then trained with the hand-swap-min loss
    for head, h in HEADS.items():
        for labels in ("assignment", "side"):
            for seed, run_id in enumerate(head_runs(head, labels)):
                runs[run_id] = spec(head, h.model, seed=cfg.seed + seed, model_config=h.config, hand_labels=labels)
        runs[swapmin_run(head)] = spec(head, h.model, model_config=h.config, loss="mse+swapmin")
    runs[swapmin_run("regression")] = spec("regression", REGRESSION, loss="mse+swapmin")
    runs[swapmin_run("heatmap")] = spec("heatmap", HEATMAP, loss="mse+swapmin")
    for seed in (1, 2):  # the side-label rows over three seeds (seed 0: side_regression, side_heatmap)
        runs[seeded("side_regression", seed)] = spec("regression", REGRESSION, seed=cfg.seed + seed, hand_labels="side")
        runs[seeded("side_heatmap", seed)] = spec("heatmap", HEATMAP, seed=cfg.seed + seed, hand_labels="side")
    # learning curves (data_efficiency.py): the main protocol on the first N training images; N = 1000 is the
    # main pair (seed 0) and seed1_* (seed 1)
    for n in DATA_SIZES:
        for seed in (0, 1):
            for model, name in ((HEATMAP, "heatmap"), (REGRESSION, "regression")):
                if n != 1000:
                    runs[data_run(n, name, seed)] = spec(name, model, seed=cfg.seed + seed, train_images=n)
    # the control of the learning curves' step confound: 1000 images for k times the epochs (the optimiser steps
    # of k x 1000 images)
    for k in STEP_CONTROLS:
        runs[step_control_run(k)] = spec("regression", REGRESSION, epochs=k * cfg.epochs)
    # the main pair trained through augmentation (robustness.py scores them beside the plain pair)
    for seed in (0, 1, 2):
        runs[seeded("augment_heatmap", seed)] = spec("heatmap", HEATMAP, seed=cfg.seed + seed, augment=AugmentConfig())
        runs[seeded("augment_regression", seed)] = spec("regression", REGRESSION, seed=cfg.seed + seed,
                                                        augment=AugmentConfig())
        # half of the cutouts over a keypoint: do targets at hidden limb ends teach HeatmapNet to infer them?
        runs[seeded("augment_aimed_heatmap", seed)] = spec("heatmap", HEATMAP, seed=cfg.seed + seed,
                                                           augment=AIMED_OCCLUSION)
    # the why-factorial, on side labels (no hand ambiguity): each cell over FACTORIAL_SEEDS
    for cell in factorial_cells():
        config, schedule = {}, "constant"
        for factor, level in zip(FACTORS, cell):
            change = dict(FACTORS[factor][level][1])
            schedule = change.pop("schedule", schedule)
            config.update(change)
        for seed in FACTORIAL_SEEDS:
            runs[factorial_run(cell, seed)] = spec("regression", REGRESSION, seed=cfg.seed + seed, hand_labels="side",
                                                   model_config=config, schedule=schedule)
        if cell in COURSE_CELLS:  # the same cell on the course labels
            for seed in FACTORIAL_SEEDS:
                runs[course_run(cell, seed)] = spec("regression", REGRESSION, seed=cfg.seed + seed,
                                                    model_config=config, schedule=schedule)
    for seed in FACTORIAL_SEEDS:  # where the decomposition ends: the specified HeatmapNet on the same labels
        runs[factorial_heatmap_run(seed)] = spec("heatmap", HEATMAP, seed=cfg.seed + seed, hand_labels="side")
        runs[course_run(None, seed)] = spec("heatmap", HEATMAP, seed=cfg.seed + seed)
        for prefix, change in INTERVENTIONS.items():
            change = dict(change)
            runs[seeded(prefix, seed)] = spec("regression", change.pop("model", REGRESSION), seed=cfg.seed + seed,
                                              hand_labels="side", **change)
    # ablations over seeds; and resolution with the Gaussian fixed at 4 image px (sigma x stride), so that
    # resolution and target width are not confounded (64 / sigma 2 is the main run)
    settings = {"res32": {"model_config": {"heatmap_size": 32}}, "res128": {"model_config": {"heatmap_size": 128}},
                "sigma1": {"model_config": {"sigma": 1.0}}, "sigma3": {"model_config": {"sigma": 3.0}},
                "sigma4": {"model_config": {"sigma": 4.0}}, "noskip": {"model_config": {"skip_connections": False}},
                "res32_sigma1": {"model_config": {"heatmap_size": 32, "sigma": 1.0}},
                "res128_sigma4": {"model_config": {"heatmap_size": 128, "sigma": 4.0}}}
    for setting, change in settings.items():
        for seed in (0, 1, 2):
            runs.setdefault(seeded(f"ablation_{setting}", seed), spec("heatmap", HEATMAP, seed=cfg.seed + seed, **change))
    return runs


@functools.cache
def _main_protocol_runs() -> dict:
    return all_runs(TrainConfig())


def spec_of(run_id: str) -> RunSpec:
    """A run's spec under the main protocol (the registry is built once); KeyError naming known ids otherwise."""
    runs = _main_protocol_runs()
    if run_id not in runs:
        raise KeyError(f"unknown run id {run_id!r}; `python -m problem2 runs list` lists them")
    return runs[run_id]


def ablation_seed_runs(setting: str, seeds=(0, 1, 2)) -> list:
    """Run ids of one ablation setting over seeds ('main' for the 64 / sigma 2 / skip point: the specified HeatmapNet
    of the factorial's course-label end, which kept both checkpoints, as the retrained settings did)."""
    if setting == "main":
        return [course_run(None, s) for s in seeds]
    return [seeded(f"ablation_{setting}", s) for s in seeds]


def run_dir(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """Where a run's checkpoint and training_log.json live."""
    return Path(results_dir) if run_id.startswith("main_") else Path(results_dir) / "runs" / run_id


def checkpoint_path(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """The best-epoch checkpoint of a run: run_dir / NAME_model.pth."""
    return run_dir(run_id, results_dir) / f"{spec_of(run_id).name}_model.pth"


def final_checkpoint(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """The last epoch's weights of a finished run: run_dir / NAME_final.pth (the last-epoch selection rule)."""
    return RunFiles(run_dir(run_id, results_dir), spec_of(run_id).name).final


def selected_checkpoint(run_id: str, results_dir: Path, selection: str) -> Path:
    """The checkpoint a selection rule picks: final_checkpoint for 'last_epoch', else checkpoint_path."""
    return (final_checkpoint if selection == "last_epoch" else checkpoint_path)(run_id, results_dir)


def epochs_done(run_id: str, results: Path) -> int:
    """Completed epochs of a run in results (0 when it has not started, or has nothing to reuse or resume)."""
    files = RunFiles(run_dir(run_id, results), spec_of(run_id).name)
    if not (files.model.exists() or files.last.exists()):  # nothing to reuse or resume: it trains from scratch
        return 0
    return len((files.logged() or {}).get("epochs", []))


def run_finished(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> bool:
    """True when the run's log holds all its epochs and no resume state is left (it is not training)."""
    spec = spec_of(run_id)
    files = RunFiles(run_dir(run_id, results_dir), spec.name)
    log = read_log(files.log).get(spec.name)
    return (log is not None and not log.get("pruned") and not files.pruned.exists()
            and len(log["epochs"]) == log["config"]["epochs"] and not files.last.exists())


def run_reusable(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> bool:
    """True when training the run would only reuse it: finished, and its best checkpoint is there (a committed
    reference run keeps its log but not its checkpoint, so it trains again)."""
    return run_finished(run_id, results_dir) and checkpoint_path(run_id, results_dir).exists()


def run_log(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> dict:
    """A finished run's log: its entry in run_dir / training_log.json."""
    name = spec_of(run_id).name
    return read_log(run_dir(run_id, results_dir) / "training_log.json")[name]


def augment_changes(config: AugmentConfig) -> dict:
    """The fields of an augmentation that differ from the default one."""
    default = AugmentConfig()
    return {k: v for k, v in asdict(config).items() if v != getattr(default, k)}
