"""The whole pipeline on a tiny configuration, and the committed report against its JSON."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from problem2.__main__ import main
from problem2.core.cli import UserError
from problem2.core.schema import REFERENCE_DIR as RESULTS_DIR
from problem2.pipeline import provenance
from problem2.pipeline.verify import stale_lines
from problem2.report.document import render_report
from problem2.report.readme import readme_summary
from problem2.studies.robustness import suite

ROOT = Path(__file__).resolve().parents[1]

DELIVERABLES = [
    "training_log.json", "heatmap_model.pth", "regression_model.pth", "metrics.json", "ablation.json",
    "ablation.md", "failure_cases.json", "studies.json", "pipeline.json", "REPORT.md", "bench_train.json",
    "visualizations/pck_curves.png", "visualizations/heatmap_training_stages.png",
    "visualizations/sample_predictions.png", "visualizations/training_curves.png",
    "visualizations/ablation_sigma.png", "visualizations/ablation_heatmap_resolution.png",
    "visualizations/ablation_skip_connections.png", "visualizations/failures_both_fail.png",
    "visualizations/hand_ambiguity.png", "visualizations/seeds_pck.png", "visualizations/regression_variants.png",
    "visualizations/ambiguity_ceiling.png", "diagnosis.json", "visualizations/axis_scatter.png",
    "robustness.json", "visualizations/robustness.png", "visualizations/robustness_examples.png",
    "data_efficiency.json", "visualizations/learning_curves.png",
    "visualizations/failures_heatmap_localisation.png", "ablation_seeds.json",
]


def test_quick_pipeline_end_to_end(tmp_path, capsys):
    args = ["all", "--quick", "--quick-images", "16", "--epochs", "1", "--results", str(tmp_path), "--no-progress",
            "--keep-checkpoints"]
    main(args)
    missing = [f for f in DELIVERABLES if not (tmp_path / f).exists()]
    assert not missing
    report = (tmp_path / "REPORT.md").read_text()
    assert report == render_report(tmp_path)
    assert "A `--quick` smoke test" in report.split("## 1. The answer")[0]  # said before any number
    for section in ("## 1. The answer", "**Why.**", "**Caveats.**", "## 2. Main comparison",
                    "## 3. Why: RegressionNet does not see", "## 4. Representation or architecture?", "## 5. Ablations",
                    "## 6. Failure cases", "## 7. Beyond the training distribution", "## 8. Limits",
                    "**Where x is lost: linear probes.**",
                    "**Label swaps or localisation failures?**", "*mean pose (train mean, ignores the image)*",
                    "## Appendices", "### Label ambiguity", "**Occlusion, by keypoint**",
                    ". How much data each approach needs", "- **Regression with 250 images**",
                    ". What makes direct regression fail"):
        assert section in report
    details = (tmp_path / "RUN_DETAILS.md").read_text()  # reproduction, cost and speed: beside the report
    assert all(f"\n## {title}\n" in details for title in ("Reproduce", "Cost", "Training speed and the fast path"))
    assert "{§" not in report  # every section number and cross-reference resolved
    seeded = json.loads((tmp_path / "ablation_seeds.json").read_text())
    assert seeded["seeds"] == [0] and all(r["summary"]["pck@0.05"][2] == 1 for rows in seeded["ablations"].values()
                                          for r in rows)  # --quick: one seed, every setting trained and scored
    assert (tmp_path / "runs" / "ablation_res128_sigma4" / "test_predictions.json").exists()
    robust = json.loads((tmp_path / "robustness.json").read_text())  # --quick: the strongest setting of each family
    assert [r["family"] for r in robust["rows"]][:3] == ["clean", "off-centre figure", "shift"]
    assert len(robust["rows"]) == 1 + len({p.family for p in suite()})
    precision = json.loads((tmp_path / "studies.json").read_text())["precision"]
    assert sorted((r["group"], r["seed"], r["model"]) for r in precision["rows"]) == sorted(
        (g, seed, m) for g, seeds in (("fast", (0, 1, 2)), ("fp32", (0, 1))) for seed in seeds
        for m in ("heatmap", "regression"))
    assert {r["precision"] for r in precision["rows"] if r["group"] == "fp32"} == {"fp32"}
    bench = json.loads((tmp_path / "bench_train.json").read_text())
    assert bench["HeatmapNet"]["speedup"] == pytest.approx(
        bench["HeatmapNet"]["project_img_per_s"] / bench["HeatmapNet"]["plain_fp32_img_per_s"])
    factorial = json.loads((tmp_path / "factorial.json").read_text())  # --quick: the corner cells and HeatmapNet
    assert {c["name"]: len(c["runs"]) for c in factorial["cells"]["last_epoch"] if c["runs"]} == {
        "spec": 1, "readout+dropout+schedule+field": 1, "HeatmapNet": 1}
    images = re.findall(r"\]\((visualizations/[^)]+)\)", report)
    assert images and all((tmp_path / p).exists() for p in images)
    capsys.readouterr()
    main(args + ["--only", "evaluate"])  # a second run reuses a finished stage (one stage: the suite's time)
    out = capsys.readouterr().out
    assert "== evaluate: unchanged, reused" in out
    assert "estimate: 0 s of work left" in out  # a stage it will reuse and finished trainings cost nothing
    # provenance: every stage recorded what it read; a changed stored prediction makes its readers stale
    assert stale_lines(tmp_path) == []
    curve_inputs = provenance.load(tmp_path)["stages"]["data_efficiency"]["inputs"]
    assert {"runs/data125_heatmap/test_predictions.json", "runs/steps2x_regression/test_predictions.json",
            "runs/data250_regression/training_log.json"} <= set(curve_inputs)
    path = tmp_path / "runs" / "seed1_regression" / "test_predictions.json"
    path.write_text(path.read_text().replace("[", "[ ", 1))
    stale = {s.file for s in provenance.stale_files(tmp_path)}
    assert {"studies.json", "REPORT.md"} <= stale and "metrics.json" not in stale
    # --trained-only records a stage from the runs already trained: a missing run is left missing, not trained
    from problem2.studies.factorial import ALL, factorial_run
    shutil.rmtree(tmp_path / "runs" / factorial_run(ALL))
    main(args + ["--only", "factorial", "--trained-only"])
    assert not (tmp_path / "runs" / factorial_run(ALL)).exists()
    factorial = json.loads((tmp_path / "factorial.json").read_text())
    assert {c["name"] for c in factorial["cells"]["last_epoch"] if c["runs"]} == {"spec", "HeatmapNet"}


def test_plan_only_prints_the_estimate_and_trains_nothing(tmp_path, capsys):
    main(["all", "--quick", "--quick-images", "16", "--results", str(tmp_path), "--plan-only", "--only", "evaluate"])
    out = capsys.readouterr().out
    assert re.search(r"estimate: .* of work left of .* \(2 trainings: ", out) and "nothing trained" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # --quick data only: no runs, JSON or report


def test_committed_report_matches_committed_json():
    if not (RESULTS_DIR / "REPORT.md").exists() or not (RESULTS_DIR / "metrics.json").exists():
        pytest.skip("no committed reference run")
    assert (RESULTS_DIR / "REPORT.md").read_text() == render_report(RESULTS_DIR)


def test_the_reference_run_doc_comes_from_the_committed_results():
    """docs/reference_run.md (reproduction, cost, speed: once REPORT.md's last appendices) is what the reference's
    files render, without section marks; REPORT.md no longer holds those sections."""
    if not (RESULTS_DIR / "pipeline.json").exists():
        pytest.skip("no committed reference run")
    from problem2.report.document import REFERENCE_RUN_DOC, render_reference_run
    text = render_reference_run(RESULTS_DIR)
    assert REFERENCE_RUN_DOC.read_text() == text
    assert "\n## Reproduce\n" in text and "\n## Training speed and the fast path\n" in text and "{§" not in text
    assert "Training speed and the fast path" not in (RESULTS_DIR / "REPORT.md").read_text()


def test_readme_numbers_come_from_the_committed_results():
    if not (RESULTS_DIR / "metrics.json").exists():
        pytest.skip("no committed reference run")
    readme = (RESULTS_DIR.parents[1] / "README.md").read_text()
    assert readme_summary(RESULTS_DIR) in readme


def test_default_commands_in_a_clone_leave_git_status_clean(tiny_data, tmp_path):
    """The library's training functions and the CLIs with their default output locations, in a clone of this
    working tree: nothing tracked changes, and the quick pipeline reports its estimate, total and size."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:  # this working tree as it is, committed in the clone
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    git = lambda *a: subprocess.run(["git", *a], cwd=clone, capture_output=True, text=True, check=True).stdout  # noqa: E731
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "working tree")
    env = {**os.environ, "PYTHONPATH": str(clone)}
    run = lambda *a: subprocess.run([sys.executable, *a], cwd=clone, env=env, capture_output=True, text=True,  # noqa: E731
                                    timeout=600)
    library = run("-c", "from problem2.train import make_loaders, train_regression_model\n"
                        "from problem2.models.networks import RegressionNet\n"
                        f"train_regression_model(RegressionNet(), *make_loaders({str(tiny_data)!r}, 'regression', 8),"
                        " num_epochs=1)")
    assert library.returncode == 0, library.stderr
    for argv in (["-m", "problem2.train", "--data-dir", str(tiny_data), "--epochs", "1", "--models", "heatmap"],
                 ["-m", "problem2.evaluate", "--data-dir", str(tiny_data)]):
        done = run(*argv)
        assert done.returncode == 0, done.stderr
    quick = run("-m", "problem2", "all", "--quick", "--quick-images", "16", "--epochs", "1", "--no-progress",
                "--only", "evaluate,ablations")  # every stage is covered by test_quick_pipeline_end_to_end
    assert quick.returncode == 0, quick.stderr
    assert git("status", "--porcelain") == ""
    out = quick.stdout
    assert "output directory: outputs/quick" in out and "estimate:" in out and "reproduction against" in out
    size_mb = float(re.search(r"output ([\d.]+) MB in outputs/quick", out).group(1))
    assert size_mb < 20 and not list((clone / "outputs" / "quick").glob("runs/*/*.pth"))
    assert (clone / "outputs" / "reproduction" / "regression_model.pth").exists()
    assert (clone / "outputs" / "evaluate" / "metrics.json").exists()


