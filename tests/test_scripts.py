"""The assignment's modules also run as scripts from inside problem2/ (cd problem2 && python train.py)."""
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "problem2"


@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "baseline.py"])
def test_script_help_from_inside_the_package(script):
    out = subprocess.run([sys.executable, script, "--help"], cwd=PACKAGE, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout and "--" in out.stdout


def test_model_summary_command():
    out = subprocess.run([sys.executable, "-m", "problem2.model"], cwd=PACKAGE.parent, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HeatmapNet" in out.stdout and "1,240,901 parameters" in out.stdout


def test_training_runs_under_python_OO(tiny_data, tmp_path):
    """No behaviour depends on docstrings (python -OO strips them)."""
    out = subprocess.run([sys.executable, "-OO", "-m", "problem2.train", "--data-dir", str(tiny_data), "--out",
                          str(tmp_path), "--models", "regression", "--epochs", "2", "--batch-size", "8"],
                         cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "regression: best epoch" in out.stdout and (tmp_path / "regression_model.pth").exists()
