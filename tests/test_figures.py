"""Every figure the pipeline draws, rendered from fixtures: no text under 9 pt, no two texts overlapping.

The typed results come from the committed reference (the figures the report shows); images and predictions are
a few generated test images. Each figure is checked just before it is written (style.BEFORE_SAVE).
"""
import numpy as np
import pytest
import torch

from problem2.core.schema import REFERENCE_DIR, UNAMBIGUOUS
from problem2.core.storage import load_json
from problem2.data.keypoints import load_split
from problem2.figures import charts, overlays, style
from problem2.studies import ambiguity
from problem2.studies import gap as studies
from problem2.studies.ablation_seeds import SeededAblations
from problem2.studies.ablations import Ablations, plot_ablation
from problem2.studies.data_efficiency import DataEfficiency
from problem2.studies.robustness import Robustness


@pytest.fixture
def checked(monkeypatch):
    """{file name: [problems]} of every figure saved while the test runs."""
    found = {}
    monkeypatch.setattr(style, "BEFORE_SAVE", [lambda fig, path: found.setdefault(path.name, style.text_problems(fig))])
    return found


@pytest.fixture
def sample(tiny_data):
    """Four test images, their keypoints, predictions near them and heatmaps [4, 5, 64, 64]."""
    ds = load_split(tiny_data, "test", "heatmap")
    rng = np.random.default_rng(0)
    gt = ds.keypoints[:4]
    return {"ds": ds, "images": ds.images[:4], "gt": gt, "near": gt + rng.normal(0, 2, gt.shape),
            "far": gt + rng.normal(0, 12, gt.shape), "heatmaps": torch.rand(4, 5, 64, 64)}


def assert_clean(found: dict, expected: set):
    assert set(found) == expected
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_evaluation_and_failure_figures(checked, sample, tmp_path):
    curve = {t: min(1.0, 4 * t) for t in np.round(np.linspace(0, 0.5, 51), 3)}
    charts.plot_pck_curves(curve, {t: v / 2 for t, v in curve.items()}, tmp_path / "pck_curves.png",
                          extra={"heatmap subpixel": curve, "heatmap swap-invariant": curve,
                                 "regression swap-invariant": curve}, title="PCK on test (200 images)")
    overlays.plot_prediction_grid(sample["images"], sample["gt"], {"heatmap": sample["near"], "regression": sample["far"]},
                               tmp_path / "sample_predictions.png",
                               suptitle="First 4 test images\ngreen o: ground truth, x: prediction (heatmap: sub-pixel)")
    overlays.visualize_predictions(sample["images"][0], sample["near"][0], sample["gt"][0], tmp_path / "single.png",
                                title="heatmap (sub-pixel)")
    overlays.plot_heatmap_stages(sample["images"][0], {e: torch.rand(5, 64, 64) for e in (1, 2, 5, 10, 20, 30)},
                              tmp_path / "heatmap_training_stages.png")
    charts.plot_training_curves(load_json(REFERENCE_DIR / "training_log.json"), tmp_path / "training_curves.png")
    titles = [f"img {i}: right_hand\nhm 31.2 px, reg 14.8 px" for i in range(4)]
    overlays.plot_failure_gallery(sample["images"], sample["gt"], sample["near"], sample["far"], sample["heatmaps"][:, 2],
                               [2, 2, 1, 3], tmp_path / "failures_both_fail.png", titles,
                               "both fail (threshold 0.1 x bbox diagonal); worst first")
    charts.plot_axis_scatter({"regression": sample["far"], "heatmap": sample["near"]}, sample["gt"], UNAMBIGUOUS,
                            tmp_path / "axis_scatter.png")
    ambiguity.plot_hand_ambiguity(sample["ds"], {"regression": sample["far"], "heatmaps": sample["heatmaps"]},
                                  tmp_path / "hand_ambiguity.png")
    assert_clean(checked, {"pck_curves.png", "sample_predictions.png", "single.png", "heatmap_training_stages.png",
                           "training_curves.png", "failures_both_fail.png", "axis_scatter.png", "hand_ambiguity.png"})


def test_study_figures_from_the_committed_results(checked, tmp_path):
    ablations = Ablations.load(REFERENCE_DIR / "ablation.json")
    for name, rows in ablations.ablations.items():
        plot_ablation(name, rows, tmp_path / f"ablation_{name}.png")
    charts.plot_seeded_ablations(SeededAblations.load(REFERENCE_DIR / "ablation_seeds.json"),
                                tmp_path / "ablation_seeds.png")
    studies.draw_study_figures(load_json(REFERENCE_DIR / "studies.json"), tmp_path)
    charts.plot_robustness(Robustness.load(REFERENCE_DIR / "robustness.json"), tmp_path / "robustness.png")
    charts.plot_learning_curves(DataEfficiency.load(REFERENCE_DIR / "data_efficiency.json"),
                               tmp_path / "learning_curves.png")
    assert_clean(checked, {f"ablation_{name}.png" for name in ablations.ablations}
                 | {"ablation_seeds.png", "seeds_pck.png", "ambiguity_ceiling.png", "regression_variants.png",
                    "robustness.png", "learning_curves.png"})


def test_robustness_examples(checked, sample, tmp_path):
    models = ["HeatmapNet", "RegressionNet", "HeatmapNet augmented", "RegressionNet augmented",
              "HeatmapNet augmented, aimed cutout"]
    examples = [(f"{family} {strength}", sample["images"][i % 4], sample["gt"][i % 4],
                 {m: sample["near"][i % 4] for m in models})
                for i, (family, strength) in enumerate([("shift", "12 px"), ("rotation", "30 deg"), ("scale", "0.8"),
                                                        ("contrast", "0.3"), ("blur", "sigma 2"),
                                                        ("occlusion", "15 px"), ("invert", "")])]
    overlays.plot_robustness_examples(examples, tmp_path / "robustness_examples.png")
    assert_clean(checked, {"robustness_examples.png"})


def test_accuracy_against_flops(checked, tmp_path):
    """The heads figure, from a study shaped like heads.json: eight rows, two of them at the decoder's cost."""
    from problem2.studies.heads import HeadRow, HeadStudy
    rng = np.random.default_rng(0)
    rows = [HeadRow(key=f"m{i}", label=label, features="spatial", loss="coordinate", decoder=i >= 6,
                    runs={"course": [], "side": []}, missing=[],
                    scores={k: list(np.clip(base + rng.normal(0, 0.01, 3), 0, 1)) for k in ("course", "course_swap",
                                                                                            "side")},
                    mean_px={"course": [], "side": []}, parameters=1, gflops_forward=0.80 if i >= 6 else 0.46,
                    gflops_train=1.0, train_img_per_s=50.0)
            for i, (label, base) in enumerate([("RegressionNet (specified)", 0.09), ("RegressionNet without dropout", 0.15),
                                               ("RLE without its flow, pooled", 0.10),
                                               ("SimCC, pooled features", 0.11), ("Integral (soft-argmax, 8 x 8)", 0.96),
                                               ("SimCC, spatial features", 0.98),
                                               ("HeatmapNet trunk + soft-argmax", 0.97),
                                               ("HeatmapNet (specified), sub-pixel", 0.99)])]
    study = HeadStudy(split="test", n_images=200, metric="PCK@0.05", rows=rows, contrasts=[], environment={}, note="")
    charts.plot_accuracy_vs_flops(study, tmp_path / "heads_accuracy_flops.png")
    assert_clean(checked, {"heads_accuracy_flops.png"})
