import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from problem2.data.keypoints import load_split
from problem2.experiments.registry import run_dir
from problem2.experiments.runner import save_predictions
from problem2.models import conventions
from problem2.models.networks import HeatmapNet
from problem2.report.ablations import write_ablation_markdown
from problem2.studies.ablations import ABLATIONS, ablation_study
from problem2.studies.evaluation import predict_keypoints
from problem2.studies.failures import CATEGORIES, analyze_failure_cases
from problem2.training.checkpoint import load_model
from problem2.training.loop import TrainConfig


class Fixed(nn.Module):
    """A 'model' that outputs fixed predictions for the images it is given, in order."""

    def __init__(self, outputs, output_type):
        super().__init__()
        self.outputs, self.output_type, self.seen = outputs, output_type, 0
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        out = self.outputs[self.seen:self.seen + len(x)]
        self.seen += len(x)
        return out


def test_failure_categories_on_a_constructed_case(tiny_data, tmp_path):
    test = load_split(tiny_data, "test", "heatmap")
    gt = test.keypoints.astype(float)
    hm_pred, reg_pred = gt.copy(), gt + 30  # heatmap right everywhere, regression wrong everywhere ...
    hm_pred[0, 0] += 40                     # ... except: image 0 head, heatmap fails, regression succeeds
    reg_pred[0, 0] = gt[0, 0]
    hm_pred[1, 3] += 40                     # image 1 left foot: both fail
    heatmaps = torch.from_numpy(np.stack([conventions.gaussian_heatmaps(conventions.image_to_heatmap(p, 64), 64, 64, 2.0)
                                          for p in hm_pred]))
    models = {"heatmap": Fixed(heatmaps, "heatmap"),
              "regression": Fixed(torch.from_numpy(reg_pred.reshape(len(gt), 10) / 128).float(), "regression")}
    out = analyze_failure_cases(models, DataLoader(test, batch_size=64), threshold=0.1, vis_dir=tmp_path)
    n = gt.shape[0] * 5
    cats = out["categories"]
    assert cats[CATEGORIES[0]]["keypoints"] == n - 2
    assert cats[CATEGORIES[1]]["keypoints"] == 1 and cats[CATEGORIES[1]]["per_keypoint"] == [1, 0, 0, 0, 0]
    assert cats[CATEGORIES[2]]["keypoints"] == 1 and cats[CATEGORIES[2]]["per_keypoint"] == [0, 0, 0, 1, 0]
    assert cats[CATEGORIES[0]]["images_all_keypoints"] == len(gt) - 2
    assert cats[CATEGORIES[2]]["images_all_keypoints"] == 2
    for c in CATEGORIES:
        assert (tmp_path / f"failures_{c}.png").exists()


def test_ablation_variants_train_evaluate_at_their_resolution_and_are_reused(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=8, snapshot_epochs=(1,), num_snapshot_images=1)
    result = ablation_study(tiny_data, HeatmapNet, cfg, tmp_path, progress=False)
    rows = result.ablations
    assert [r.heatmap_size for r in rows["heatmap_resolution"]] == [32, 64, 128]
    assert [r.sigma for r in rows["sigma"]] == [1.0, 2.0, 3.0, 4.0]
    assert [r.skip_connections for r in rows["skip_connections"]] == [True, False]
    for row in rows["sigma"]:
        assert 0 <= row.subpixel_standard.pck["0.05"] <= 1 and row.epochs == 1
    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert saved["ablations"]["sigma"][0]["run"] == "ablation_sigma1"
    for name in ABLATIONS:
        assert (tmp_path / "visualizations" / f"ablation_{name}.png").exists()
    assert "| 32 | argmax |" in write_ablation_markdown(tmp_path).read_text()  # the report renders ablation.md
    ckpt = run_dir("ablation_res128", tmp_path) / "heatmap_model.pth"
    assert json.loads(ckpt.with_suffix(".json").read_text())["model_config"]["heatmap_size"] == 128
    stamp = ckpt.stat().st_mtime_ns
    ablation_study(tiny_data, HeatmapNet, cfg, tmp_path, progress=False)  # finished runs are reused
    assert ckpt.stat().st_mtime_ns == stamp
    with pytest.raises(ValueError):
        ablation_study(tiny_data, nn.Linear, cfg, tmp_path)
    save_predictions("ablation_res128", tmp_path, tiny_data)  # scorable once the checkpoint is gone
    saved = json.loads((run_dir("ablation_res128", tmp_path) / "test_predictions.json").read_text())
    test = load_split(tiny_data, "test", "heatmap")
    model = load_model(ckpt)
    for decoding in ("argmax", "subpixel"):
        expected, _ = predict_keypoints(model, test.image_tensor(), decoding)
        assert np.allclose(saved["keypoints"][decoding], expected, atol=1e-3)
    assert saved["data"]["n"] == len(test) and saved["split"] == "test"
