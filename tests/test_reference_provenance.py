"""The committed reference held to its provenance: `verify` passes, and a changed input names its dependants."""
import json
import shutil

from problem2.core.schema import REFERENCE_DIR
from problem2.pipeline import provenance
from problem2.pipeline.verify import stale_lines


def test_the_committed_reference_is_current():
    assert stale_lines(REFERENCE_DIR) == []


def test_a_changed_seed_prediction_names_every_file_derived_from_it(tmp_path):
    copy = tmp_path / "results"
    shutil.copytree(REFERENCE_DIR, copy)
    path = copy / "runs" / "seed1_regression" / "test_predictions.json"
    stored = json.loads(path.read_text())
    stored["keypoints"]["argmax"][0][0][0] += 1.0
    path.write_text(json.dumps(stored))
    stale = {s.file for s in provenance.stale_files(copy)}
    readers = {f for e in provenance.load(copy)["stages"].values()
               if "runs/seed1_regression/test_predictions.json" in e["inputs"] for f in e["outputs"]}
    assert {"studies.json", "robustness.json", "REPORT.md"} <= stale  # the seed study, clean scores over seeds
    assert readers <= stale and "metrics.json" not in stale and "ablation.json" not in stale
