"""Every bad input a new user tried gets a clear answer: a named error, or a correct reading."""
import errno
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from problem2.__main__ import main as pipeline_main
from problem2.core import cli, runtime, storage
from problem2.core.cli import UserError
from problem2.data.files import DatasetError, load_image
from problem2.data.generate import main as generate_main
from problem2.data.generate import render_figure
from problem2.data.keypoints import KeypointDataset, make_loaders
from problem2.models import codec, conventions
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.train import main as train_main
from problem2.training.checkpoint import CheckpointError, load_model
from problem2.training.loop import TrainConfig
from problem2.training.run import train_run


def annotation_copy(tiny_data, tmp_path, edit):
    """A copy of tiny_data's train split whose annotation file `edit(data)` has changed."""
    data = json.loads((tiny_data / "train_annotations.json").read_text())
    edit(data)
    path = tmp_path / "train_annotations.json"
    path.write_text(json.dumps(data))
    return path


def set_record(i, key, value):
    return lambda d: d["images"][i].__setitem__(key, value)


def set_point(i, k, point):
    return lambda d: d["images"][i]["keypoints"].__setitem__(k, point)


BAD_ANNOTATIONS = [  # (edit, what the message must name)
    (set_point(0, 2, [-500, 40]), r"images\[0\] \(.*\): keypoints\[2\] = \[-500, 40\] lies outside"),
    (set_point(3, 0, [1e30, 40]), r"images\[3\] \(.*\): keypoints\[0\] .* lies outside"),
    (lambda d: d.__setitem__("keypoint_names", 5), r"'keypoint_names' must be a list of strings, got 5"),
    (set_record(1, "file_name", 123), r"images\[1\]: 'file_name' must be a non-empty string, got 123"),
    (set_record(1, "file_name", None), r"images\[1\]: 'file_name' must be a non-empty string, got None"),
    (set_record(2, "file_name", "../secret.png"), r"images\[2\]: 'file_name' '../secret.png' must be a relative"),
    (set_record(2, "file_name", "/etc/passwd"), r"images\[2\]: 'file_name' '/etc/passwd' must be a relative"),
    (lambda d: d["images"][5].__setitem__("file_name", d["images"][4]["file_name"]),
     r"images\[5\] repeats file_name '.*' of images\[4\]"),
    (lambda d: d["images"][6].__setitem__("id", d["images"][0]["id"]), r"images\[6\] repeats id .* of images\[0\]"),
    (lambda d: d.__setitem__("images", []), r"'images' is empty"),
]


@pytest.mark.parametrize("edit, message", BAD_ANNOTATIONS)
def test_bad_annotation_is_refused_naming_the_file_and_field(tiny_data, tmp_path, edit, message):
    path = annotation_copy(tiny_data, tmp_path, edit)
    with pytest.raises(DatasetError, match=message) as err:
        KeypointDataset(tiny_data / "train", path)
    assert str(path) in str(err.value)


