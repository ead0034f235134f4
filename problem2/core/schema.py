"""The project's facts, each with one home: the image, the keypoints and their skeleton, and where things live.

    IMAGE_SIZE      128: every image is IMAGE_SIZE x IMAGE_SIZE grayscale
    KEYPOINT_NAMES  the course's five keypoints, in annotation order; HEAD .. RIGHT_FOOT index them
    SKELETON        lines drawn from the head to each limb end in figures
    HAND_PAIR       the two keypoints whose labels the course images leave ambiguous

    REFERENCE_DIR   problem2/results/: the committed reference run. Only `python -m problem2 all
                    --update-reference` (and `report --update-reference`) write there.
    OUTPUT_ROOT     ./outputs/ (relative to the working directory, ignored by git): where every
                    command writes by default (`all`: outputs/reproduction, `--quick`: outputs/quick).
    DEFAULT_DATA    data/keypoints/ beside the package: the generated default dataset (seed 641).
"""
import os
from pathlib import Path

IMAGE_SIZE = 128
KEYPOINT_NAMES = ["head", "left_hand", "right_hand", "left_foot", "right_foot"]
HEAD, LEFT_HAND, RIGHT_HAND, LEFT_FOOT, RIGHT_FOOT = range(len(KEYPOINT_NAMES))
SKELETON = [(HEAD, LEFT_HAND), (HEAD, RIGHT_HAND), (HEAD, LEFT_FOOT), (HEAD, RIGHT_FOOT)]
HAND_PAIR = (LEFT_HAND, RIGHT_HAND)
UNAMBIGUOUS = [HEAD, LEFT_FOOT, RIGHT_FOOT]  # keypoints whose labels the image determines

# which of a run's epochs it is scored with: every run keeps both checkpoints; the project's declared rule is the
# last epoch (docs/conventions.md), the assignment's "best model" the lowest validation loss
SELECTION_RULES = ("last_epoch", "best_val_loss")
DECLARED_SELECTION = "last_epoch"

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # problem2/ (this file is problem2/core/schema.py)
REPO_DIR = PACKAGE_DIR.parent
REFERENCE_DIR = PACKAGE_DIR / "results"
README = REPO_DIR / "README.md"
DEFAULT_DATA_ROOT = REPO_DIR / "data"          # generated data lands in data/keypoints/
COURSE_DATA = REPO_DIR.parent / "shared" / "ee641_keypoints"
OUTPUT_ROOT = Path("outputs")
DEFAULT_RESULTS = OUTPUT_ROOT / "reproduction"  # all, train, ablations, studies: one work directory to share runs
QUICK_RESULTS = OUTPUT_ROOT / "quick"


def split_paths(data_dir, split: str) -> tuple[Path, Path]:
    """(image_dir, annotation_file) of a split in the course layout: DIR/{split}/ and DIR/{split}_annotations.json."""
    data_dir = Path(data_dir)
    return data_dir / split, data_dir / f"{split}_annotations.json"


def portable(path) -> str:
    """A path as recorded in result files: relative to the repository, so no machine's layout is written down."""
    return os.path.relpath(Path(path).resolve(), REPO_DIR)
