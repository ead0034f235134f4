"""The course's files, read strictly: annotation JSON (every field checked, errors naming the file and field) and
images (8- or 16-bit grayscale, colour and alpha converted, float TIFF scaled), as uint8 arrays [H, W].
"""
from __future__ import annotations

import json
import math
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image

from problem2.core import storage
from problem2.core.cli import UserError
from problem2.core.schema import IMAGE_SIZE

REQUIRED_KEYS = ("images", "keypoint_names", "num_keypoints")


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L")


class DatasetError(UserError, ValueError):
    """A dataset file or field is missing or malformed; the message names which."""


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images [N, H, W] -> float32 [N, 1, H, W] in [0, 1], as every model takes them."""
    return torch.from_numpy(images).float().div_(255.0).unsqueeze(1)


def read_annotations(path: Path) -> dict:
    """Load and validate an annotation file; DatasetError names the file and the bad field.

    Refused: missing or mistyped fields, an empty image list, duplicate ids or file names, a
    file name that is not a plain relative path inside the image folder, and keypoints that are
    not finite or lie outside the image (x and y in [-0.5, 127.5], the area of the pixels).
    """
    path = Path(path)
    if not storage.regular_file(path, DatasetError):
        raise DatasetError(f"annotation file not found: {path}")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DatasetError(f"annotation file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"cannot read annotation file {path}: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: invalid JSON ({e})") from None
    except RecursionError:
        raise DatasetError(f"{path}: JSON nested too deeply to be an annotation file") from None
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: expected a JSON object with keys {REQUIRED_KEYS}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise DatasetError(f"{path}: missing key(s) {missing}")
    names = data["keypoint_names"]
    if not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
        raise DatasetError(f"{path}: 'keypoint_names' must be a list of strings, got {names!r}")
    count = data["num_keypoints"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1 or count != len(names):
        raise DatasetError(f"{path}: 'num_keypoints' must be a positive integer equal to the number of "
                           f"keypoint_names; file declares num_keypoints={count!r}, keypoint_names={names!r}")
    if not isinstance(data["images"], list):
        raise DatasetError(f"{path}: 'images' must be a list")
    if not data["images"]:
        raise DatasetError(f"{path}: 'images' is empty: a split needs at least one image")
    for i, record in enumerate(data["images"]):
        _check_record(path, i, record, count)
    _check_unique(path, data["images"], "file_name")
    _check_unique(path, data["images"], "id")
    return data


def _check_unique(path: Path, records: list, key: str) -> None:
    seen = {}
    for i, record in enumerate(records):
        value = record.get(key)
        if value is None:
            continue
        if value in seen:
            raise DatasetError(f"{path}: images[{i}] repeats {key} {value!r} of images[{seen[value]}]")
        seen[value] = i


def _check_record(path: Path, i: int, record, num_keypoints: int) -> None:
    where = f"{path}: images[{i}]"
    if not isinstance(record, dict):
        raise DatasetError(f"{where} must be an object")
    for key in ("file_name", "keypoints"):
        if key not in record:
            raise DatasetError(f"{where}: missing key '{key}'")
    name = record["file_name"]
    if not isinstance(name, str) or not name:
        raise DatasetError(f"{where}: 'file_name' must be a non-empty string, got {name!r}")
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if PurePosixPath(name).is_absolute() or ".." in parts or not parts:
        raise DatasetError(f"{where}: 'file_name' {name!r} must be a relative path inside the image folder")
    record["file_name"] = PurePosixPath(*parts).as_posix()  # './a.png' and 'a.png' name one file (duplicates)
    if "id" in record and (isinstance(record["id"], bool) or not isinstance(record["id"], (int, str))):
        raise DatasetError(f"{where}: 'id' must be an integer or a string, got {record['id']!r}")
    where = f"{where} ({name})"
    points = record["keypoints"]
    if not isinstance(points, list) or len(points) != num_keypoints:
        n = len(points) if isinstance(points, list) else type(points).__name__
        raise DatasetError(f"{where}: 'keypoints' must hold {num_keypoints} (x, y) pairs, got {n}")
    for j, p in enumerate(points):
        if not (isinstance(p, list) and len(p) == 2 and all(_is_number(v) for v in p)):
            raise DatasetError(f"{where}: keypoints[{j}] must be two finite numbers (x, y), got {_short(p)}")
        if not all(-0.5 <= v <= IMAGE_SIZE - 0.5 for v in p):
            raise DatasetError(f"{where}: keypoints[{j}] = {_short(p)} lies outside the {IMAGE_SIZE}x"
                               f"{IMAGE_SIZE} image (x and y must be in [-0.5, {IMAGE_SIZE - 0.5}])")


def _is_number(v) -> bool:
    """A finite JSON number (an int of any size is finite: math.isfinite would overflow on 1e400 written out)."""
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and math.isfinite(v)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_image(path: Path, image_dir: Path | None = None) -> np.ndarray:
    """A 128x128 image as uint8 [128, 128], 0 black .. 255 white.

    The size is checked before any pixel is decoded. Transparent pixels are composited on white; 16-bit
    grayscale is scaled to 8 bits; a float image (TIFF mode F) in [0, 1] is scaled by 255 (other float
    ranges are refused); other modes are converted to grayscale with a warning. image_dir: the folder the
    image must lie in once links are resolved (a link pointing outside it is refused).
    """
    path = Path(path)
    if not storage.regular_file(path, DatasetError):
        raise DatasetError(f"image not found: {path}")
    if image_dir is not None and not path.resolve().is_relative_to(Path(image_dir).resolve()):
        raise DatasetError(f"{path} resolves to {path.resolve()}, outside the image folder {image_dir} (a link?)")
    try:
        with Image.open(path) as im:
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                raise DatasetError(f"{path}: image is {im.size[0]}x{im.size[1]}, expected "
                                   f"{IMAGE_SIZE}x{IMAGE_SIZE}")
            im.load()
            array = _grayscale(path, im)
    except FileNotFoundError:
        raise DatasetError(f"image not found: {path}") from None
    except (OSError, Image.DecompressionBombError) as e:
        raise DatasetError(f"cannot read image {path}: {e}") from None
    return array


def warn_unusual_images(images: np.ndarray, names: list, where: Path) -> None:
    """Warn, naming the files, about images unlike the stick figures: a dark background (inverted, or black
    where a transparent background was read without its alpha) or an almost uniform image (nothing drawn)."""
    flat = images.reshape(len(images), -1)
    for problem, bad in (("a dark background (the figures are dark lines on white)", np.median(flat, axis=1) < 128),
                         ("almost no contrast (nothing drawn?)", flat.std(axis=1) < 2.0)):
        if bad.any():
            listed = [names[i] for i in np.flatnonzero(bad)]
            warnings.warn(f"{where}: {len(listed)} image(s) with {problem}: {', '.join(listed[:5])}"
                          + (" ..." if len(listed) > 5 else ""), stacklevel=3)


def _grayscale(path: Path, im: Image.Image) -> np.ndarray:
    """uint8 [H, W] of a decoded image in any mode (see load_image)."""
    if im.mode in SIXTEEN_BIT_MODES:  # 16-bit grayscale: scale 0..65535 to 0..255
        return np.clip(np.rint(np.asarray(im).astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
    if im.mode == "I":  # 32-bit integers: their range says what they hold (PIL's convert('L') would clip to white)
        values = np.asarray(im, dtype=np.float64)
        if values.min() < 0 or values.max() > 65535:
            raise DatasetError(f"{path}: a 32-bit integer image must hold 8- or 16-bit values (0..65535), got "
                               f"{values.min():.0f}..{values.max():.0f}")
        return np.rint(values / (257.0 if values.max() > 255 else 1.0)).astype(np.uint8)
    if im.mode == "F":
        values = np.asarray(im, dtype=np.float64)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
            raise DatasetError(f"{path}: a float image must hold finite values in [0, 1] or [0, 255]")
        scale = 255.0 if values.max() <= 1.0 else 1.0
        return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im.convert("RGBA"))  # transparent -> the white background
    if im.mode != "L":
        warnings.warn(f"{path}: mode {im.mode} converted to grayscale (L)", stacklevel=4)
        im = im.convert("L")
    return np.asarray(im)