def test_the_default_tier_plans_the_deliverables_only(tiny_data, tmp_path, capsys):
    """bash scripts/reproduce.sh without options: the main pair and the six single-seed ablation runs, nothing else."""
    main(["all", "--plan-only", "--data-dir", str(tiny_data), "--results", str(tmp_path / "out"), "--epochs", "1",
          "--no-progress"])
    out = capsys.readouterr().out
    assert "tier: deliverables" in out and "stages: evaluate, ablations, failures" in out
    assert "(8 trainings" in out and not (tmp_path / "out" / "runs").exists()
    with pytest.raises(UserError, match="two tiers"):
        main(["all", "--quick", "--full", "--plan-only"])


def test_committed_report_reads_in_ten_minutes():
    """The main part (every word before the Appendices heading, tables included) holds at most 3,000 words and
    opens with the answer; no section number is typed in the report's code (they are computed)."""
    if not (RESULTS_DIR / "REPORT.md").exists():
        pytest.skip("no committed reference run")
    main_part = (RESULTS_DIR / "REPORT.md").read_text().split("\n## Appendices\n")[0]
    assert len(main_part.split()) <= 3000
    first = re.search(r"^## (.+)$", main_part, re.M).group(1)
    assert first == "1. The answer"
    code = "".join(p.read_text() for p in (ROOT / "problem2" / "report").glob("*.py"))
    assert not re.findall(r"\b[Ss]ection \d|\b[Aa]ppendix [A-Z]\b", code)


def test_refresh_recomputes_a_stage_whose_inputs_did_not_change(tmp_path):
    """A stage is reused while its inputs and settings are unchanged; --refresh (Pipeline(refresh=...)) runs it
    again, for a change to the study's code that provenance cannot see."""
    from problem2.core import storage
    from problem2.pipeline.plan import Pipeline
    calls = []

    def stage():
        calls.append(1)
        storage.save_json({"calls": len(calls)}, tmp_path / "bench_sweep.json")
    for refresh in ((), (), ("bench",)):
        Pipeline(tmp_path, {}, refresh=refresh).stage("bench", stage, {})
    assert len(calls) == 2 and storage.load_json(tmp_path / "bench_sweep.json") == {"calls": 2}
