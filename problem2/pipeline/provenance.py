"""Where each derived result came from, and whether it is still current.

A stage (STAGES, in pipeline order) is one analysis step of `python -m problem2 all`: it reads run logs,
checkpoints, stored predictions and other stages' files in RESULTS, and writes files there. While it runs,
storage.trace_files sees every file the project's readers and writers touch; `record` then stores in
RESULTS/provenance.json, for that stage, the SHA-256 of each results file it read ('missing' for one it looked
for and did not find), of each file it wrote, its settings, and the SHA-256 of the data's annotation files.

A stage is current when each file it wrote still has its recorded hash, and each file it read still has its
recorded hash and is not the output of a stale stage. The pipeline reuses a stage only when it is current with
the same settings; `python -m problem2 verify` (verify.py) prints every stale file with the command that
refreshes it.

Run files (training logs, checkpoints and their sidecars, stored test predictions) are the primary record of
the trainings: a stage that writes one (a run trained or scored on demand) does not own it; reading it makes it
an input like any other. Most runs' checkpoints are not kept (not committed): a checkpoint input that is gone is
vouched for by its run's training log, recorded beside it; a retrain rewrites the log, so it still makes the
stage stale.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from problem2.core import storage
from problem2.core.schema import REFERENCE_DIR
from problem2.core.shapes import DictOf, check

PROVENANCE_FILE = "provenance.json"
UNTRACKED_READS = (PROVENANCE_FILE,)  # bookkeeping: never a stage's input (pipeline.json is the report's)
RUN_FILE_SUFFIXES = ("training_log.json", "_model.pth", "_model.json", "_last.pth", "_final.pth", "_final.json",
                     "_snapshots.pt", "test_predictions.json", "test_predictions_last.json", ".lock")
MISSING = "missing"
LOG_NAME = "training_log.json"
CHECKPOINT_SUFFIXES = ("_model.pth", "_model.json", "_final.pth", "_final.json")


@dataclass(frozen=True)
class Stage:
    """One analysis stage: its name (as in `all --only`) and the files it must leave in RESULTS (figures and
    other files it writes are found by tracing)."""
    name: str
    outputs: tuple

    def refresh_command(self, results: Path) -> str:
        """The command that recomputes this stage in `results`."""
        reference = Path(results).resolve() == REFERENCE_DIR.resolve()
        if self.name == "report":
            return "python -m problem2 report " + ("--update-reference" if reference else f"--results {results}")
        target = "--update-reference" if reference else f"--results {results}"
        return f"python -m problem2 all {target} --only {self.name}"


STAGES = (  # pipeline order: a stage reads only what the stages before it (and the trainings) wrote
    Stage("evaluate", ("metrics.json",)),
    Stage("ablations", ("ablation.json", "ablation_seeds.json")),
    Stage("failures", ("failure_cases.json",)),
    Stage("diagnosis", ("diagnosis.json",)),
    Stage("robustness", ("robustness.json",)),
    Stage("data_efficiency", ("data_efficiency.json",)),
    Stage("studies", ("studies.json",)),
    Stage("heads", ("heads.json",)),
    Stage("factorial", ("factorial.json", "interventions.json", "course_ends.json")),
    Stage("bench", ("bench_train.json",)),
    Stage("course_eval", ("course_eval/metrics.json",)),
    Stage("report", ("REPORT.md",)),
)
STAGE_BY_NAME = {s.name: s for s in STAGES}
ANALYSIS_STAGES = tuple(s.name for s in STAGES if s.name != "report")  # what `all --only` accepts


def sha256(path: Path) -> str:
    """The file's SHA-256, or 'missing'."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else MISSING


def is_run_file(path: Path) -> bool:
    return path.name.endswith(RUN_FILE_SUFFIXES)


def is_checkpoint(path) -> bool:
    """A checkpoint or its sidecar (the best: NAME_model.pth / .json; the last epoch's: NAME_final.pth / .json)."""
    return Path(path).name.endswith(CHECKPOINT_SUFFIXES)


def data_hashes(data_dir: Path | None) -> dict:
    """{annotation file name: SHA-256} of a course-layout data directory (the images are drawn from them)."""
    if data_dir is None:
        return {}
    return {p.name: sha256(p) for p in sorted(Path(data_dir).glob("*_annotations.json"))}


PROVENANCE = {"stages": DictOf({"settings": dict, "data": DictOf(str), "inputs": DictOf(str),
                                "outputs": DictOf(str)})}  # provenance.json, as record writes it


def load(results: Path) -> dict:
    """RESULTS/provenance.json: {'stages': {name: record}} (empty when none was recorded); FileFormatError naming
    the file and the field when it has another shape."""
    path = Path(results) / PROVENANCE_FILE
    data = storage.load_json(path)
    return {"stages": {}} if data is None else {"stages": check(data, PROVENANCE, path)["stages"]}


