"""Where and how computation runs: device and precision choice, seeding, atomic file writes."""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import sys
from pathlib import Path

import torch

from problem2.core.cli import UserError
from problem2.core.storage import check_writable

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
            "cpu_threads": torch.get_num_threads(), "machine": platform.machine(), "cpu": cpu_model()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def seed_everything(seed: int) -> None:
    """Seed torch's global generators (CPU and CUDA); numpy is seeded where it is used."""
    torch.manual_seed(seed)


# ---------------------------------------------------------------- the committed reference is written on purpose only


# ---------------------------------------------------------------- file tracing (provenance.py)



class DirectoryLock:
    """OUT/.lock: one writer per output directory. Holds the PID; a lock whose process is gone is stale.

    with DirectoryLock(out_dir): ...   # UserError when another live process holds it, or OUT is unwritable
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self.path = self.directory / ".lock"
        self.held = False

    def __enter__(self):
        check_writable(self.path)  # a writer takes the lock first: refused in the reference before anything changes
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create the output directory {self.directory}: {e.strerror}") from None
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._clear_if_stale()
                continue
            except OSError as e:
                raise UserError(f"cannot write into {self.directory}: {e.strerror}") from None
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()} {platform.node()}\n")
            self.held = True
            return self
        try:
            held = self.path.read_text().strip()[:80]
        except OSError:
            held = ""
        raise UserError(f"could not take the lock {self.path}: it holds {held!r}, not a writer's 'PID HOST'; if no "
                        f"command is writing into {self.directory}, delete it (rm {self.path}) and run again")

    def _clear_if_stale(self) -> None:
        try:
            pid_text, _, host = self.path.read_text().strip().partition(" ")
            pid = int(pid_text)
        except (OSError, ValueError):
            return  # being written or just removed: try again
        if host == platform.node() and _process_alive(pid) and pid != os.getpid():
            raise UserError(f"{self.directory} is in use by another training (PID {pid}, lock {self.path}); "
                            f"wait for it, stop it, or write elsewhere")
        if host != platform.node():
            raise UserError(f"{self.directory} is locked by PID {pid} on host {host}; delete {self.path} "
                            f"if that process is gone")
        stale = self.path.with_name(f".lock.stale.{os.getpid()}")
        with contextlib.suppress(OSError):  # rename first: only one process clears a given stale lock
            os.rename(self.path, stale)
            os.unlink(stale)
            print(f"note: removed a stale lock of PID {pid} in {self.directory}", file=sys.stderr)

    @staticmethod
    def remove_dead_holders(directory) -> str | None:
        """Delete OUT/.lock of a writer that the caller knows is gone (a Ray worker lost mid-run, on any host);
        the holder's 'PID HOST', or None when there was no lock."""
        path = Path(directory) / ".lock"
        try:
            holder = path.read_text().strip()
            path.unlink()
        except OSError:
            return None
        return holder

    def __exit__(self, *exc):
        if self.held:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.held = False


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
