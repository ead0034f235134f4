"""The result files typed at their top level (core.results.Sections), by name: each type lives beside the study
that writes the file."""
from __future__ import annotations

from pathlib import Path

from problem2.studies.bench import BenchTrain
from problem2.studies.bench_sweep import BenchSweep
from problem2.studies.diagnosis import Diagnosis
from problem2.studies.failures import FailureCases
from problem2.studies.gap import Studies

SECTION_FILES = {"studies.json": Studies, "diagnosis.json": Diagnosis, "failure_cases.json": FailureCases,
                 "bench_train.json": BenchTrain, "bench_sweep.json": BenchSweep}


def load_sections(results: Path, name: str):
    """RESULTS/name (a file of SECTION_FILES) typed, or None when the stage that writes it did not run."""
    return SECTION_FILES[name].load(Path(results) / name, missing_ok=True)