def record(results: Path, stage: str, settings: dict, trace: dict, data_dir: Path | None = None,
           seconds: float | None = None) -> dict:
    """Store what `stage` read and wrote (a storage.trace_files trace) in RESULTS/provenance.json."""
    if stage not in STAGE_BY_NAME:
        raise ValueError(f"unknown stage {stage!r}; stages: {list(STAGE_BY_NAME)}")
    root = Path(results).resolve()
    inside = lambda paths: {p for p in paths if p.is_relative_to(root)}  # noqa: E731
    owned = {p for p in inside(trace["write"]) if not is_run_file(p) and p.name != PROVENANCE_FILE}
    inputs = {p for p in inside(trace["read"]) - owned if p.name not in UNTRACKED_READS}
    inputs |= {p.with_name(LOG_NAME) for p in inputs if is_checkpoint(p)}  # what vouches for a checkpoint not kept
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    entry = {"settings": json.loads(json.dumps(settings or {}, default=str)),
             "data": data_hashes(data_dir),
             "inputs": {rel(p): sha256(p) for p in sorted(inputs)},
             "outputs": {rel(p): sha256(p) for p in sorted(owned)},
             "seconds": seconds, "recorded": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    state = load(root)
    for other in state["stages"].values():  # a file belongs to the stage that wrote it last
        for name in entry["outputs"]:
            other["outputs"].pop(name, None)
    state["stages"][stage] = entry
    state["stages"] = {s.name: state["stages"][s.name] for s in STAGES if s.name in state["stages"]}
    storage.save_json({"schema": "{'stages': {stage: {settings, data, inputs: {file: sha256}, outputs: "
                                 "{file: sha256}, seconds, recorded}}}; files relative to this directory",
                       **state}, root / PROVENANCE_FILE)
    return entry


@dataclass
class StaleFile:
    file: str      # relative to RESULTS
    stage: str
    reason: str
    refresh: str

    def line(self) -> str:
        return f"stale: {self.file} (stage {self.stage}): {self.reason}; refresh: {self.refresh}"


def stale_files(results: Path) -> list[StaleFile]:
    """Every file of a stale stage in `results`, with the first reason found, in pipeline order."""
    results = Path(results)
    records = load(results)["stages"]
    reasons, owner = {}, {f: name for name, r in records.items() for f in r["outputs"]}
    for stage in STAGES:
        record_ = records.get(stage.name)
        if record_ is None:
            present = [o for o in stage.outputs if (results / o).exists()]
            if present:
                reasons[stage.name] = (present, f"{present[0]} has no provenance record")
            continue
        reason = _stage_reason(results, record_, {f for f, s in owner.items() if s in reasons})
        if reason:
            reasons[stage.name] = (list(record_["outputs"]) or list(stage.outputs), reason)
    return [StaleFile(f, name, reason, STAGE_BY_NAME[name].refresh_command(results))
            for name, (files, reason) in reasons.items() for f in files]


def _stage_reason(results: Path, entry: dict, stale_outputs: set) -> str | None:
    for name, digest in entry["outputs"].items():
        now = sha256(results / name)
        if now != digest:
            return f"{name} is missing" if now == MISSING else f"{name} was changed after the stage wrote it"
    for name, digest in entry["inputs"].items():
        if name in stale_outputs:
            return f"its input {name} is stale"
        now = sha256(results / name)
        if now == MISSING and is_checkpoint(name) and (Path(name).parent / LOG_NAME).as_posix() in entry["inputs"]:
            log = (Path(name).parent / LOG_NAME).as_posix()  # most runs' checkpoints are not kept: the log stands in
            if _vouched(results, entry, name):
                continue
            return f"its input {log} changed (the run whose checkpoint it read was trained again)"
        if now != digest:
            return (f"its input {name} changed" if MISSING not in (now, digest)
                    else f"its input {name} is {'gone' if now == MISSING else 'there now'}")
    return None


def _vouched(results: Path, entry: dict, checkpoint: str) -> bool:
    """True when the log of the run a missing checkpoint belonged to was recorded and is unchanged."""
    log = (Path(checkpoint).parent / LOG_NAME).as_posix()
    return log in entry["inputs"] and sha256(results / log) == entry["inputs"][log] != MISSING


def stage_is_current(results: Path, stage: str, settings: dict, data_dir: Path | None = None) -> bool:
    """True when `stage` was recorded with these settings and data, and nothing it read or wrote has changed
    since (the pipeline then reuses it)."""
    entry = load(results)["stages"].get(stage)
    if entry is None or entry["settings"] != json.loads(json.dumps(settings or {}, default=str)):
        return False
    if data_dir is not None and entry["data"] != data_hashes(data_dir):
        return False
    return not any(s.stage == stage for s in stale_files(results))


def data_changes(results: Path, data_dir: Path) -> list[str]:
    """Stages whose recorded data hashes differ from `data_dir`'s annotation files."""
    now = data_hashes(data_dir)
    return [name for name, entry in load(results)["stages"].items() if entry["data"] and entry["data"] != now]
