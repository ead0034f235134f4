"""The assignment's evaluation module: keypoints from heatmaps, PCK, the PCK curves and prediction overlays, and the
`evaluate` command.

    python -m problem2.evaluate                    # the committed models on the test split -> outputs/evaluate/
    python -m problem2.evaluate --results outputs/reproduction --data-dir ../shared/ee641_keypoints --split val

Methods compared on the same images: 'regression', 'heatmap_argmax' and 'heatmap_subpixel' (DARK-style Taylor
refinement, see models/codec.py), each scored as labelled and hand-swap-invariant. The assignment's front door
onto problem2/studies/evaluation.py.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script: `cd problem2 && python evaluate.py`
    import sys, pathlib; sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # noqa: E401,E702

from pathlib import Path

from problem2.core import cli
from problem2.core.metrics import compute_pck
from problem2.core.schema import OUTPUT_ROOT, REFERENCE_DIR
from problem2.data.generate import ensure_data
from problem2.figures.charts import plot_pck_curves
from problem2.figures.overlays import visualize_predictions
from problem2.report.document import headline_table
from problem2.studies.evaluation import evaluate_checkpoints, extract_keypoints_from_heatmaps, predict_keypoints

__all__ = ["compute_pck", "evaluate_checkpoints", "extract_keypoints_from_heatmaps", "plot_pck_curves",
           "predict_keypoints", "visualize_predictions"]


def main(argv=None):
    p = cli.Parser(description="Evaluate RESULTS/heatmap_model.pth and RESULTS/regression_model.pth.")
    p.add_argument("--results", type=cli.existing_dir, default=REFERENCE_DIR, help="directory holding the two checkpoints")
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--split", default=None, help="split to score (default: test if present, else val)")
    p.add_argument("--out", type=Path, default=OUTPUT_ROOT / "evaluate", help="where metrics.json and figures go")
    args = p.parse_args(argv)
    if args.out.resolve() == REFERENCE_DIR.resolve():
        raise cli.UserError(f"--out {args.out} is the committed reference run; regenerate it with "
                            f"python -m problem2 all --update-reference")
    evaluate_checkpoints(args.results, ensure_data(args.data_dir), args.split, args.out)
    print(headline_table(args.out))


if __name__ == "__main__":
    cli.run(main)
