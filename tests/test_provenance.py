"""Provenance: what each stage read and wrote, `verify`, and the committed reference held to it."""
import json

import pytest

from problem2.core import storage
from problem2.core.cli import UserError
from problem2.pipeline import provenance, verify
from problem2.pipeline.plan import run_stage
from problem2.pipeline.verify import main as verify_main
from problem2.pipeline.verify import stale_lines


def toy_results(root):
    """evaluate reads a run's log and writes metrics.json; report reads metrics.json and writes REPORT.md."""
    storage.save_json({"models": {"heatmap": {"best_epoch": 3}}}, root / "training_log.json")
    run_stage(root, "evaluate", lambda: storage.save_json(
        {"best": storage.load_json(root / "training_log.json")["models"]["heatmap"]["best_epoch"]},
        root / "metrics.json"), {"epochs": 30})
    run_stage(root, "report", lambda: storage.save_text(f"best {storage.load_json(root / 'metrics.json')['best']}",
                                                        root / "REPORT.md"), {})
    return root


def test_a_stage_records_the_hash_of_what_it_read_and_wrote(tmp_path):
    toy_results(tmp_path)
    stages = json.loads((tmp_path / "provenance.json").read_text())["stages"]
    assert stages["evaluate"]["inputs"] == {"training_log.json": provenance.sha256(tmp_path / "training_log.json")}
    assert stages["evaluate"]["outputs"] == {"metrics.json": provenance.sha256(tmp_path / "metrics.json")}
    assert stages["report"]["inputs"] == {"metrics.json": provenance.sha256(tmp_path / "metrics.json")}
    assert stages["evaluate"]["settings"] == {"epochs": 30}
    assert provenance.stale_files(tmp_path) == []
    assert provenance.stage_is_current(tmp_path, "evaluate", {"epochs": 30})
    assert not provenance.stage_is_current(tmp_path, "evaluate", {"epochs": 2})  # other settings: computed again


def test_a_changed_input_makes_its_stage_and_everything_downstream_stale(tmp_path):
    toy_results(tmp_path)
    storage.save_json({"models": {"heatmap": {"best_epoch": 4}}}, tmp_path / "training_log.json")  # a retrain
    stale = {s.file: s.reason for s in provenance.stale_files(tmp_path)}
    assert stale == {"metrics.json": "its input training_log.json changed", "REPORT.md": "its input metrics.json is stale"}
    lines = stale_lines(tmp_path)
    assert lines[0] == (f"stale: metrics.json (stage evaluate): its input training_log.json changed; refresh: "
                        f"python -m problem2 all --results {tmp_path} --only evaluate")


def test_a_hand_edited_output_and_a_missing_input_are_named(tmp_path):
    toy_results(tmp_path)
    (tmp_path / "metrics.json").write_text('{"best": 9}')
    assert {s.file: s.reason for s in provenance.stale_files(tmp_path)}["metrics.json"] == \
        "metrics.json was changed after the stage wrote it"
    toy_results(tmp_path)
    (tmp_path / "training_log.json").unlink()
    assert provenance.stale_files(tmp_path)[0].reason == "its input training_log.json is gone"


def test_an_output_without_a_record_is_stale(tmp_path):
    storage.save_json({}, tmp_path / "studies.json")
    storage.save_json({"stages": {}}, tmp_path / "provenance.json")
    assert [s.line().split(";")[0] for s in provenance.stale_files(tmp_path)] == \
        ["stale: studies.json (stage studies): studies.json has no provenance record"]


def toy_render(results):
    return f"best {storage.load_json(results / 'metrics.json')['best']}"


def test_verify_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(verify, "render_report", toy_render)  # the toy's report is rendered the toy's way
    with pytest.raises(UserError, match="has no provenance.json"):
        verify_main(["--results", str(tmp_path)])
    toy_results(tmp_path)
    verify_main(["--results", str(tmp_path)])
    assert "current (2 stages, 2 derived files" in capsys.readouterr().out
    (tmp_path / "REPORT.md").write_text("best 5")
    with pytest.raises(SystemExit) as done:
        verify_main(["--results", str(tmp_path)])
    assert done.value.code == 1 and "stale: REPORT.md (stage report)" in capsys.readouterr().out


