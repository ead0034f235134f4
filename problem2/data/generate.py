"""Synthetic stick figures in the course dataset's format (same geometry, same file layout).

    python -m problem2 generate --out data --seed 641        # data/keypoints/{train,val,test}/...
    python -m problem2 generate --hand-labels side ...        # name hands by image side

Geometry (identical to the course generator; re-rendering a course image from its annotation
reproduces it pixel for pixel): centre (cx, cy) uniform integers in [40, 88]; head circle of
radius 8 at (cx, cy - 20); torso (cx, cy - 12)-(cx, cy + 12); arms of length 20 from the
shoulder (cx, cy - 6) at angles in [-60, 60] degrees; legs from the hip (cx, cy + 12) to
(cx -/+ trunc(s), cy + 37), s uniform in [10, 30]. Lines 3 px, black on white.

Hand labels: both arms start at the same point and look alike, so the image does not say which
hand is the left one. 'assignment' (default) keeps the course's labelling, where left_hand lies
right of right_hand in about half of the images; 'side' names the hand with the smaller x
left_hand. The first caps what any model can score on the hands; the second removes the ambiguity.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from problem2.core import cli, storage
from problem2.core.schema import DEFAULT_DATA_ROOT, IMAGE_SIZE, KEYPOINT_NAMES, OUTPUT_ROOT, split_paths
from problem2.models.conventions import label_hands_by_side  # noqa: F401 also part of the generator's interface

LINE_WIDTH = 3
SPLITS = ("train", "val", "test")
DEFAULT_SIZES = {"train": 1000, "val": 200, "test": 200}
HAND_LABELS = ("assignment", "side")


CENTRE_RANGE = (40, 88)  # the figure centre's x and y range, inclusive (the course generator's)


def sample_keypoints(rng: np.random.Generator, centre: tuple[int, int] | None = None) -> np.ndarray:
    """One figure's keypoints, int [5, 2] (x, y), in KEYPOINT_NAMES order (course labelling).

    centre: (cx, cy) to place the figure there (default: uniform in CENTRE_RANGE, as the course draws)."""
    if centre is None:
        centre = rng.integers(CENTRE_RANGE[0], CENTRE_RANGE[1] + 1, size=2)
    cx, cy = (int(v) for v in centre)
    angle_left, angle_right = np.radians(rng.uniform(-60, 60, size=2))
    spread = int(rng.uniform(10, 30))
    return np.array([
        [cx, cy - 20],
        [cx - int(20 * math.sin(angle_left)), cy - 6 + int(20 * math.cos(angle_left))],
        [cx + int(20 * math.sin(angle_right)), cy - 6 + int(20 * math.cos(angle_right))],
        [cx - spread, cy + 37],
        [cx + spread, cy + 37],
    ])


def render_figure(keypoints: np.ndarray, line_width: int = LINE_WIDTH) -> np.ndarray:
    """Keypoints [5, 2] (course labelling or side labelling) -> uint8 image [128, 128]."""
    (hx, hy), left_hand, right_hand, left_foot, right_foot = (tuple(int(v) for v in p) for p in keypoints)
    cx, cy = hx, hy + 20
    image = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 255)
    draw = ImageDraw.Draw(image)
    draw.ellipse([cx - 8, cy - 28, cx + 8, cy - 12], outline=0, width=line_width)
    for start, end in [((cx, cy - 12), (cx, cy + 12)),
                       ((cx, cy - 6), left_hand), ((cx, cy - 6), right_hand),
                       ((cx, cy + 12), left_foot), ((cx, cy + 12), right_foot)]:
        draw.line([start, end], fill=0, width=line_width)
    return np.asarray(image)


def generate_dataset(out_root: str | Path, seed: int = 641, sizes: dict | None = None,
                     hand_labels: str = "assignment", progress: bool = True, splits=SPLITS) -> Path:
    """Write <out_root>/keypoints/{split}/NNNNNN.png and {split}_annotations.json for each of `splits`; return
    the keypoints directory. Same seed, sizes and labels -> byte-identical files."""
    if hand_labels not in HAND_LABELS:
        raise ValueError(f"hand_labels must be one of {HAND_LABELS}, got {hand_labels!r}")
    sizes = dict(DEFAULT_SIZES if sizes is None else sizes)
    root = Path(out_root) / "keypoints"
    storage.check_writable(root)  # before the first image: a dataset never lands in the committed reference
    rng = np.random.default_rng(seed)
    next_id = 0
    for split in splits:
        count = sizes.get(split, 0)
        image_dir, annotation_file = split_paths(root, split)
        image_dir.mkdir(parents=True, exist_ok=True)
        records = []
        for image_id in _progress(range(next_id, next_id + count), progress, f"generate {split}"):
            keypoints = sample_keypoints(rng)  # the image is drawn from the same points either way
            labelled = label_hands_by_side(keypoints) if hand_labels == "side" else keypoints
            file_name = f"{image_id:06d}.png"
            storage.save_png(render_figure(keypoints), image_dir / file_name)
            records.append({"id": image_id, "file_name": file_name, "keypoints": labelled.tolist()})
        next_id += count
        annotations = {"images": records, "keypoint_names": KEYPOINT_NAMES,
                       "num_keypoints": len(KEYPOINT_NAMES), "seed": seed, "hand_labels": hand_labels}
        storage.save_text(json.dumps(annotations, indent=2), annotation_file)
    return root


def ensure_data(data_dir: Path | None) -> Path:
    """The course-layout data directory; the default one is generated (seed 641) when missing."""
    if data_dir is not None:
        data_dir = Path(data_dir)
        if not (data_dir / "train_annotations.json").exists():
            raise cli.UserError(f"{data_dir} has no train_annotations.json (expected the course layout: "
                            f"DIR/train/*.png, DIR/train_annotations.json, DIR/val/..., ...)")
        return data_dir
    data_dir = DEFAULT_DATA_ROOT / "keypoints"
    if not (data_dir / "test_annotations.json").exists():
        print(f"generating the default dataset (seed 641) in {data_dir}")
        generate_dataset(DEFAULT_DATA_ROOT, seed=641)
    return data_dir


EXTRA_POOL_SEED = 642  # the extra training images of the learning curves: a stream apart from seed 641's splits


def training_pool(data_dir: Path, train, n: int):
    """The first n images of the training pool: the split's own `train` dataset, then extra images that the
    generator draws (seed 642, same geometry) into DATA_DIR/../extra_train/. The pool is prefix-stable, so
    the sets of the learning curve are nested. Extra images exist only for generated data (the course's data
    has no generator seed): asking for more than its training split is a UserError."""
    from torch.utils.data import ConcatDataset, Subset

    from problem2.data.keypoints import KeypointDataset
    if n <= len(train):
        return Subset(train, range(n))
    image_dir, annotation_file = ensure_extra_pool(data_dir, n - len(train))
    codec = train.codec
    extra = KeypointDataset(image_dir, annotation_file, codec.output_type, getattr(codec, "heatmap_size", 64),
                            getattr(codec, "sigma", 2.0))
    return ConcatDataset([train, Subset(extra, range(n - len(train)))])


def ensure_extra_pool(data_dir: Path, n_extra: int) -> tuple:
    """(image_dir, annotation_file) of at least n_extra generated images beyond DATA_DIR's training split, drawn
    now if missing. A sweep's driver calls it before parallel runs start, so that no two of them draw at once."""
    data_dir = Path(data_dir)
    if "seed" not in json.loads((data_dir / "train_annotations.json").read_text()):
        raise cli.UserError(f"{data_dir}: its training split has no generator seed, so the {n_extra} more "
                            f"images that the run needs cannot be drawn (use generated data)")
    root = data_dir.parent / "extra_train"
    image_dir, annotation_file = split_paths(root / "keypoints", "train")
    have = len(json.loads(annotation_file.read_text())["images"]) if annotation_file.exists() else 0
    if have < n_extra:
        generate_dataset(root, seed=EXTRA_POOL_SEED, sizes={"train": n_extra}, progress=False, splits=("train",))
    return image_dir, annotation_file


