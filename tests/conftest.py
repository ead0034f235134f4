"""Shared fixtures: a tiny generated dataset, the course-file fixtures and the full course set when present."""
from pathlib import Path

import pytest
import torch

from problem2.data.generate import generate_dataset

ROOT = Path(__file__).resolve().parents[1]
COURSE_FIXTURE = ROOT / "tests" / "fixtures" / "ee641_sample"
COURSE_DATA = ROOT.parent / "shared" / "ee641_keypoints"

torch.set_num_threads(2)


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
