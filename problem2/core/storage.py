"""Files: atomic writes (JSON, text, torch), strict JSON reads, the committed reference's write guard, and the trace
of every file read and written while a pipeline stage runs (pipeline/provenance.py records it).
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import stat
import tempfile
from pathlib import Path

import torch

from problem2.core.cli import UserError
from problem2.core.schema import OUTPUT_ROOT, REFERENCE_DIR, portable

_OPEN_TRACES: list = []



_REFERENCE_WRITERS = [0]  # writing_reference() blocks open in this process (nothing inherits it)


@contextlib.contextmanager
def writing_reference():
    """Allow writes into the committed reference (REFERENCE_DIR) inside the block, in this process only: `all
    --update-reference` and `report --update-reference` open it, and hand it to their own Ray tasks by argument
    (executor.train_task); no environment variable or other command can."""
    _REFERENCE_WRITERS[0] += 1
    try:
        yield
    finally:
        _REFERENCE_WRITERS[0] -= 1


def reference_open() -> bool:
    """True inside a writing_reference() block."""
    return _REFERENCE_WRITERS[0] > 0


def check_writable(path) -> None:
    """UserError when `path` lies in the committed reference and no writing_reference() block is open."""
    if reference_open():
        return
    if Path(path).resolve().is_relative_to(REFERENCE_DIR.resolve()):
        raise UserError(f"{path} is in the committed reference run {portable(REFERENCE_DIR)}/: nothing writes there but "
                        f"`python -m problem2 all --update-reference` (or `report --update-reference`); write "
                        f"elsewhere (the default is {OUTPUT_ROOT}/)")


def traced(kind: str, path) -> None:
    """Tell every open trace (trace_files) that the project read ('read') or wrote ('write') `path`."""
    for trace in _OPEN_TRACES:
        trace[kind].add(Path(path).resolve())


@contextlib.contextmanager
def trace_files():
    """Collect {'read': set, 'write': set} of the resolved paths that the project's readers and writers (load_json,
    the save_* helpers, checkpoint.load_checkpoint, plots) touch inside the block."""
    trace = {"read": set(), "write": set()}
    _OPEN_TRACES.append(trace)
    try:
        yield trace
    finally:
        _OPEN_TRACES.remove(trace)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temporary file beside path, fsync, then rename: a crash never leaves half a file.

    A failed write (disk full, file-size limit, read-only) raises OSError naming the file; the
    previous version of the file, and every other file, is left as it was.
    """
    path = Path(path)
    check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
        traced("write", path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        reason = {errno.ENOSPC: "no space left on device", errno.EFBIG: "file size limit reached",
                  errno.EDQUOT: "disk quota exceeded", errno.EROFS: "read-only file system"}.get(e.errno, e.strerror)
        raise OSError(e.errno, f"{reason} while writing {path} (earlier files are intact)") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_json(obj, path) -> None:
    """Write JSON atomically (temporary file, then rename)."""
    _atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def save_text(text: str, path) -> None:
    """Write a text file atomically (Markdown results)."""
    _atomic_write(path, text.encode())


def save_png(image, path) -> None:
    """A uint8 [H, W] image as a PNG, atomically (an interrupted write never leaves half an image)."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    _atomic_write(path, buffer.getvalue())


def save_torch(obj, path) -> str:
    """torch.save atomically; serialised in memory first, so a failed write is an OSError naming the file.
    Returns the SHA-256 of the bytes written."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    _atomic_write(path, buffer.getvalue())
    return hashlib.sha256(buffer.getvalue()).hexdigest()


def regular_file(path, error=UserError) -> bool:
    """True for a regular file, False when nothing is there (or a link points nowhere); `error` naming the path for
    what must not be opened: a FIFO, a device or a folder (reading would hang or fail), or a loop of links."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as e:
        raise error(f"{path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path} is not a regular file (a folder, FIFO or device): refusing to read it")
    return True


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def load_json(path, default=None):
    """A JSON file's content, `default` when it does not exist; a corrupt file (NaN and Infinity included, which
    no file of the project holds) or a special file is a UserError naming it."""
    path = Path(path)
    traced("read", path)
    if not regular_file(path):
        return default
    try:
        return json.loads(path.read_text(), parse_constant=_no_constant)
    except RecursionError:
        raise UserError(f"{path} is nested too deeply to read; restore it (git checkout -- FILE for committed "
                        f"results) or delete it to recompute what it records") from None
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
        raise UserError(f"{path} is corrupt ({e}); restore it (git checkout -- FILE for committed results) "
                        f"or delete it to recompute what it records") from None


def directory_size(path) -> int:
    """Bytes in the regular files under path."""
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
