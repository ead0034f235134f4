"""The assignment's baseline module: ablations of HeatmapNet (resolution, sigma, skip connections) and the failure
cases of both models, and the `ablations` command.

    python -m problem2.baseline                 # trains (or reuses) the variants in outputs/reproduction/
    python -m problem2.baseline --epochs 2      # a quick look; results record the settings

The assignment's front door onto problem2/studies/ablations.py and problem2/studies/failures.py.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python baseline.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

from problem2.core import cli
from problem2.data.generate import ensure_data
from problem2.models.networks import HeatmapNet
from problem2.report.ablations import write_ablation_markdown
from problem2.studies.ablations import ablation_study
from problem2.studies.failures import analyze_failure_cases, failure_analysis
from problem2.training.loop import TrainConfig
from problem2.experiments.runner import run_parser

__all__ = ["ablation_study", "analyze_failure_cases"]


def main(argv=None):
    p = run_parser("Ablations of HeatmapNet and failure-case analysis.")
    p.add_argument("--threshold", type=cli.positive_float, default=0.1, help="PCK threshold for the failure analysis")
    args = p.parse_args(argv)
    data_dir = ensure_data(args.data_dir)
    ablation_study(data_dir, HeatmapNet, TrainConfig(epochs=args.epochs), args.results)
    print(write_ablation_markdown(args.results).read_text())
    failures = failure_analysis(data_dir, args.results, args.threshold)
    print({k: v["keypoints"] for k, v in failures["categories"].items()})


if __name__ == "__main__":
    cli.run(main)