def _progress(iterable, enabled: bool, desc: str):
    if not enabled:
        return iterable
    from tqdm import tqdm
    return tqdm(iterable, desc=desc, unit="img", leave=False)


def load_keypoints(annotation_file: str | Path) -> np.ndarray:
    """All keypoints of an annotation file as int [N, 5, 2]."""
    records = json.loads(Path(annotation_file).read_text())["images"]
    return np.array([r["keypoints"] for r in records])


def keypoint_statistics(keypoints: np.ndarray) -> dict:
    """Summary of [N, 5, 2] keypoints that a faithful generator must reproduce."""
    kp = np.asarray(keypoints, dtype=np.float64)
    head, hands, feet = kp[:, 0], kp[:, 1:3], kp[:, 3:5]
    shoulder = head + [0, 14]  # (cx, cy - 6)
    arm = np.linalg.norm(hands - shoulder[:, None], axis=-1)
    leg_spread = np.abs(feet[..., 0] - head[:, None, 0])
    flipped = hands[:, 0, 0] > hands[:, 1, 0]
    return {
        "min": kp.min(0).tolist(), "max": kp.max(0).tolist(), "mean": kp.mean(0).tolist(),
        "arm_length_range": [arm.min(), arm.max()],
        "feet_below_head": sorted(set((feet[..., 1] - head[:, None, 1]).ravel().tolist())),
        "leg_spread_range": [leg_spread.min(), leg_spread.max()],
        "feet_symmetric": bool(np.all(leg_spread[:, 0] == leg_spread[:, 1])),
        "left_hand_right_of_right_hand": float(flipped.mean()),
    }


