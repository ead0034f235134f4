"""A training command cut by SIGINT, SIGTERM, SIGKILL or a failed write leaves consistent files, says how to
resume, and the resumed run ends with the weights of an uninterrupted one."""
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from problem2.experiments.registry import RunSpec
from problem2.experiments.runner import run_training
from problem2.train import main as train_main
from problem2.training.loop import TrainConfig
from problem2.training.run_files import RunDirectoryError

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8


def command(tiny_data, out):
    return [sys.executable, "-m", "problem2.train", "--data-dir", str(tiny_data), "--out", str(out),
            "--models", "heatmap", "--epochs", str(EPOCHS), "--batch-size", "8"]


def default_sigint() -> None:
    """In the child: Ctrl-C acts even when pytest itself runs as a background job (which ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def logged_epochs(out: Path) -> int:
    try:
        return len(json.loads((out / "training_log.json").read_text())["models"]["heatmap"]["epochs"])
    except (OSError, ValueError, KeyError):
        return 0


def weights(out: Path) -> dict:
    return torch.load(out / "heatmap_model.pth", weights_only=True)


@pytest.fixture(scope="module")
def uninterrupted(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    train_main(["--data-dir", str(tiny_data), "--out", str(out), "--models", "heatmap", "--epochs", str(EPOCHS),
                "--batch-size", "8"])
    return out


def assert_resumes_to(out: Path, tiny_data, reference: Path):
    done = subprocess.run(command(tiny_data, out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert logged_epochs(out) == EPOCHS and not (out / "heatmap_last.pth").exists()
    ours, theirs = weights(out), weights(reference)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


@pytest.mark.parametrize("sig, status, name", [(signal.SIGINT, 130, "Ctrl-C"), (signal.SIGTERM, 143, "SIGTERM"),
                                               (signal.SIGKILL, -9, None)])
def test_signal_mid_run_then_resume(tiny_data, tmp_path, uninterrupted, sig, status, name):
    proc = subprocess.Popen(command(tiny_data, tmp_path), cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.time() + 120
    while logged_epochs(tmp_path) < 1 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(sig)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == status, err
    if name:
        assert f"interrupted ({name})" in err and "resume with: python -m problem2.train" in err
        assert "Traceback" not in err
    assert 1 <= logged_epochs(tmp_path) < EPOCHS  # cut mid-run, with at least one committed epoch
    assert not (tmp_path / ".lock").exists() or sig == signal.SIGKILL  # a killed process leaves a stale lock
    assert_resumes_to(tmp_path, tiny_data, uninterrupted)


def test_failed_write_names_the_file_and_the_rerun_completes(tiny_data, tmp_path, uninterrupted):
    limit = 8 * 2**20  # the resume state (weights + Adam moments) is ~15 MB: its first write fails

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    done = subprocess.run(command(tiny_data, tmp_path), cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=small_files)
    assert done.returncode == 1
    assert "file size limit reached while writing" in done.stderr and "heatmap_last.pth" in done.stderr
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    assert not (tmp_path / ".lock").exists()
    assert_resumes_to(tmp_path, tiny_data, uninterrupted)


def test_a_cut_between_commit_point_and_best_model_is_repaired(tiny_data, tmp_path, uninterrupted):
    """A crash right after epoch 2's resume state was written, before its best model was: the resumed run
    rewrites the best model from the commit point and ends like an uninterrupted run."""
    copies = {}

    def stop_after_two(entry):  # the best checkpoint as each epoch left it: weights and sidecar
        copies[entry["epoch"]] = [(tmp_path / f"heatmap_model.{ext}").read_bytes() for ext in ("pth", "json")]
        if entry["epoch"] == 2:
            raise KeyboardInterrupt
    spec = RunSpec("heatmap", "HeatmapNet", train=TrainConfig(epochs=EPOCHS, batch_size=8))
    with pytest.raises(KeyboardInterrupt):
        run_training(spec, tiny_data, tmp_path, progress=False, on_epoch=stop_after_two)
    assert torch.load(tmp_path / "heatmap_last.pth", weights_only=True)["state"]["best_epoch"] == 2
    for ext, data in zip(("pth", "json"), copies[1]):  # as if epoch 2's best-model write never happened
        (tmp_path / f"heatmap_model.{ext}").write_bytes(data)
    run_training(spec, tiny_data, tmp_path, progress=False)
    ours, theirs = weights(tmp_path), weights(uninterrupted)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_files_that_disagree_are_refused_with_the_mismatch_named(tiny_data, tmp_path, capsys):
    spec = RunSpec("heatmap", "HeatmapNet", train=TrainConfig(epochs=2, batch_size=8))
    first = {}
    files = [tmp_path / "heatmap_model.pth", tmp_path / "heatmap_model.json"]
    run_training(spec, tiny_data, tmp_path, progress=False,
                 on_epoch=lambda e: first.setdefault("bytes", [f.read_bytes() for f in files]))
    best = files[0].read_bytes()
    for f, data in zip(files, first["bytes"]):  # epoch 1's checkpoint beside a log that says 2
        f.write_bytes(data)
    with pytest.raises(RunDirectoryError, match=r"heatmap_model.pth holds epoch 1 but .*records best epoch 2"):
        run_training(spec, tiny_data, tmp_path, progress=False)
    files[1].write_bytes(b"{}")  # a sidecar that does not describe the weights
    with pytest.raises(RunDirectoryError, match=r"heatmap_model.pth holds no readable checkpoint but .*records "
                                                r"best epoch 2"):
        run_training(spec, tiny_data, tmp_path, progress=False)
    for f in files:  # a log without any checkpoint (as committed): trained again
        os.remove(f)
    run_training(spec, tiny_data, tmp_path, progress=False)
    assert "is not there: training it again" in capsys.readouterr().err
    assert (tmp_path / "heatmap_model.pth").read_bytes() == best
