"""Every training run the project makes, by id, and a runner that reuses finished ones.

    python -m problem2 runs list                          # (the command line is runs.py)
    python -m problem2 runs run ablation_sigma1 seed1_heatmap ...

The main pair trains into results/ itself; every other run trains into results/runs/<id>/.
All share the main protocol (TrainConfig: 30 epochs, batch 32, Adam 1e-3, seed 0) unless the
run's purpose is to change one thing.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

from problem2.core import cli, runtime  # noqa: F401 heads: registers the heads' models and codecs
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.augment import AugmentConfig, AugmentedDataset
from problem2.data.generate import training_pool
from problem2.data.keypoints import loader, make_loaders
from problem2.models.networks import build_model
from problem2.training.checkpoint import RunFiles
from problem2.training.engine import TrainConfig, fit, objective_for

HEATMAP, REGRESSION = "HeatmapNet", "RegressionNet"
DATA_SIZES = (125, 250, 500, 1000, 2000, 4000)  # training images of the learning curves
STEP_CONTROLS = (2, 4)  # 1000 images for k x the epochs: the steps of the curves' k x 1000 points
AIMED_OCCLUSION = AugmentConfig(aimed_cutout=0.5)


@dataclass(frozen=True)
class Head:
    """A heatmap-free head on RegressionNet's encoder (problem2/heads/), as the runs and the heads study name it."""
    model: str              # class in problem2.heads
    config: dict            # its model_config
    label: str              # human name in tables and figures
    features: str           # 'global pooling' or 'spatial'
    loss: str               # 'coordinate' or 'distribution'


# one line per head: its runs (head_*, side_head_*, swapmin_head_*) and its rows in the heads study follow
HEADS = {
    "rle": Head("RLENet", {}, "RLE (Laplace likelihood), pooled", "global pooling", "distribution"),
    "simcc_gap": Head("SimCCNet", {"pooling": "avg"}, "SimCC, pooled features", "global pooling", "distribution"),
    "integral": Head("IntegralNet", {}, "Integral (soft-argmax, 8 x 8)", "spatial", "coordinate"),
    "simcc": Head("SimCCNet", {}, "SimCC, spatial features", "spatial", "distribution"),
}


def seeded(run_id: str, seed: int) -> str:
    """The id of run_id's twin from another seed (seed 0 is run_id itself): run_id + '_seedN'."""
    return run_id + (f"_seed{seed}" if seed else "")


def head_runs(head: str, hand_labels: str = "assignment", seeds=(0, 1, 2)) -> list:
    """Run ids of a head over seeds, trained on the course labels or on side labels."""
    prefix = "side_head_" if hand_labels == "side" else "head_"
    return [seeded(prefix + head, s) for s in seeds]  # the default augmentation, half of its cutouts over a keypoint


@dataclass
class RunSpec:
    """One training run: which model, on which targets and labels, with which protocol."""
    name: str                        # file prefix and training_log key: NAME_model.pth
    model: str = "HeatmapNet"        # a class in problem2.model
    model_config: dict = field(default_factory=dict)
    sigma: float = 2.0               # heatmap target Gaussian (heatmap models)
    hand_labels: str = "assignment"  # or 'side'
    augment: AugmentConfig | None = None  # train through augment.AugmentedDataset with this augmentation
    train_images: int | None = None  # the first N of the training pool (generate.training_pool); None: the split
    train: TrainConfig = field(default_factory=TrainConfig)


def run_training(spec: RunSpec, data_dir, out_dir, resume: bool = True, progress: bool = True,
                 on_epoch: Callable[[dict], None] | None = None, overwrite: bool = False) -> dict:
    """Build the spec's model and loaders, seed, and `fit`; a finished identical run is reused."""
    runtime.seed_everything(spec.train.seed)
    model = build_model(spec.model, **spec.model_config)
    if spec.sigma != RunSpec.sigma:  # a heatmap run's own target width
        model.codec = replace(model.codec, sigma=spec.sigma)
    train_loader, val_loader = make_loaders(data_dir, model.codec, spec.train.batch_size, spec.train.workers,
                                            hand_labels=spec.hand_labels)
    train_set = train_loader.dataset
    if spec.train_images:
        train_set = training_pool(data_dir, train_set, spec.train_images)
    if spec.augment:
        train_set = AugmentedDataset(train_set, spec.augment, seed=spec.train.seed)
    if train_set is not train_loader.dataset:
        train_loader = loader(train_set, spec.train.batch_size, spec.train.workers, shuffle=True)
    return fit(model, train_loader, val_loader, spec.train, out_dir, spec.name, resume, progress,
               objective_for(model, spec.train.loss), overwrite, on_epoch)


