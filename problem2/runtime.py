"""Where and how computation runs: device and precision choice, seeding, atomic file writes."""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import tempfile
from pathlib import Path

import torch

PRECISIONS = ("auto", "bf16", "fp32")


def pick_device(name: str = "auto") -> torch.device:
    """'auto' -> cuda, then mps, then cpu; otherwise the named device."""
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_fast_bf16() -> bool:
    """True where the CPU multiplies bf16 natively (AVX-512 BF16 or AMX), read from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> 'bf16' where the device runs it fast (CUDA with bf16, CPUs with AVX-512 BF16), else 'fp32'."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_fast_bf16() else "fp32"
    return "fp32"


def autocast(device: torch.device, precision: str):
    """bf16 autocast on the device for precision 'bf16'; a no-op for 'fp32'."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device, precision: str):
    """channels_last where it speeds up convolutions (bf16 on CPU and CUDA), else contiguous."""
    return torch.channels_last if precision == "bf16" and device.type in ("cpu", "cuda") else torch.contiguous_format


# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_GLIBC_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}


def keep_freed_memory(enable: bool = True) -> bool:
    """Make glibc malloc keep freed blocks for reuse instead of returning them to the OS.

    A training step frees and re-allocates the same activation sizes (tens of MB) every step.
    glibc serves blocks above its mmap threshold (at most 32 MB) with mmap and unmaps them on
    free, so each step pays the page faults of zero-filling them again (about a quarter of the
    CPU time in the training benchmark on a 2-core machine).
    Disabling mmap and heap trimming makes them reusable; results are bit-identical.
    enable=False restores glibc's defaults. Returns False where the C library is not glibc.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    values = {_M_TRIM_THRESHOLD: 2**31 - 1, _M_MMAP_MAX: 0} if enable else _GLIBC_DEFAULTS
    return all(mallopt(param, value) == 1 for param, value in values.items())


def environment(device: torch.device) -> dict:
    """What a reader needs to know about where a result was made."""
    info = {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
            "cpu_threads": torch.get_num_threads(), "machine": platform.machine()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (CPU and CUDA); numpy is seeded where it is used."""
    torch.manual_seed(seed)


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_json(obj, path) -> None:
    """Write JSON atomically (temporary file, then rename): a crash never leaves half a file."""
    _atomic_write(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def save_torch(obj, path) -> None:
    """torch.save atomically."""
    _atomic_write(path, lambda f: torch.save(obj, f))


def load_json(path, default=None):
    path = Path(path)
    if not path.exists():
        return default
    return json.loads(path.read_text())