def test_a_hand_edited_report_is_named_even_with_its_hash_edited_to_match(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "render_report", toy_render)
    toy_results(tmp_path)
    assert stale_lines(tmp_path) == []
    (tmp_path / "REPORT.md").write_text("best 5")  # the number edited by hand ...
    record = json.loads((tmp_path / "provenance.json").read_text())
    record["stages"]["report"]["outputs"]["REPORT.md"] = provenance.sha256(tmp_path / "REPORT.md")  # ... and its hash
    (tmp_path / "provenance.json").write_text(json.dumps(record))
    assert provenance.stale_files(tmp_path) == []  # the hashes alone no longer see it
    assert stale_lines(tmp_path) == [f"stale: REPORT.md: it differs from a fresh render of the files it is made "
                                     f"from; refresh: python -m problem2 report --results {tmp_path}"]


def test_an_edited_pipeline_json_makes_the_report_stale(tmp_path):
    storage.save_json({"environment": {"cpu_threads": 2}}, tmp_path / "pipeline.json")
    run_stage(tmp_path, "report", lambda: storage.save_text(
        str(storage.load_json(tmp_path / "pipeline.json")["environment"]["cpu_threads"]), tmp_path / "REPORT.md"), {})
    assert "pipeline.json" in provenance.load(tmp_path)["stages"]["report"]["inputs"]
    storage.save_json({"environment": {"cpu_threads": 64}}, tmp_path / "pipeline.json")
    assert [s.reason for s in provenance.stale_files(tmp_path)] == ["its input pipeline.json changed"]


def test_a_checkpoint_not_kept_is_vouched_for_by_its_runs_log(tmp_path):
    run = tmp_path / "runs" / "side_regression"
    storage.save_json({"models": {"regression": {"best_epoch": 3}}}, run / "training_log.json")
    storage.save_torch({"w": 1}, run / "regression_model.pth")
    def diagnosis():  # loads the run's checkpoint (checkpoint.load_checkpoint reports the read the same way)
        storage.traced("read", run / "regression_model.pth")
        storage.save_json({}, tmp_path / "diagnosis.json")
    run_stage(tmp_path, "diagnosis", diagnosis, {})
    inputs = provenance.load(tmp_path)["stages"]["diagnosis"]["inputs"]
    assert set(inputs) == {"runs/side_regression/regression_model.pth", "runs/side_regression/training_log.json"}
    (run / "regression_model.pth").unlink()  # as in a clone: checkpoints of most runs are not committed
    assert provenance.stale_files(tmp_path) == []
    storage.save_json({"models": {"regression": {"best_epoch": 4}}}, run / "training_log.json")  # retrained
    assert provenance.stale_files(tmp_path)[0].reason.startswith("its input runs/side_regression/training_log.json "
                                                                  "changed")


def test_run_records_that_no_stage_reads_are_named(tmp_path):
    from problem2.pipeline.verify import unread_run_files
    read = tmp_path / "runs" / "ablation_sigma1" / "test_predictions.json"
    unread = tmp_path / "runs" / "axis_regression_flatten" / "test_predictions.json"
    pending = tmp_path / "runs" / "factor_pool_do50_const_rf46" / "test_predictions_last.json"  # its stage: not yet
    for path in (read, unread, pending):
        storage.save_json({}, path)
    storage.save_torch({}, tmp_path / "regression_snapshots.pt")
    run_stage(tmp_path, "ablations", lambda: storage.load_json(read), {})
    run_stage(tmp_path, "diagnosis", lambda: None, {})  # records no read of the flatten run's predictions
    assert unread_run_files(tmp_path) == ["regression_snapshots.pt", "runs/axis_regression_flatten/test_predictions.json"]


def test_a_last_epoch_checkpoint_not_kept_is_vouched_for_by_its_runs_log(tmp_path):
    # the factorial reads each run's last-epoch checkpoint sidecar; --quick then prunes it: the log stands in
    run = tmp_path / "runs" / "factor_heatmap"
    storage.save_json({"models": {"heatmap": {"best_epoch": 3}}}, run / "training_log.json")
    storage.save_json({"epoch": 30}, run / "heatmap_final.json")
    run_stage(tmp_path, "factorial", lambda: (storage.load_json(run / "training_log.json"),
                                              storage.load_json(run / "heatmap_final.json")), {})
    (run / "heatmap_final.json").unlink()
    assert provenance.stale_files(tmp_path) == []
