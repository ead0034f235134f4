"""Inputs checked where they enter (issue 33): library arguments, special files, non-finite JSON, paths on the
command line. One test per cause."""
import json
import os

import numpy as np
import pytest
import torch

from problem2.__main__ import main as pipeline_main
from problem2.core import metrics, storage
from problem2.core.cli import UserError
from problem2.data.files import DatasetError, load_image, read_annotations
from problem2.data.keypoints import make_loaders
from problem2.figures.overlays import visualize_predictions
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.studies.evaluation import extract_keypoints_from_heatmaps
from problem2.train import train_heatmap_model
from problem2.training.checkpoint import CheckpointError, load_checkpoint
from problem2.training.loop import TrainConfig
from problem2.training.run import train_run


@pytest.mark.parametrize("build, message", [
    (lambda: HeatmapNet(num_keypoints=-1), "num_keypoints must be a positive integer, got -1"),
    (lambda: HeatmapNet(num_keypoints=0), "num_keypoints must be a positive integer, got 0"),
    (lambda: RegressionNet(num_keypoints=2.5), "num_keypoints must be a positive integer, got 2.5"),
    (lambda: HeatmapNet()(torch.zeros(1, 1, 100, 100)), r"images must be \[B, 1, H, W\] .*got \[1, 1, 100, 100\]"),
    (lambda: HeatmapNet()(torch.zeros(1, 3, 128, 128)), r"got \[1, 3, 128, 128\]"),
    (lambda: RegressionNet(pooling="spatial")(torch.zeros(1, 1, 64, 64)), r"of 128 x 128; got \[1, 1, 64, 64\]"),
    (lambda: TrainConfig(epochs=0), r"epochs \(num_epochs\) must be a positive integer, got 0"),
    (lambda: TrainConfig(epochs=1.5), r"got 1.5"),
    (lambda: TrainConfig(batch_size=-2), "batch_size must be a positive integer"),
    (lambda: TrainConfig(lr=float("nan")), "lr must be a positive finite number"),
    (lambda: extract_keypoints_from_heatmaps(torch.zeros(5, 64, 64)), r"must be \[B, K, H, W\]; got shape \[5, 64, 64\]"),
    (lambda: extract_keypoints_from_heatmaps(torch.full((1, 5, 8, 8), float("nan"))), "NaN or infinite"),
    (lambda: metrics.compute_pck(np.zeros((1, 5, 2)), np.random.rand(1, 5, 2), [-0.1]), "non-negative"),
    (lambda: visualize_predictions(np.ones((128, 128)), np.zeros((3, 2)), None, "x.png"),
     r"pred_keypoints must be \[5, 2\].*got shape \[3, 2\]"),
])
def test_library_arguments_are_checked_naming_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_models_still_take_any_multiple_of_16():
    assert HeatmapNet(num_keypoints=3)(torch.zeros(1, 1, 64, 64)).shape == (1, 3, 32, 32)
    assert RegressionNet()(torch.zeros(2, 1, 64, 64)).shape == (2, 10)  # global pooling: any size


def test_the_training_entry_point_refuses_zero_epochs_before_training(tiny_data, tmp_path):
    with pytest.raises(ValueError, match=r"epochs \(num_epochs\) must be a positive integer, got 0"):
        train_heatmap_model(HeatmapNet(), None, None, num_epochs=0, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "train_annotations.json"
    os.mkfifo(path)
    return path


def test_special_files_are_refused_before_they_are_opened(fifo, tmp_path):
    # each would block forever in open() on a FIFO with no writer
    with pytest.raises(DatasetError, match="not a regular file"):
        read_annotations(fifo)
    with pytest.raises(UserError, match="not a regular file"):
        storage.load_json(fifo)
    png = tmp_path / "a.png"
    os.mkfifo(png)
    with pytest.raises(DatasetError, match="a.png is not a regular file"):
        load_image(png)
    pth = tmp_path / "model.pth"
    os.mkfifo(pth)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(pth)


def test_a_loop_of_links_is_named(tmp_path):
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    with pytest.raises(DatasetError, match="loop.png cannot be read"):
        load_image(loop)


def test_json_with_nan_or_infinity_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"pck": float("inf")}))
    with pytest.raises(UserError, match=r"metrics.json is corrupt \(Infinity is not a number JSON allows\)"):
        storage.load_json(path)


