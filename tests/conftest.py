"""Shared fixtures: a tiny generated dataset, the course-file fixtures and the full course set when present."""
from pathlib import Path

import pytest
import torch

from problem2.data.generate import generate_dataset

ROOT = Path(__file__).resolve().parents[1]
COURSE_FIXTURE = ROOT / "tests" / "fixtures" / "ee641_sample"
COURSE_DATA = ROOT.parent / "shared" / "ee641_keypoints"

torch.set_num_threads(2)


def log_entry(epochs: int, done: int | None = None, best: int = 1) -> dict:
    """A run's entry in training_log.json, of the shape Run.log writes (run_files.LOG_ENTRY): `done` of `epochs`
    epochs logged (all by default); the numbers no test reads are placeholders."""
    logged = [{"epoch": e, "train_loss": 1.0, "val_loss": 1.0, "val_mean_px": 1.0, "val_pck@0.05": 0.0}
              for e in range(1, (epochs if done is None else done) + 1)]
    return {"model": "RegressionNet", "model_config": {}, "config": {"epochs": epochs}, "data": {},
            "best_epoch": best, "best_val_loss": 1.0, "epochs": logged}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """Generated data in the course layout: 24 train, 12 val, 12 test images (seed 641)."""
    root = tmp_path_factory.mktemp("tiny")
    return generate_dataset(root, seed=641, sizes={"train": 24, "val": 12, "test": 12}, progress=False)


@pytest.fixture
def course_data() -> Path:
    if not (COURSE_DATA / "train_annotations.json").exists():
        pytest.skip("the course dataset is not at ../shared/ee641_keypoints")
    return COURSE_DATA
