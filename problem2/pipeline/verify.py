"""Is every derived file of a results directory current with the inputs it was computed from?

    python -m problem2 verify                      # the committed reference (and the README's results block)
    python -m problem2 verify --results outputs/reproduction

Exit 0 when every file a stage wrote still matches its recorded inputs (provenance.py); exit 1 with one line per
stale file, naming the input that changed and the command that refreshes it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from problem2.core import cli
from problem2.core.schema import README, REFERENCE_DIR, REPO_DIR
from problem2.pipeline import provenance
from problem2.report import readme


def stale_lines(results: Path) -> list[str]:
    """One line per stale file of `results`; for the reference, the README's results block and the data too."""
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
    if results.resolve() == REFERENCE_DIR.resolve() and not readme.readme_is_current(README, results):
        lines.append("stale: README.md results block: it differs from what the reference's files give; "
                     "refresh: python -m problem2 report --update-reference")
    return lines


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