@pytest.mark.parametrize("argv, message", [
    (["train", "--out", ""], "--out: must name a directory, got an empty path"),
    (["data_efficiency", "--results", "no/such/dir"], "no/such/dir is not a directory"),
    (["verify", "--results", "no/such/dir"], "no/such/dir is not a directory"),
    (["all", "--plan-only", "--course-data", "TYPO", "--only", "course_eval"], "TYPO is not a directory"),
])
def test_paths_on_the_command_line_are_checked_first(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        pipeline_main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_course_folder_without_its_val_split_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        pipeline_main(["all", "--plan-only", "--course-data", str(tmp_path)])
    assert "holds no val_annotations.json" in capsys.readouterr().err


def test_pruning_after_a_stage_leaves_its_provenance_true(tiny_data, tmp_path):
    # --quick prunes each run's checkpoints after the stages have recorded the hashes of what they read: the logs
    # they read must stay byte for byte, so that `verify` right after finds nothing stale
    from problem2.pipeline import provenance
    from problem2.pipeline.plan import run_stage
    from problem2.training.run_files import RunFiles
    cfg = TrainConfig(epochs=1, batch_size=8, snapshot_epochs=())
    train_loader, val_loader = make_loaders(tiny_data, "regression", 8)
    train_run(RegressionNet(), train_loader, val_loader, cfg, tmp_path / "runs" / "r", "regression", progress=False)
    run_stage(tmp_path, "studies", lambda: storage.load_json(tmp_path / "runs" / "r" / "training_log.json"), {})
    RunFiles(tmp_path / "runs" / "r", "regression").prune()
    assert provenance.stale_files(tmp_path) == []


def test_generate_refuses_the_reference_and_leaves_the_tracked_figure_alone(tmp_path, capsys, monkeypatch):
    from problem2.core.schema import REFERENCE_DIR
    from problem2.data.generate import main as generate_main
    with pytest.raises(UserError, match="committed reference"):
        generate_main(["--out", str(REFERENCE_DIR), "--num-train", "1", "--num-val", "1", "--num-test", "1"])
    assert not (REFERENCE_DIR / "keypoints").exists()
    from problem2.data import generate
    drawn = []
    monkeypatch.setattr(generate, "comparison_figure", lambda course, path, seed: drawn.append(path) or path)
    generate_main(["--compare-with", str(tmp_path)])
    assert drawn == [str(generate.OUTPUT_ROOT / "generated_vs_course.png")]


def test_generated_images_are_written_whole(tmp_path, monkeypatch):
    # an interruption in the middle of writing the third image (its bytes written, not yet in place) leaves the
    # two whole images before it and nothing else: no truncated PNG, no temporary file
    from problem2.data.generate import generate_dataset
    calls = []
    real_fsync = storage.os.fsync

    def interrupt_third(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_fsync(fd)
    monkeypatch.setattr(storage.os, "fsync", interrupt_third)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(tmp_path, sizes={"train": 5}, progress=False, splits=("train",))
    written = sorted((tmp_path / "keypoints" / "train").iterdir())
    assert [p.name for p in written] == ["000000.png", "000001.png"]
    assert all(load_image(p).shape == (128, 128) for p in written)


def test_the_reference_permission_is_the_pipelines_not_an_environment_variables(monkeypatch, tmp_path, capsys):
    from problem2.core.schema import REFERENCE_DIR
    monkeypatch.setenv("PROBLEM2_UPDATE_REFERENCE", "1")  # what the permission used to be: it opens nothing now
    with pytest.raises(UserError, match="committed reference run"):
        storage.save_json({}, REFERENCE_DIR / "metrics.json")
    with pytest.raises(UserError, match="committed reference run"):
        pipeline_main(["predict", str(REFERENCE_DIR / "regression_model.pth"), str(tmp_path),
                       "--out", str(REFERENCE_DIR / "predict")])
    assert not (REFERENCE_DIR / "predict").exists()
    with storage.writing_reference():  # the pipeline's own writers: inside its block, in this process
        assert storage.reference_open()
    assert not storage.reference_open()


def test_an_unreachable_ray_address_is_named_before_any_work(tmp_path, capsys):
    with pytest.raises(UserError, match="no Ray cluster answers at 127.0.0.1:1"):
        pipeline_main(["all", "--quick", "--executor", "ray", "--address", "127.0.0.1:1", "--results", str(tmp_path)])
    assert not list(tmp_path.iterdir())  # no data generated, nothing written


# ---------------------------------------------------------------- files the project wrote, read back in another shape


@pytest.mark.parametrize("edit, message", [
    (lambda d: [], "provenance.json: the file should be an object, is a list of 0"),
    (lambda d: 3, "provenance.json: the file should be an object, is 3"),
    (lambda d: {"stages": []}, "provenance.json: stages should be an object, is a list of 0"),
    (lambda d: {"stages": {"evaluate": "x"}}, "provenance.json: stages.evaluate should be an object, is 'x'"),
    (lambda d: {"stages": {"evaluate": {**d["stages"]["evaluate"], "settings": None}}},
     "provenance.json: stages.evaluate.settings should be an object, is None"),
    (lambda d: {"stages": {"evaluate": {k: v for k, v in d["stages"]["evaluate"].items() if k != "outputs"}}},
     "provenance.json: stages.evaluate.outputs is missing"),
])
def test_verify_names_a_provenance_file_of_another_shape(tmp_path, edit, message, capsys):
    from problem2.pipeline.plan import run_stage
    run_stage(tmp_path, "evaluate", lambda: storage.save_json({}, tmp_path / "metrics.json"), {})
    path = tmp_path / "provenance.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        pipeline_main(["verify", "--results", str(tmp_path)])


def finished_run(tiny_data, out, epochs=1):
    cfg = TrainConfig(epochs=epochs, batch_size=8, snapshot_epochs=())
    train_run(RegressionNet(), *make_loaders(tiny_data, "regression", 8), cfg, out, "regression", progress=False)
    return cfg


def test_a_log_whose_models_are_a_list_is_named(tiny_data, tmp_path):
    cfg = finished_run(tiny_data, tmp_path)
    (tmp_path / "training_log.json").write_text(json.dumps({"models": []}))
    with pytest.raises(UserError, match="training_log.json: models should be an object, is a list of 0"):
        train_run(RegressionNet(), *make_loaders(tiny_data, "regression", 8), cfg, tmp_path, "regression", progress=False)


@pytest.mark.parametrize("craft, message", [
    (lambda s: s | {"extra": 1}, None),  # an extra top-level field: read as written
    (lambda s: s | {"signature": [1, 2]}, "signature should be an object, is a list of 2"),
    (lambda s: s | {"state": s["state"] | {"mood": 1}}, "state.mood is not a field of this file"),
    (lambda s: s | {"state": s["state"] | {"history": [s["state"]["history"][0] | {"epoch": "one"}]}},
     r"state.history\[0\].epoch should be an integer, is 'one'"),
])
def test_a_crafted_resume_state_is_named_before_any_training(tiny_data, tmp_path, craft, message):
    class Stop(Exception):
        pass

    def stop(entry):
        raise Stop
    cfg = TrainConfig(epochs=2, batch_size=8, snapshot_epochs=())
    loaders = make_loaders(tiny_data, "regression", 8)
    with pytest.raises(Stop):
        train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False, on_epoch=stop)
    last = tmp_path / "regression_last.pth"
    torch.save(craft(torch.load(last, weights_only=True)), last)
    if message is None:
        train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False)
        return
    with pytest.raises(UserError, match=f"regression_last.pth: {message}"):
        train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False)