def train_both(data_dir: Path, out_dir: Path, cfg: TrainConfig, resume: bool = True,
               models=("heatmap", "regression"), progress: bool = True, overwrite: bool = False) -> dict:
    """The main pair (all_runs' main_heatmap and main_regression) on the same data, each from cfg's seed."""
    runs = all_runs(cfg)
    return {name: run_training(runs[f"main_{name}"], data_dir, out_dir, resume, progress, overwrite=overwrite)
            for name in models}


def all_runs(cfg: TrainConfig) -> dict[str, RunSpec]:
    """{run id: spec}; cfg is the main protocol every run starts from."""
    def spec(name, model, seed=None, loss=None, precision=None, epochs=None, **kw):
        train = replace(cfg, seed=cfg.seed if seed is None else seed, loss=loss or cfg.loss,
                        precision=precision or cfg.precision, epochs=epochs or cfg.epochs)
        return RunSpec(name=name, model=model, train=train, **kw)

    runs = {
        "main_heatmap": spec("heatmap", HEATMAP),
        "main_regression": spec("regression", REGRESSION),
        # ablations of the heatmap model (issue: resolution, sigma, skip connections)
        "ablation_res32": spec("heatmap", HEATMAP, model_config={"heatmap_size": 32}),
        "ablation_res128": spec("heatmap", HEATMAP, model_config={"heatmap_size": 128}),
        "ablation_sigma1": spec("heatmap", HEATMAP, sigma=1.0),
        "ablation_sigma3": spec("heatmap", HEATMAP, sigma=3.0),
        "ablation_sigma4": spec("heatmap", HEATMAP, sigma=4.0),
        "ablation_noskip": spec("heatmap", HEATMAP, model_config={"skip_connections": False}),
        # seeds: the main pair again from other seeds
        "seed1_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 1),
        "seed1_regression": spec("regression", REGRESSION, seed=cfg.seed + 1),
        "seed2_heatmap": spec("heatmap", HEATMAP, seed=cfg.seed + 2),
        "seed2_regression": spec("regression", REGRESSION, seed=cfg.seed + 2),
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
    # heads on RegressionNet's encoder (problem2/heads/): the representation or the architecture? Each over three
    # seeds, on the course labels and on side labels; then trained with the hand-swap-min loss
    for head, h in HEADS.items():
        for labels in ("assignment", "side"):
            for seed, run_id in enumerate(head_runs(head, labels)):
                runs[run_id] = spec(head, h.model, seed=cfg.seed + seed, model_config=h.config, hand_labels=labels)
        runs[f"swapmin_head_{head}"] = spec(head, h.model, model_config=h.config, loss="mse+swapmin")
    runs["swapmin_regression"] = spec("regression", REGRESSION, loss="mse+swapmin")
    runs["swapmin_heatmap"] = spec("heatmap", HEATMAP, loss="mse+swapmin")
    for seed in (1, 2):  # the side-label rows over three seeds (seed 0: side_regression, side_heatmap)
        runs[f"side_regression_seed{seed}"] = spec("regression", REGRESSION, seed=cfg.seed + seed, hand_labels="side")
        runs[f"side_heatmap_seed{seed}"] = spec("heatmap", HEATMAP, seed=cfg.seed + seed, hand_labels="side")
    # learning curves (data_efficiency.py): the main protocol on the first N training images; N = 1000 is the
    # main pair (seed 0) and seed1_* (seed 1)
    for n in DATA_SIZES:
        for seed in (0, 1):
            for model, name in ((HEATMAP, "heatmap"), (REGRESSION, "regression")):
                if n != 1000:
                    runs[f"data{n}_{name}" + (f"_seed{seed}" if seed else "")] = spec(
                        name, model, seed=cfg.seed + seed, train_images=n)
    # the control of the learning curves' step confound: 1000 images for k times the epochs (the optimiser steps
    # of k x 1000 images)
    for k in STEP_CONTROLS:
        runs[f"steps{k}x_regression"] = spec("regression", REGRESSION, epochs=k * cfg.epochs)
    # the main pair trained through augmentation (robustness.py scores them beside the plain pair)
    for seed in (0, 1, 2):
        suffix = f"_seed{seed}" if seed else ""
        runs[f"augment_heatmap{suffix}"] = spec("heatmap", HEATMAP, seed=cfg.seed + seed, augment=AugmentConfig())
        runs[f"augment_regression{suffix}"] = spec("regression", REGRESSION, seed=cfg.seed + seed,
                                                   augment=AugmentConfig())
        # half of the cutouts over a keypoint: do targets at hidden limb ends teach HeatmapNet to infer them?
        runs[f"augment_aimed_heatmap{suffix}"] = spec("heatmap", HEATMAP, seed=cfg.seed + seed,
                                                      augment=AIMED_OCCLUSION)
    # ablations over seeds; and resolution with the Gaussian fixed at 4 image px (sigma x stride), so that
    # resolution and target width are not confounded (64 / sigma 2 is the main run)
    settings = {"res32": {"model_config": {"heatmap_size": 32}}, "res128": {"model_config": {"heatmap_size": 128}},
                "sigma1": {"sigma": 1.0}, "sigma3": {"sigma": 3.0}, "sigma4": {"sigma": 4.0},
                "noskip": {"model_config": {"skip_connections": False}},
                "res32_sigma1": {"model_config": {"heatmap_size": 32}, "sigma": 1.0},
                "res128_sigma4": {"model_config": {"heatmap_size": 128}, "sigma": 4.0}}
    for setting, change in settings.items():
        for seed in (0, 1, 2):
            run_id = f"ablation_{setting}" + (f"_seed{seed}" if seed else "")
            runs.setdefault(run_id, spec("heatmap", HEATMAP, seed=cfg.seed + seed, **change))
    return runs


def ablation_seed_runs(setting: str, seeds=(0, 1, 2)) -> list:
    """Run ids of one ablation setting over seeds ('main' for the 64 / sigma 2 / skip point)."""
    if setting == "main":
        return [{0: "main_heatmap", 1: "seed1_heatmap", 2: "seed2_heatmap"}[s] for s in seeds]
    return [f"ablation_{setting}" + (f"_seed{s}" if s else "") for s in seeds]


def run_dir(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """Where a run's checkpoint and training_log.json live."""
    return Path(results_dir) if run_id.startswith("main_") else Path(results_dir) / "runs" / run_id


def checkpoint_path(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> Path:
    """The best-epoch checkpoint of a run: run_dir / NAME_model.pth."""
    return run_dir(run_id, results_dir) / f"{all_runs(TrainConfig())[run_id].name}_model.pth"


def epochs_done(run_id: str, results: Path) -> int:
    """Completed epochs of a run in results (0 when it has not started, or has nothing to reuse or resume)."""
    files = RunFiles(run_dir(run_id, results), all_runs(TrainConfig())[run_id].name)
    if not (files.model.exists() or files.last.exists()):  # nothing to reuse or resume: it trains from scratch
        return 0
    return len((files.logged() or {}).get("epochs", []))


def run_finished(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> bool:
    """True when the run's log holds all its epochs and no resume state is left (it is not training)."""
    spec = all_runs(TrainConfig())[run_id]
    log = (runtime.load_json(run_dir(run_id, results_dir) / "training_log.json", {}) or {}).get("models", {}).get(spec.name)
    return (log is not None and not log.get("pruned") and len(log["epochs"]) == log["config"]["epochs"]
            and not (run_dir(run_id, results_dir) / f"{spec.name}_last.pth").exists())


def run_reusable(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> bool:
    """True when training the run would only reuse it: finished, and its best checkpoint is there (a committed
    reference run keeps its log but not its checkpoint, so it trains again)."""
    return run_finished(run_id, results_dir) and checkpoint_path(run_id, results_dir).exists()


def run_log(run_id: str, results_dir: Path = DEFAULT_RESULTS) -> dict:
    """A finished run's log: its entry in run_dir / training_log.json."""
    name = all_runs(TrainConfig())[run_id].name
    return runtime.load_json(run_dir(run_id, results_dir) / "training_log.json")["models"][name]


def runs_to_train(run_ids, results_dir: Path, weights=()) -> list:
    """The runs of run_ids that need training: all but those scored from stored predictions without their
    checkpoint (run_scored: a committed reference run), unless their weights are needed (`weights`: run ids,
    or True for every run)."""
    needed = set(run_ids) if weights is True else set(weights)
    return [r for r in run_ids if r in needed or checkpoint_path(r, results_dir).exists()
            or not run_scored(r, results_dir)]


def train_runs(run_ids, data_dir, cfg: TrainConfig, results_dir: Path = DEFAULT_RESULTS,
               progress: bool = True, plan=None, executor=None, weights=()) -> dict:
    """Train the runs in order (finished ones are reused, interrupted ones resume); {id: log} of those trained
    or reused. A finished run whose checkpoint is gone but whose test predictions are stored is not trained
    again unless its weights are needed (runs_to_train).

    plan: a pipeline.Plan that shows one progress bar for all runs (then no bar per run).
    executor: None trains here, one run after another; an executor.RayExecutor trains as Ray tasks.
    """
    runs = all_runs(cfg)
    unknown = [r for r in run_ids if r not in runs]
    if unknown:
        raise ValueError(f"unknown run id(s) {unknown}; known: {sorted(runs)}")
    run_ids = runs_to_train(run_ids, results_dir, weights)
    if executor is not None:
        return executor.train({r: runs[r] for r in run_ids}, data_dir, results_dir, plan)
    logs = {}
    for i, run_id in enumerate(run_ids, 1):
        if plan is not None:
            plan.note(f"run {i}/{len(run_ids)}: {run_id}")
            on_epoch = lambda entry, run_id=run_id: plan.epoch_finished(run_id)  # noqa: E731
        else:
            print(f"[run {i}/{len(run_ids)}] {run_id}", flush=True)
            on_epoch = None
        logs[run_id] = run_training(runs[run_id], data_dir, run_dir(run_id, results_dir), True,
                                    progress and plan is None, on_epoch)
    return logs


def augment_changes(config: AugmentConfig) -> dict:
    """The fields of an augmentation that differ from the default one."""
    default = AugmentConfig()
    return {k: v for k, v in asdict(config).items() if v != getattr(default, k)}


def run_parser(description: str) -> cli.Parser:
    """A command line with the options every run-training command shares: data, results, epochs."""
    p = cli.Parser(description=description)
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--results", type=Path, default=DEFAULT_RESULTS,
                   help="results directory (runs train into RESULTS/runs/ID/, the main pair into RESULTS/)")
    p.add_argument("--epochs", type=cli.positive_int, default=TrainConfig.epochs, help="epochs for every run")
    return p


def run_predictions(run_id: str, results_dir: Path, data_dir: Path, fingerprint: dict, decoding: str = "subpixel"):
    """[N, K, 2] predictions of a finished run on the evaluation split (heatmap models: by `decoding`; regression
    models: their one output), from its stored file, or stored now from its checkpoint (so that it can be scored
    once the checkpoint is gone); None for a run that is missing or still training, or whose stored file lacks the
    decoding and whose checkpoint is gone. fingerprint: the evaluation split's dataset_fingerprint."""
    import numpy as np
    if not run_finished(run_id, results_dir):
        return None
    path = predictions_path(run_id, results_dir)
    stored = runtime.load_json(path)
    best = run_log(run_id, results_dir)
    usable = lambda s: (s and s["data"]["sha1"] == fingerprint["sha1"] and s.get("run") == run_id  # noqa: E731
                        and (decoding in s["keypoints"] or "subpixel" not in s["keypoints"])
                        and from_logged_training(s, best))
    if not usable(stored):
        if not checkpoint_path(run_id, results_dir).exists():
            return None
        save_predictions(run_id, results_dir, data_dir)
        stored = runtime.load_json(path)
    keypoints = stored["keypoints"]
    return np.asarray(keypoints[decoding] if decoding in keypoints else keypoints["argmax"])


def from_logged_training(stored: dict, log: dict) -> bool:
    """True when stored predictions came from the best epoch that the run's log records (files that record the
    checkpoint they came from; older files, which do not, are taken as they are)."""
    made_by = stored.get("checkpoint")
    return made_by is None or (made_by["epoch"] == log["best_epoch"] and made_by["val_loss"] == log["best_val_loss"])


def run_scored(run_id: str, results_dir: Path) -> bool:
    """Finished, with stored test predictions from its logged best epoch: every stage that scores the run can
    do so without its checkpoint (which a committed reference run does not keep)."""
    if not run_finished(run_id, results_dir):
        return False
    stored = runtime.load_json(predictions_path(run_id, results_dir))
    return bool(stored) and from_logged_training(stored, run_log(run_id, results_dir))


def predictions_path(run_id: str, results_dir: Path) -> Path:
    """RUN/test_predictions.json; the main pair share one directory: NAME_test_predictions.json there."""
    if run_id.startswith("main_"):
        return run_dir(run_id, results_dir) / f"{all_runs(TrainConfig())[run_id].name}_test_predictions.json"
    return run_dir(run_id, results_dir) / "test_predictions.json"


def save_predictions(run_id: str, results_dir: Path, data_dir: Path) -> Path:
    """RUN/test_predictions.json: the run's best model on the evaluation split, so that it can be scored
    with any metric after its checkpoint is gone ({decoding: [N, K, 2] image px}, data fingerprint)."""
    from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split
    from problem2.training.checkpoint import load_checkpoint, model_from_checkpoint
    from problem2.training.engine import model_codec, predict
    split = evaluation_split(data_dir)
    ds = load_split(data_dir, split, "heatmap")
    ckpt_path = checkpoint_path(run_id, results_dir)
    ckpt = load_checkpoint(ckpt_path)
    model = model_from_checkpoint(ckpt, str(ckpt_path))
    outputs = predict(model, ds.image_tensor())  # one forward pass, decoded every way (with the run's own sigma)
    run_codec = model_codec(model)
    preds = {d: run_codec.decode(outputs, d).numpy().round(3).tolist() for d in run_codec.decodings}
    path = predictions_path(run_id, results_dir)
    made_by = {k: ckpt.get(k) for k in ("epoch", "val_loss", "weights_sha256")}
    runtime.save_json({"run": run_id, "split": split, "data": dataset_fingerprint(ds), "checkpoint": made_by,
                       "keypoints": preds}, path)
    return path

