"""Ablations of HeatmapNet: heatmap resolution, target sigma, skip connections (seed 0; over seeds: ablation_seeds.py).

Every variant uses the main protocol (same data, epochs, optimiser, seed) and is compared on the
same evaluation images by PCK and mean pixel error, with argmax and sub-pixel decoding; never by
training loss, which is not comparable across sigmas and resolutions. The main run's model is
the 64x64 / sigma 2 / skip point. Writes ablation.json and one figure per ablation.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from problem2.core import cli, metrics
from problem2.core.results import JsonResult
from problem2.core.schema import DEFAULT_RESULTS
from problem2.data.keypoints import KeypointDataset, dataset_fingerprint, evaluation_split, load_split
from problem2.experiments.registry import run_log, spec_of
from problem2.experiments.runner import run_predictions, train_runs
from problem2.figures import charts
from problem2.models.networks import HeatmapNet
from problem2.training.loop import TrainConfig


@dataclass
class BriefScores(JsonResult):
    pck: dict[str, float]                     # {tkey: PCK, bbox normaliser}
    mean_px: float
    pck_auc: float


@dataclass
class AblationRun(JsonResult):
    """One setting of one ablation: the run that trained it and its scores per decoding and scoring."""
    setting: str
    run: str                                  # run id (experiments.all_runs)
    heatmap_size: int
    sigma: float                              # heatmap pixels
    skip_connections: bool
    best_epoch: int
    epochs: int
    train_seconds: float                      # sum of epoch times
    argmax_standard: BriefScores
    argmax_hand_swap_invariant: BriefScores
    subpixel_standard: BriefScores
    subpixel_hand_swap_invariant: BriefScores

    def scores(self, decoding: str, kind: str) -> BriefScores:
        return getattr(self, f"{decoding}_{kind}")


@dataclass
class Ablations(JsonResult):
    """ablation.json: the assignment's ablations, one seed (seed 0) each."""
    split: str
    n_images: int
    protocol: dict                            # loop.TrainConfig's fields
    ablations: dict[str, list[AblationRun]]   # {ablation name: settings in table order}


# ablation -> [(setting label, run id)]; the main run is the default point of each
ABLATIONS = {
    "heatmap_resolution": [("32", "ablation_res32"), ("64", "main_heatmap"), ("128", "ablation_res128")],
    "sigma": [("1.0", "ablation_sigma1"), ("2.0", "main_heatmap"), ("3.0", "ablation_sigma3"),
              ("4.0", "ablation_sigma4")],
    "skip_connections": [("with", "main_heatmap"), ("without", "ablation_noskip")],
}
DECODINGS = ("argmax", "subpixel")


def _data_dir(dataset) -> Path:
    """A data directory from a path or a KeypointDataset (its annotation file's folder)."""
    if isinstance(dataset, KeypointDataset):
        return dataset.annotation_file.parent
    return Path(dataset)


def ablation_study(dataset, model_class=HeatmapNet, cfg: TrainConfig | None = None,
                   results_dir: Path = DEFAULT_RESULTS, progress: bool = True, ablations: dict = ABLATIONS):
    """Train (or reuse) each variant of `model_class` and score it on the evaluation split.

    dataset: a course-layout data directory, or a KeypointDataset of it. Writes ablation.json,
    visualizations/ablation_<name>.png (the report renders ablation.md from it); returns what ablation.json holds (results.Ablations).
    """
    if model_class is not HeatmapNet:
        raise ValueError("the ablations vary HeatmapNet's resolution, sigma and skip connections")
    cfg = cfg or TrainConfig()
    data_dir = _data_dir(dataset)
    run_ids = list(dict.fromkeys(r for variants in ablations.values() for _, r in variants))
    train_runs(run_ids, data_dir, cfg, results_dir, progress=progress)
    split = evaluation_split(data_dir)
    test = load_split(data_dir, split, "heatmap")
    scores = {run_id: score_heatmap_run(run_id, results_dir, test) for run_id in run_ids}
    result = Ablations(split=split, n_images=len(test), protocol=cfg.record() | {"snapshot_epochs": None},
                       ablations={name: [AblationRun.from_dict({"setting": s, "run": r, **scores[r]}) for s, r in variants]
                                  for name, variants in ablations.items()})
    result.save(Path(results_dir) / "ablation.json")
    for name, rows in result.ablations.items():
        plot_ablation(name, rows, Path(results_dir) / "visualizations" / f"ablation_{name}.png")
    return result


def score_heatmap_run(run_id: str, results_dir: Path, test: KeypointDataset) -> dict:
    """PCK, pixel errors (standard and hand-swap-invariant) of a run's best heatmap model per decoding, from its
    stored test predictions (made from its checkpoint when they are not stored yet)."""
    spec = spec_of(run_id)
    log = run_log(run_id, results_dir)
    fingerprint = dataset_fingerprint(test)
    out = {"heatmap_size": spec.model_config.get("heatmap_size", 64), "sigma": spec.model_config.get("sigma", 2.0),
           "skip_connections": spec.model_config.get("skip_connections", True), "best_epoch": log["best_epoch"],
           "epochs": log["config"]["epochs"], "train_seconds": sum(e["epoch_seconds"] for e in log["epochs"])}
    for decoding in DECODINGS:
        pred = run_predictions(run_id, results_dir, test.annotation_file.parent, fingerprint, decoding)
        if pred is None:
            raise cli.UserError(f"run {run_id} in {results_dir} has neither its checkpoint nor stored predictions "
                                f"on these images: train it (python -m problem2 runs run {run_id})")
        report = metrics.localization_report(pred, test.keypoints)
        for kind in ("standard", "hand_swap_invariant"):
            out[f"{decoding}_{kind}"] = {"pck": report[kind]["pck"], "mean_px": report[kind]["mean_px"],
                                         "pck_auc": report[kind]["pck_auc"]}
    return out


def plot_ablation(name: str, rows: list[AblationRun], save_path: Path) -> None:
    """PCK@0.05 and mean pixel error against the setting: argmax and sub-pixel, labelled and swap-invariant."""
    panels = []
    for ylabel, metric in (("PCK@0.05 (bbox)", lambda s: s.pck["0.05"]), ("mean error (px)", lambda s: s.mean_px)):
        series = {}
        for decoding in DECODINGS:
            series[f"{decoding}"] = [metric(r.scores(decoding, "standard")) for r in rows]
            series[f"{decoding}, swap-inv."] = [metric(r.scores(decoding, "hand_swap_invariant")) for r in rows]
        panels.append((ylabel, series))
    charts.plot_metric_vs_setting([r.setting for r in rows], panels, save_path, SETTING_AXES.get(name, name),
                                 f"Ablation: {name.replace('_', ' ')}, seed 0 (over seeds: ablation_seeds.png)")


SETTING_AXES = {"heatmap_resolution": "heatmap size (px per side; the image is 128)",
                "sigma": "sigma of the target Gaussian (heatmap px)", "skip_connections": "skip connections"}
