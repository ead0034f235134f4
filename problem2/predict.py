"""Run a trained checkpoint on your own images: keypoints as JSON in the course's annotation schema, and an
overlay PNG per image.

    python -m problem2 predict problem2/results/heatmap_model.pth my_images/ --out outputs/predict

What the models expect (they saw nothing else in training): 128x128 grayscale images of a dark stick
figure (3 px lines) on a white background, the figure's centre within about 40..88 px on both axes
and its size as drawn by problem2/data/generate.py. Other sizes are refused; colour images are converted
to grayscale; a dark background is warned about (the models score almost nothing on inverted images).
Predicted keypoints are clipped to the image, x and y in [-0.5, 127.5], so the output can be read and
scored by KeypointDataset.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from problem2.core import cli, storage
from problem2.core.cli import UserError
from problem2.core.schema import IMAGE_SIZE, KEYPOINT_NAMES, OUTPUT_ROOT
from problem2.data.files import images_to_tensor, load_image, warn_unusual_images
from problem2.figures.overlays import visualize_predictions
from problem2.models import codec
from problem2.models.decoding import DECODE_METHODS
from problem2.studies.evaluation import predict_keypoints
from problem2.training.checkpoint import load_model
from problem2.training.objective import model_codec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def find_images(source: Path) -> list:
    """An image file, or the image files of a folder (sorted by name)."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(f"{source} holds no image ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not source.exists():
        raise UserError(f"no such image or folder: {source}")
    return [source]


def read_inputs(files: list) -> np.ndarray:
    """uint8 [N, 128, 128]; refuses what the models cannot take, warns (as training does) about dark backgrounds
    and blank images, naming the files."""
    images = np.stack([load_image(f) for f in files])
    warn_unusual_images(images, [f.name for f in files], Path(files[0]).parent)
    return images


def predict_files(checkpoint: Path, source: Path, out_dir: Path, decoding: str | None = None,
                  overlays: bool = True) -> dict:
    """Predict keypoints for every image; write OUT/predictions.json (course schema) and OUT/overlays/*.png.
    decoding: one of the model's codec's decodings (default: its own default, sub-pixel for heatmaps); a heatmap
    decoding asked of a model whose outputs have no such decoding falls back to that default."""
    storage.check_writable(out_dir)  # before any work: never into the committed reference
    model = load_model(checkpoint)
    run_codec = model_codec(model)
    decoding = choose_decoding(model, decoding)
    files = find_images(source)
    images = read_inputs(files)
    tensor = images_to_tensor(images)
    points, outputs = predict_keypoints(model, tensor, decoding)
    if not np.isfinite(outputs.numpy()).all():
        raise UserError(f"{checkpoint} gives non-finite outputs (NaN or inf weights?): no keypoints written")
    points = np.clip(points, -0.5, IMAGE_SIZE - 0.5)
    records = [{"id": i, "file_name": f.name, "keypoints": np.round(p.astype(np.float64), 2).tolist()}
               for i, (f, p) in enumerate(zip(files, points))]
    result = {"images": records, "keypoint_names": KEYPOINT_NAMES, "num_keypoints": len(KEYPOINT_NAMES),
              "model": type(model).__name__, "checkpoint": Path(checkpoint).name,
              "decoding": decoding if len(run_codec.decodings) > 1 else run_codec.name}
    storage.save_json(result, Path(out_dir) / "predictions.json")
    if overlays:
        for f, image, p in zip(files, images, points):
            visualize_predictions(image, p, None, Path(out_dir) / "overlays" / overlay_name(f, files),
                                        title=f"{f.name}: {type(model).__name__}")
    return result


def choose_decoding(model, asked: str | None) -> str:
    """The decoding to use: `asked` when the model's codec has it; the codec's default for None, or (with a note)
    for a heatmap decoding the model's outputs do not have; UserError for a name no model decodes by."""
    run_codec = model_codec(model)
    if asked in run_codec.decodings:
        return asked
    if asked is not None:
        known = set(DECODE_METHODS) | {d for c in codec.CODEC_TYPES.values() for d in getattr(c, "decodings", ())}
        if asked not in known:
            raise UserError(f"--decode {asked}: a {type(model).__name__} decodes by {', '.join(run_codec.decodings)}")
        print(f"note: a {type(model).__name__} has no '{asked}' decoding; using its default, "
              f"'{run_codec.default_decoding}'", file=sys.stderr)
    return run_codec.default_decoding


def overlay_name(path: Path, files: list) -> str:
    """STEM.png, or NAME.png (e.g. x.jpg.png) when another input has the same stem (x.png and x.jpg)."""
    twins = sum(f.stem == path.stem for f in files) > 1
    return f"{path.name if twins else path.stem}.png"


def main(argv=None):
    p = cli.Parser(description="Keypoints of a trained model on your own 128x128 images.")
    p.add_argument("checkpoint", type=Path, help="a *_model.pth written by training")
    p.add_argument("images", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", type=cli.output_dir, default=OUTPUT_ROOT / "predict", help="where predictions.json and overlays go")
    p.add_argument("--decode", default=None, help="decoding: for heatmaps argmax, subpixel (default) or fit; for "
                   "SimCC argmax (default) or expectation; other models have one")
    p.add_argument("--no-overlays", action="store_true", help="only the JSON")
    args = p.parse_args(argv)
    result = predict_files(args.checkpoint, args.images, args.out, args.decode, not args.no_overlays)
    print(f"{len(result['images'])} image(s): {args.out / 'predictions.json'}"
          + ("" if args.no_overlays else f", overlays in {args.out / 'overlays'}"))


if __name__ == "__main__":
    cli.run(main)
