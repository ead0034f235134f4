"""Where things live: the committed reference run, the default output directory, the default data.

    REFERENCE_DIR   problem2/results/: the committed reference run. Only `python -m problem2 all
                    --update-reference` (and `report --update-reference`) write there.
    OUTPUT_ROOT     ./outputs/ (relative to the working directory, ignored by git): where every
                    command writes by default (`all`: outputs/reproduction, `--quick`: outputs/quick).
    DEFAULT_DATA    data/keypoints/ beside the package: the generated default dataset (seed 641).
"""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
REFERENCE_DIR = PACKAGE_DIR / "results"
README = REPO_DIR / "README.md"
DEFAULT_DATA_ROOT = REPO_DIR / "data"          # generated data lands in data/keypoints/
COURSE_DATA = REPO_DIR.parent / "shared" / "ee641_keypoints"
OUTPUT_ROOT = Path("outputs")
DEFAULT_RESULTS = OUTPUT_ROOT / "reproduction"  # all, train, ablations, studies: one work directory to share runs
QUICK_RESULTS = OUTPUT_ROOT / "quick"
