"""Is every derived file of a results directory current with the inputs it was computed from?

    python -m problem2 verify                      # the committed reference (and the README's results block)
    python -m problem2 verify --results outputs/reproduction

Exit 0 when every file a stage wrote still matches its recorded inputs (provenance.py); exit 1 with one line per
stale file, naming the input that changed and the command that refreshes it.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from problem2.core import cli
from problem2.core.schema import README, REFERENCE_DIR, REPO_DIR
from problem2.experiments.registry import run_dir
from problem2.pipeline import provenance
from problem2.pipeline.stage_runs import MAIN_PAIR, STAGE_RUNS
from problem2.report import document, readme
from problem2.report.document import render_report


def stale_lines(results: Path) -> list[str]:
    """One line per stale file of `results`, REPORT.md against a fresh render; for the reference, the README's
    results block, the data, and run records that nothing reads too."""
    results = Path(results)
    lines = [s.line() for s in provenance.stale_files(results)]
    records = provenance.load(results)["stages"]
    data_dirs = {e["settings"].get("data_dir") for e in records.values() if e["settings"].get("data_dir")}
    for data_dir in sorted(data_dirs):
        path = REPO_DIR / data_dir if not Path(data_dir).is_absolute() else Path(data_dir)
        if (path / "train_annotations.json").exists():  # generated data is not committed: checked when present
            for stage in provenance.data_changes(results, path):
                lines.append(f"stale: stage {stage}: the data in {data_dir} differs from the data it was computed "
                             f"on; refresh: {provenance.STAGE_BY_NAME[stage].refresh_command(results)}")
    report = results / "REPORT.md"
    if report.exists() and not any(line.startswith("stale: REPORT.md") for line in lines):
        lines += report_render_lines(results, report)
    if results.resolve() == REFERENCE_DIR.resolve():
        lines += [f"stale: {f}: no stage reads it; refresh: delete it, or record the stage that reads it"
                  for f in unread_run_files(results)]
    if results.resolve() == REFERENCE_DIR.resolve() and not readme.readme_is_current(README, results):
        lines.append("stale: README.md results block: it differs from what the reference's files give; "
                     "refresh: python -m problem2 report --update-reference")
    if results.resolve() == REFERENCE_DIR.resolve() and not document.reference_run_is_current(results):
        lines.append(f"stale: {document.REFERENCE_RUN_DOC.relative_to(REPO_DIR)}: it differs from what the "
                     "reference's files give; refresh: python -m problem2 report --update-reference")
    return lines


RUN_RECORDS = ("training_log.json", "test_predictions.json", "test_predictions_last.json", "_snapshots.pt")


def unread_run_files(results: Path) -> list[str]:
    """The run records kept in `results` (logs, stored predictions, snapshots) that no recorded stage read and that
    belong to no run of a stage still to be recorded: committed for nothing, so that nothing checks them."""
    stages = provenance.load(results)["stages"]
    read = {name for entry in stages.values() for name in entry["inputs"]}
    pending = {run_dir(r, results).relative_to(results).as_posix() for s in provenance.ANALYSIS_STAGES
               if s not in stages for r in STAGE_RUNS.get(s, lambda *a: [])((0, 1, 2), None, False)
               if r not in MAIN_PAIR}  # the main pair's records, beside every result, are always checked
    kept = [f for f in committed_files(results) if f.endswith(RUN_RECORDS)]
    return [f for f in kept if f not in read and Path(f).parent.as_posix() not in pending]


def committed_files(results: Path) -> list[str]:
    """Files under `results` (relative, sorted) that git tracks there; every file when it is not a git checkout."""
    results = Path(results)
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "."], cwd=results, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return sorted(p.relative_to(results).as_posix() for p in results.rglob("*") if p.is_file())
    return sorted(name for name in listed.decode().split("\0") if name)


def report_render_lines(results: Path, report: Path) -> list[str]:
    """REPORT.md against a fresh render of the files it is made from: catches a hand edit even when its recorded
    hash was edited to match."""
    refresh = provenance.STAGE_BY_NAME["report"].refresh_command(results)
    try:
        fresh = render_report(results)
    except cli.UserError as e:
        return [f"stale: REPORT.md: it cannot be rendered again from the files here ({e}); refresh: {refresh}"]
    if report.read_text() != fresh:
        return [f"stale: REPORT.md: it differs from a fresh render of the files it is made from; refresh: {refresh}"]
    return []


def main(argv=None):
    p = cli.Parser(description="Check that every derived file in a results directory is current.")
    p.add_argument("--results", type=cli.existing_dir, default=REFERENCE_DIR, help="results directory (default: the reference)")
    args = p.parse_args(argv)
    if not (args.results / provenance.PROVENANCE_FILE).exists():
        raise cli.UserError(f"{args.results} has no {provenance.PROVENANCE_FILE}: nothing records what its files "
                            f"were computed from (run python -m problem2 all --results {args.results})")
    lines = stale_lines(args.results)
    for line in lines:
        print(line)
    stages = provenance.load(args.results)["stages"]
    files = sum(len(e["outputs"]) for e in stages.values())
    if lines:
        print(f"{len(lines)} stale in {args.results}", file=sys.stderr)
        sys.exit(1)
    print(f"{args.results}: current ({len(stages)} stages, {files} derived files, each against the hashes of the "
          f"inputs it read)")


if __name__ == "__main__":
    cli.run(main)