def test_weights_of_another_model_under_a_runs_name_are_named(tiny_data, tmp_path):
    cfg = finished_run(tiny_data, tmp_path)
    from problem2.training.checkpoint import save_checkpoint
    sidecar = json.loads((tmp_path / "regression_model.json").read_text())
    signature = {"train": sidecar["train_config"], "train_data": sidecar["train_data"]}
    save_checkpoint(tmp_path / "regression_model.pth", RegressionNet(pooling="spatial"), sidecar["epoch"],
                    sidecar["val_loss"], signature)
    sidecar_now = json.loads((tmp_path / "regression_model.json").read_text())
    sidecar_now["model_config"] = sidecar["model_config"]  # ... and the sidecar edited to claim the plain model
    (tmp_path / "regression_model.json").write_text(json.dumps(sidecar_now))
    with pytest.raises(UserError, match="do not fit"):
        train_run(RegressionNet(), *make_loaders(tiny_data, "regression", 8), cfg, tmp_path, "regression", progress=False)


@pytest.mark.parametrize("edit, message", [
    (lambda m: m | {"model_config": {**m["model_config"], "wings": 2}}, "cannot be built"),
    (lambda m: m | {"model_config": "big"}, "model_config should be an object, is 'big'"),
    (lambda m: m | {"codec": {"type": "regression", "bins": 3}}, "cannot be built"),
])
def test_a_hand_edited_sidecar_is_named(tmp_path, edit, message):
    from problem2.models.codec import RegressionCodec
    from problem2.training.checkpoint import load_model, save_checkpoint
    save_checkpoint(tmp_path / "regression_model.pth", RegressionNet(), 1, 0.1, {"train": {}, "train_data": {}},
                    RegressionCodec())
    path = tmp_path / "regression_model.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match=message):
        load_model(tmp_path / "regression_model.pth")


def test_a_401_digit_coordinate_is_named_not_overflowed(tiny_data, tmp_path):
    data = json.loads((tiny_data / "train_annotations.json").read_text())
    data["images"][0]["keypoints"][0] = [10 ** 400, 40]
    path = tmp_path / "train_annotations.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"images\[0\] .*: keypoints\[0\] = \[1000000.*\.\.\. lies outside"):
        read_annotations(path)


def test_a_32_bit_integer_image_is_read_by_its_range(tmp_path):
    from PIL import Image
    figure = np.full((128, 128), 255, np.uint8)
    figure[40:90, 63:66] = 0  # a dark stroke on white
    for scale, name in ((257, "sixteen.tif"), (1, "eight.tif")):
        Image.fromarray(figure.astype(np.int32) * scale, mode="I").save(tmp_path / name)
        assert np.array_equal(load_image(tmp_path / name), figure)  # not clipped to a blank white image
    Image.fromarray(np.full((128, 128), 70000, np.int32), mode="I").save(tmp_path / "wide.tif")
    with pytest.raises(DatasetError, match="wide.tif: a 32-bit integer image must hold 8- or 16-bit values"):
        load_image(tmp_path / "wide.tif")