def comparison_figure(course_dir: str | Path, save_path: str | Path, n: int = 8, seed: int = 641) -> Path:
    """n images drawn by this generator (seed) above the first n course train images, keypoints drawn."""
    from problem2.figures.overlays import plot_image_pairs
    rng = np.random.default_rng(seed)
    ours = [sample_keypoints(rng) for _ in range(n)]
    image_dir, annotation_file = split_paths(course_dir, "train")
    records = json.loads(Path(annotation_file).read_text())["images"][:n]
    course_images = [np.asarray(Image.open(image_dir / r["file_name"])) for r in records]
    return plot_image_pairs([render_figure(k) for k in ours], course_images, save_path,
                            f"generated (seed {seed})", "course data",
                            top_points=ours, bottom_points=[np.array(r["keypoints"]) for r in records])


def main(argv=None):
    parser = cli.Parser(description="Synthetic stick figures in the course dataset's format.")
    parser.add_argument("--out", default="data", help="output root; files go to OUT/keypoints/")
    parser.add_argument("--seed", type=int, default=641, help="random seed (641: the course's)")
    for split in SPLITS:
        parser.add_argument(f"--num-{split}", type=cli.positive_int, default=DEFAULT_SIZES[split],
                            help=f"number of {split} images")
    parser.add_argument("--hand-labels", choices=HAND_LABELS, default="assignment",
                        help="'assignment': the course's labels (hands ambiguous); "
                             "'side': left_hand is the hand with the smaller x")
    parser.add_argument("--compare-with", metavar="COURSE_DIR", default=None,
                        help="instead of generating, draw generated figures next to COURSE_DIR's train images")
    parser.add_argument("--figure", default=str(OUTPUT_ROOT / "generated_vs_course.png"),
                        help="where --compare-with draws (the figure docs/ shows is redrawn only when named here)")
    args = parser.parse_args(argv)
    if args.compare_with:
        print(f"wrote {comparison_figure(args.compare_with, args.figure, seed=args.seed)}")
        return
    sizes = {s: getattr(args, f"num_{s}") for s in SPLITS}
    root = generate_dataset(args.out, args.seed, sizes, args.hand_labels)
    print(f"wrote {sum(sizes.values())} images to {root} ({sizes}, seed {args.seed}, hands: {args.hand_labels})")


if __name__ == "__main__":
    cli.run(main)
