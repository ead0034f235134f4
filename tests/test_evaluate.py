import numpy as np
import pytest
import torch
from PIL import Image

from problem2.figures import overlays
from problem2.models import conventions
from problem2.studies.evaluation import extract_keypoints_from_heatmaps, plot_pck_curves, visualize_predictions


def assert_not_blank(path):
    image = np.asarray(Image.open(path).convert("L"), dtype=float)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 5 and (image < 128).mean() > 0.005, f"{path} looks blank"


def test_extract_keypoints_in_heatmap_pixels():
    pts = np.array([[10.25, 20.5], [0.0, 63.0]])
    maps = torch.from_numpy(conventions.gaussian_heatmaps(pts, 64, 64, 2.0))[None]
    assert extract_keypoints_from_heatmaps(maps, "argmax")[0].tolist() == [[10.0, 20.0], [0.0, 63.0]]
    assert np.allclose(extract_keypoints_from_heatmaps(maps, "subpixel")[0].numpy(), pts, atol=1e-3)
    with pytest.raises(ValueError):
        extract_keypoints_from_heatmaps(maps, "soft")


def test_plots_are_written_and_not_blank(tmp_path):
    t = np.round(np.linspace(0, 0.3, 31), 3)
    plot_pck_curves(dict(zip(t, np.minimum(1, t * 8))), dict(zip(t, t * 2)), tmp_path / "pck.png")
    gt = np.array([[64, 40], [50, 70], [78, 70], [50, 97], [78, 97]], float)
    image = np.full((128, 128), 255, np.uint8)
    visualize_predictions(image, gt + 3, gt, tmp_path / "pred.png")
    snaps = {e: torch.from_numpy(conventions.gaussian_heatmaps(gt / 2, 64, 64, 2.0)) * e / 2 for e in (1, 2)}
    overlays.plot_heatmap_stages(image, snaps, tmp_path / "stages.png")
    for name in ("pck.png", "pred.png", "stages.png"):
        assert_not_blank(tmp_path / name)