def test_sixteen_bit_grayscale_is_scaled_not_saturated(tmp_path):
    image = render_figure(np.array([[64, 40], [50, 60], [78, 60], [50, 97], [78, 97]]))
    Image.fromarray(image.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"
    assert np.array_equal(load_image(tmp_path / "deep.png"), image)


@pytest.mark.parametrize("size", [7, True, 4096, 2, 64.0])
def test_unrepresentable_heatmap_size_is_refused(tiny_data, size):
    with pytest.raises(ValueError, match="heatmap_size must"):
        KeypointDataset(tiny_data / "train", tiny_data / "train_annotations.json", heatmap_size=size)


@pytest.mark.parametrize("sigma", [1e-6, 0.0, -1.0, float("nan"), True])
def test_sigma_the_codec_cannot_represent_is_refused(tiny_data, sigma):
    with pytest.raises(ValueError, match="sigma must"):
        KeypointDataset(tiny_data / "train", tiny_data / "train_annotations.json", sigma=sigma)
    with pytest.raises(ValueError, match="sigma must"):
        conventions.gaussian_heatmaps(np.zeros((1, 2)), 8, 8, sigma)


def test_numpy_numbers_are_accepted_for_size_and_sigma(tiny_data):
    ds = KeypointDataset(tiny_data / "train", tiny_data / "train_annotations.json",
                         heatmap_size=np.int64(32), sigma=np.float32(1.5))
    assert ds.heatmap_size == 32 and isinstance(ds.heatmap_size, int) and ds.sigma == 1.5
    assert ds[0][1].shape == (5, 32, 32)


def run_command(main, argv, capsys) -> tuple[int, str]:
    """A command's exit status and its stderr, run as cli.run runs it."""
    with pytest.raises(SystemExit) as done:
        cli.run(main, argv)
    return done.value.code, capsys.readouterr().err


@pytest.mark.parametrize("option, message", [
    (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
    (["--batch-size", "0"], "argument --batch-size: must be an integer >= 1, got '0'"),
    (["--workers", "-1"], "argument --workers: must be an integer >= 0, got '-1'"),
    (["--lr", "nan"], "argument --lr: must be a finite number in (0, 1], got 'nan'"),
    (["--lr", "1e6"], "argument --lr: must be a finite number in (0, 1], got '1e6'"),
    (["--device", "foo"], "argument --device: must be auto, cpu, cuda, cuda:N or mps, got 'foo'"),
])
def test_bad_train_options_exit_2_with_one_line(option, message, capsys, tmp_path):
    code, err = run_command(train_main, ["--out", str(tmp_path), *option], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # refused before anything was written


def test_cuda_without_cuda_is_refused_up_front(capsys, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code, err = run_command(train_main, ["--out", str(tmp_path), "--device", "cuda"], capsys)
    assert code == 2 and "this machine has no CUDA device" in err


def test_bad_generate_and_pipeline_options(capsys, tmp_path):
    code, err = run_command(generate_main, ["--out", str(tmp_path), "--num-train", "-5"], capsys)
    assert code == 2 and "argument --num-train: must be an integer >= 1, got '-5'" in err
    code, err = run_command(pipeline_main, ["all", "--quick", "--quick-images", "1", "--results", str(tmp_path)], capsys)
    assert code == 2 and err.strip() == ("error: --quick-images must be at least 16, got 1 "
                                         "(--debug for the traceback)")


def test_user_error_traceback_only_with_debug(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, err = run_command(train_main, ["--data-dir", str(missing), "--out", str(tmp_path)], capsys)
    assert code == 2 and "Traceback" not in err and f"{missing} has no train_annotations.json" in err
    code, err = run_command(train_main, ["--data-dir", str(missing), "--out", str(tmp_path), "--debug"], capsys)
    assert code == 2 and "Traceback" in err


def test_swapped_checkpoints_are_named(tmp_path):
    storage.save_torch({"format": "problem2-checkpoint-v1", "model_class": "RegressionNet",
                        "model_config": RegressionNet().config, "state_dict": RegressionNet().state_dict()},
                       tmp_path / "heatmap_model.pth")
    with pytest.raises(CheckpointError, match="holds a RegressionNet, expected a HeatmapNet"):
        load_model(tmp_path / "heatmap_model.pth", HeatmapNet)


@pytest.mark.parametrize("name", ["training_log.json", "pipeline.json"])
def test_corrupt_json_names_the_file_and_the_way_out(tmp_path, name):
    (tmp_path / name).write_text('{"models": {')
    with pytest.raises(UserError, match=rf"{name} is corrupt .*delete it to recompute"):
        storage.load_json(tmp_path / name)


def test_unwritable_output_is_refused_before_training(tiny_data, tmp_path):
    (tmp_path / "a_file").write_text("")
    loaders = make_loaders(tiny_data, "regression", 8)
    with pytest.raises(UserError, match="cannot create the output directory"):
        train_run(RegressionNet(), *loaders, TrainConfig(epochs=1), tmp_path / "a_file" / "out", "regression",
            progress=False)


def test_disk_full_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    storage.save_json({"v": 1}, tmp_path / "x.json")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(runtime.os, "fsync", full)
    with pytest.raises(OSError, match=r"no space left on device while writing .*x\.json \(earlier files are intact\)"):
        storage.save_json({"v": 2}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]  # no temporary left


def test_a_second_training_into_a_directory_in_use_is_refused(tiny_data, tmp_path):
    import subprocess
    import sys
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tmp_path.mkdir(exist_ok=True)
        (tmp_path / ".lock").write_text(f"{sleeper.pid} {__import__('platform').node()}\n")
        loaders = make_loaders(tiny_data, "regression", 8)
        with pytest.raises(UserError, match=rf"in use by another training \(PID {sleeper.pid}"):
            train_run(RegressionNet(), *loaders, TrainConfig(epochs=1), tmp_path, "regression", progress=False)
    finally:
        sleeper.kill()
        sleeper.wait()
    log = train_run(RegressionNet(), *loaders, TrainConfig(epochs=1, batch_size=8), tmp_path, "regression",
              progress=False)  # the lock's process is gone: stale, cleared
    assert len(log["epochs"]) == 1 and not (tmp_path / ".lock").exists()


def test_two_different_trainings_into_one_directory(tiny_data, tmp_path):
    loaders = make_loaders(tiny_data, "regression", 8)
    train_run(RegressionNet(), *loaders, TrainConfig(epochs=1, batch_size=8), tmp_path, "regression", progress=False)
    with pytest.raises(UserError, match="made with other settings"):
        train_run(RegressionNet(), *loaders, TrainConfig(epochs=1, batch_size=8, seed=1), tmp_path, "regression",
            progress=False)
    with pytest.raises(UserError, match="already holds a run 'regression'"):
        train_run(RegressionNet(), *loaders, TrainConfig(epochs=1, batch_size=8, seed=1), tmp_path, "regression",
            resume=False, progress=False)
    log = train_run(RegressionNet(), *loaders, TrainConfig(epochs=1, batch_size=8, seed=1), tmp_path, "regression",
              resume=False, overwrite=True, progress=False)
    assert log["config"]["seed"] == 1


def test_generated_data_dir_without_annotations(tmp_path):
    shutil.rmtree(tmp_path)
    with pytest.raises(UserError, match="has no train_annotations.json"):
        train_main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "o")])


# ---------------------------------------------------------------- the committed reference is written on purpose only

def reference_snapshot():
    from problem2.core.schema import REFERENCE_DIR
    return {p: p.stat().st_mtime_ns for p in REFERENCE_DIR.rglob("*") if p.is_file()}


@pytest.mark.parametrize("main, argv, message", [
    (train_main, ["--out", "problem2/results", "--overwrite", "--epochs", "1"],
     "is in the committed reference run problem2/results/: nothing writes there but"),
    (pipeline_main, ["all", "--quick", "--update-reference"], "drop --quick"),
    (pipeline_main, ["report", "--update-reference", "--results", "outputs/elsewhere"], "drop --results"),
    (pipeline_main, ["all", "--update-reference", "--epochs", "3", "--skip-studies"], "drop --skip-studies, --epochs"),
    (train_main, ["--resume", "--overwrite"], "--resume and --overwrite contradict each other"),
    (pipeline_main, ["all", "--quick-images", "3"], "--quick-images only applies with --quick"),
])
def test_nothing_writes_into_the_reference_without_update_reference(main, argv, message, capsys):
    before = reference_snapshot()
    code, err = run_command(main, argv, capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert reference_snapshot() == before


def test_the_library_refuses_the_reference_too(tiny_data):
    from problem2.core.schema import REFERENCE_DIR
    with pytest.raises(UserError, match="committed reference run"):
        train_run(RegressionNet(), *make_loaders(tiny_data, "regression", 8), TrainConfig(epochs=1), REFERENCE_DIR,
            "regression", progress=False, overwrite=True)
    with pytest.raises(UserError, match="committed reference run"):
        storage.save_json({}, REFERENCE_DIR / "metrics.json")


# ---------------------------------------------------------------- images and files that would be read silently wrong

def save_png(path, array, mode):
    Image.fromarray(array, mode).save(path)
    return path


def test_a_transparent_background_is_white_and_a_float_image_is_scaled(tmp_path):
    figure = np.full((128, 128), 255, np.uint8)
    figure[60:68, 20:100] = 0
    rgba = np.zeros((128, 128, 4), np.uint8)  # transparent black everywhere ...
    rgba[60:68, 20:100] = [0, 0, 0, 255]      # ... but the opaque figure
    with pytest.warns(UserWarning, match="converted to grayscale"):
        assert np.array_equal(load_image(save_png(tmp_path / "a.png", rgba, "RGBA")), figure)
    Image.fromarray(figure.astype(np.float32) / 255.0, "F").save(tmp_path / "f.tif")
    assert np.array_equal(load_image(tmp_path / "f.tif"), figure)
    Image.fromarray(np.full((128, 128), 300.0, np.float32), "F").save(tmp_path / "g.tif")
    with pytest.raises(DatasetError, match="finite values in"):
        load_image(tmp_path / "g.tif")


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares its size and holds no pixels: what a decompression bomb looks like before decoding."""
    import struct
    import zlib
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    chunk = lambda body: struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))  # noqa: E731
    return b"\x89PNG\r\n\x1a\n" + chunk(ihdr) + chunk(b"IDAT") + chunk(b"IEND")


def test_a_huge_image_is_refused_by_its_size_before_decoding(tmp_path):
    (tmp_path / "big.png").write_bytes(png_header(1000, 1000))
    with pytest.raises(DatasetError, match="image is 1000x1000, expected 128x128"):
        load_image(tmp_path / "big.png")  # refused by its header: no pixel data is there to decode
    (tmp_path / "bomb.png").write_bytes(png_header(20000, 20000))
    with pytest.raises(DatasetError, match=r"cannot read image .*bomb.png: Image size \(400000000 pixels\) exceeds"):
        load_image(tmp_path / "bomb.png")


def test_a_link_out_of_the_image_folder_and_a_dotted_duplicate_are_refused(tiny_data, tmp_path):
    images = tmp_path / "train"
    shutil.copytree(tiny_data / "train", images)
    first = sorted(images.iterdir())[0]
    first.unlink()
    first.symlink_to(tiny_data / "val" / sorted(p.name for p in (tiny_data / "val").iterdir())[0])
    with pytest.raises(DatasetError, match="outside the image folder"):
        KeypointDataset(images, tiny_data / "train_annotations.json")
    data = json.loads((tiny_data / "train_annotations.json").read_text())
    data["images"][1]["file_name"] = "./" + data["images"][0]["file_name"]
    (tmp_path / "dup.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="repeats file_name"):
        KeypointDataset(tiny_data / "train", tmp_path / "dup.json")


def test_dark_and_blank_training_images_are_warned_about_by_name(tiny_data, tmp_path):
    images = tmp_path / "train"
    shutil.copytree(tiny_data / "train", images)
    names = sorted(p.name for p in images.iterdir())
    save_png(images / names[0], 255 - np.asarray(Image.open(images / names[0])), "L")  # inverted
    save_png(images / names[1], np.zeros((128, 128), np.uint8), "L")                 # all black
    with pytest.warns(UserWarning) as caught:
        KeypointDataset(images, tiny_data / "train_annotations.json")
    text = " ".join(str(w.message) for w in caught)
    assert f"2 image(s) with a dark background (the figures are dark lines on white): {names[0]}, {names[1]}" in text
    assert f"1 image(s) with almost no contrast (nothing drawn?): {names[1]}" in text


def test_a_target_wider_than_a_quarter_of_the_map_and_deep_json_are_refused(tmp_path):
    with pytest.raises(ValueError, match="sigma must be at most a quarter of heatmap_size"):
        codec.HeatmapCodec(64, 1e6)
    (tmp_path / "deep.json").write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(UserError, match="nested too deeply"):
        storage.load_json(tmp_path / "deep.json")


def test_a_garbage_lock_says_how_to_clear_it(tmp_path):
    (tmp_path / ".lock").write_text("garbage")
    with pytest.raises(UserError, match=r"holds 'garbage', not a writer's 'PID HOST'; .*rm .*\.lock"):
        with runtime.DirectoryLock(tmp_path):
            pass


def test_predict_refuses_a_model_with_nan_weights(tmp_path):
    from problem2.predict import predict_files
    model = HeatmapNet()
    with torch.no_grad():
        model.final.bias.fill_(float("nan"))
    torch.save(model.state_dict(), tmp_path / "nan_model.pth")
    Image.fromarray(render_figure(np.array([[64, 44], [44, 64], [84, 64], [50, 100], [78, 100]]))).save(tmp_path / "x.png")
    with pytest.raises(UserError, match="non-finite outputs"):
        predict_files(tmp_path / "nan_model.pth", tmp_path / "x.png", tmp_path / "out", overlays=False)
    assert not (tmp_path / "out" / "predictions.json").exists()


def test_keypoints_listed_in_another_order_are_matched_by_name(tiny_data, tmp_path):
    data = json.loads((tiny_data / "train_annotations.json").read_text())
    order = [4, 3, 2, 1, 0]
    data["keypoint_names"] = [data["keypoint_names"][k] for k in order]
    for record in data["images"]:
        record["keypoints"] = [record["keypoints"][k] for k in order]
    (tmp_path / "reversed.json").write_text(json.dumps(data))
    as_given = KeypointDataset(tiny_data / "train", tiny_data / "train_annotations.json")
    reversed_ = KeypointDataset(tiny_data / "train", tmp_path / "reversed.json")
    assert reversed_.keypoint_names == as_given.keypoint_names
    assert np.array_equal(reversed_.keypoints, as_given.keypoints)


def test_train_and_val_naming_other_keypoints_are_refused(tiny_data, tmp_path):
    for split in ("train", "val"):
        data = json.loads((tiny_data / f"{split}_annotations.json").read_text())
        if split == "val":
            data["keypoint_names"][0] = "nose"
        (tmp_path / f"{split}_annotations.json").write_text(json.dumps(data))
        (tmp_path / split).symlink_to(tiny_data / split)
    with pytest.raises(DatasetError, match="the train split names keypoints .* but val names"):
        make_loaders(tmp_path, "heatmap", 8)


# ---------------------------------------------------------------- every file of a run directory is read through one check

def interrupted_run(tiny_data, out):
    """A heatmap run stopped after its first epoch: NAME_last.pth, the best model, snapshots and the log."""
    class StopAfterFirst(Exception):
        pass

    def stop(entry):
        raise StopAfterFirst
    cfg = TrainConfig(epochs=3, batch_size=8, snapshot_epochs=(1,))
    with pytest.raises(StopAfterFirst):
        train_run(HeatmapNet(), *make_loaders(tiny_data, "heatmap", 8), cfg, out, "heatmap", progress=False, on_epoch=stop)
    return cfg


@pytest.mark.parametrize("name, damage, message", [
    ("heatmap_last.pth", lambda p: p.write_bytes(p.read_bytes()[:100]), r"heatmap_last.pth is not readable .*delete it"),
    ("heatmap_snapshots.pt", lambda p: p.write_bytes(b"garbage"), r"heatmap_snapshots.pt is not readable"),
    ("training_log.json", lambda p: p.write_text(json.dumps({"models": {"heatmap": {"epochs": []}}})),
     r"training_log.json: models.heatmap.model is missing \(hand-edited, or written by another version\?"),
])
def test_a_damaged_run_file_is_named_with_the_way_out(tiny_data, tmp_path, name, damage, message):
    cfg = interrupted_run(tiny_data, tmp_path)
    damage(tmp_path / name)
    with pytest.raises(UserError, match=message):
        train_run(HeatmapNet(), *make_loaders(tiny_data, "heatmap", 8), cfg, tmp_path, "heatmap", progress=False)


def test_a_sidecar_whose_config_does_not_fit_the_weights_is_named(tmp_path):
    from problem2.training.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "heatmap_model.pth", HeatmapNet(), 1, 0.1, {"train": {}, "train_data": {}})
    meta = json.loads((tmp_path / "heatmap_model.json").read_text())
    meta["model_config"]["heatmap_size"] = 128  # a hand edit: another decoder depth than the weights have
    (tmp_path / "heatmap_model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"its weights do not fit the HeatmapNet\(.*'heatmap_size': 128"):
        load_model(tmp_path / "heatmap_model.pth")


def test_a_hand_edited_logged_metric_is_caught_before_the_run_is_reused(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=8)
    loaders = make_loaders(tiny_data, "regression", 8)
    train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False)
    log = json.loads((tmp_path / "training_log.json").read_text())
    train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False)  # as logged: reused
    log["models"]["regression"]["epochs"][0]["val_pck@0.05"] += 0.5  # a better number, typed by hand
    (tmp_path / "training_log.json").write_text(json.dumps(log))
    with pytest.raises(UserError, match=r"records validation loss .* and PCK@0.05 .* for best epoch 1, but "
                                        r"regression_model.pth gives"):
        train_run(RegressionNet(), *loaders, cfg, tmp_path, "regression", progress=False)


def test_a_sidecar_without_the_model_class_is_named(tmp_path):
    from problem2.training.checkpoint import save_checkpoint
    save_checkpoint(tmp_path / "regression_model.pth", RegressionNet(), 1, 0.1, {"train": {}, "train_data": {}})
    meta = json.loads((tmp_path / "regression_model.json").read_text())
    del meta["model_class"]
    (tmp_path / "regression_model.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"regression_model.json: model_class is missing \(hand-edited"):
        load_model(tmp_path / "regression_model.pth")


def test_two_images_with_one_stem_get_two_overlays(tmp_path):
    from problem2.predict import overlay_name
    files = [tmp_path / "x.png", tmp_path / "x.jpg", tmp_path / "y.png"]
    assert [overlay_name(f, files) for f in files] == ["x.png.png", "x.jpg.png", "y.png"]
