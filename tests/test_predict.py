"""predict: a checkpoint on a user's images -> course-schema JSON (scorable) and overlays; bad images refused."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from problem2.__main__ import main
from problem2.core import metrics
from problem2.core.cli import UserError
from problem2.core.schema import REFERENCE_DIR
from problem2.data.files import DatasetError
from problem2.data.keypoints import KeypointDataset

CHECKPOINT = REFERENCE_DIR / "heatmap_model.pth"


@pytest.fixture
def images(tiny_data, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    for f in sorted((tiny_data / "test").glob("*.png"))[:4]:
        shutil.copy(f, folder / f.name)
    return folder


def test_predictions_are_a_valid_annotation_file_and_match_the_truth(images, tiny_data, tmp_path):
    if not CHECKPOINT.exists():
        pytest.skip("no committed reference checkpoint")
    main(["predict", str(CHECKPOINT), str(images), "--out", str(tmp_path / "out")])
    predicted = KeypointDataset(images, tmp_path / "out" / "predictions.json")  # readable as course annotations
    truth = {r["file_name"]: r["keypoints"] for r in
             json.loads((tiny_data / "test_annotations.json").read_text())["images"]}
    gt = np.array([truth[name] for name in predicted.file_names], dtype=float)
    pck = metrics.compute_pck(metrics.align_hands(predicted.keypoints, gt), gt, [0.05])[0.05]
    assert pck >= 0.9  # the committed model finds head, hands and feet of generated figures
    assert sorted(p.name for p in (tmp_path / "out" / "overlays").iterdir()) == \
        sorted(f"{name[:-4]}.png" for name in predicted.file_names)


def test_an_image_the_model_cannot_take_is_refused(images, tmp_path):
    Image.fromarray(np.full((64, 64), 255, np.uint8)).save(images / "small.png")
    with pytest.raises(DatasetError, match=r"small.png: image is 64x64, expected 128x128"):
        main(["predict", str(CHECKPOINT), str(images), "--out", str(tmp_path / "out")])


def test_a_dark_background_is_warned_about(images, tmp_path):
    if not CHECKPOINT.exists():
        pytest.skip("no committed reference checkpoint")
    first = sorted(images.iterdir())[0]
    Image.fromarray(255 - np.asarray(Image.open(first))).save(first)
    with pytest.warns(UserWarning, match="dark background"):
        main(["predict", str(CHECKPOINT), str(first), "--out", str(tmp_path / "out"), "--no-overlays"])


def test_a_blank_image_is_warned_about_as_training_does(images, tmp_path):
    blank = images / "blank.png"
    Image.fromarray(np.full((128, 128), 255, np.uint8)).save(blank)
    with pytest.warns(UserWarning, match=r"1 image\(s\) with almost no contrast \(nothing drawn\?\): blank.png"):
        main(["predict", str(CHECKPOINT), str(blank), "--out", str(tmp_path / "out"), "--no-overlays"])


@pytest.mark.parametrize("checkpoint, asked, used", [
    (REFERENCE_DIR / "regression_model.pth", "subpixel", "regression"),  # a heatmap decoding: falls back, with a note
    (REFERENCE_DIR / "heatmap_model.pth", "argmax", "argmax"),
    (REFERENCE_DIR / "runs" / "head_simcc" / "simcc_model.pth", "expectation", "expectation"),
    (REFERENCE_DIR / "runs" / "head_rle" / "rle_model.pth", "fit", "laplace"),
])
def test_the_decode_option_on_every_model_kind(images, tmp_path, capsys, checkpoint, asked, used):
    main(["predict", str(checkpoint), str(images), "--out", str(tmp_path / "out"), "--no-overlays", "--decode", asked])
    decoding = json.loads((tmp_path / "out" / "predictions.json").read_text())["decoding"]
    assert decoding == used
    if asked != used:
        assert f"has no '{asked}' decoding; using its default" in capsys.readouterr().err


def test_a_decoding_no_model_has_is_refused(images, tmp_path):
    with pytest.raises(UserError, match="--decode median: a RegressionNet decodes by"):
        main(["predict", str(REFERENCE_DIR / "regression_model.pth"), str(images), "--out", str(tmp_path / "o"),
              "--decode", "median"])
