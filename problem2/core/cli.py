"""What every command line of the project shares: option checks, one-line user errors, clean interrupts.

    p = cli.Parser(description="...")          # argparse, but a bad option is one line and exit 2
    p.add_argument("--epochs", type=cli.positive_int)
    cli.run(main, resume_hint="python -m problem2.train --resume ...")

Exit statuses: 0 done; 2 a user error (bad option, bad input file, a directory in use), one line
naming the option, file or field, no traceback unless --debug (or PROBLEM2_DEBUG=1);
130 Ctrl-C and 143 SIGTERM, with the command that resumes; 1 anything else (a bug: traceback).
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
import traceback
from typing import Callable


class UserError(Exception):
    """A problem with what the user gave (an option, a file, a directory): the message says which."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that `finally` blocks and atomic writes run."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error and exit status 2 (argparse prints the usage first)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help="show the traceback of an error")

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def analysis_parser(description: str, results_help: str) -> Parser:
    """A command that reads finished runs: --data-dir (default: the generated data) and --results."""
    from pathlib import Path

    from problem2.core.schema import DEFAULT_RESULTS
    p = Parser(description=description)
    p.add_argument("--data-dir", type=Path, default=None, help="course-layout data (default: generated)")
    p.add_argument("--results", type=existing_dir, default=DEFAULT_RESULTS, help=results_help)
    return p


def output_dir(text: str):
    """A directory to write into: any path but the empty one (which would be the current directory unasked)."""
    from pathlib import Path
    if not text.strip():
        raise argparse.ArgumentTypeError("must name a directory, got an empty path")
    return Path(text)


def existing_dir(text: str):
    """A directory to read finished results from: it must exist."""
    path = output_dir(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a directory" + ("" if path.exists() else " (it does not exist)"))
    return path


def course_dir(text: str):
    """A folder in the course's layout holding the val split (what --course-data is scored on)."""
    path = existing_dir(text)
    if not (path / "val_annotations.json").is_file():
        raise argparse.ArgumentTypeError(f"{text} holds no val_annotations.json (the course's layout)")
    return path


def _number(text: str, kind, what: str, ok: Callable) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, "an integer >= 1", lambda v: v >= 1)


def nonnegative_int(text: str) -> int:
    return _number(text, int, "an integer >= 0", lambda v: v >= 0)


def positive_float(text: str) -> float:
    return _number(text, float, "a finite number > 0", lambda v: math.isfinite(v) and v > 0)


def nonnegative_float(text: str) -> float:
    return _number(text, float, "a finite number >= 0", lambda v: math.isfinite(v) and v >= 0)


def learning_rate(text: str) -> float:
    """A finite learning rate in (0, 1]: Adam with a larger one only diverges."""
    return _number(text, float, "a finite number in (0, 1]", lambda v: math.isfinite(v) and 0 < v <= 1)


def device_name(text: str) -> str:
    """'auto', 'cpu', 'mps', 'cuda' or 'cuda:N', checked against what this machine has."""
    import torch
    if text == "auto" or text == "cpu":
        return text
    if text == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError("mps is not available on this machine")
        return text
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(f"{text}: this machine has no CUDA device (torch {torch.__version__})")
        index = text.partition(":")[2]
        if index and not (index.isdigit() and int(index) < torch.cuda.device_count()):
            raise argparse.ArgumentTypeError(f"{text}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return text
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda, cuda:N or mps, got {text!r}")


USER_ERRORS = (UserError, ValueError, FileNotFoundError, NotADirectoryError, PermissionError)


def run(main: Callable, argv=None, resume_hint: str | Callable[[], str] | None = None) -> None:
    """Call main(argv) as a command: user errors, Ctrl-C and SIGTERM end it with one line and a status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("PROBLEM2_DEBUG") == "1"

    sigterm = []

    def on_sigterm(signum, frame):
        sigterm.append(signum)  # remembered: a library may turn the exception into a plain KeyboardInterrupt (Ray)
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        main(argv)
    except KeyboardInterrupt as e:
        terminated = isinstance(e, Terminated) or bool(sigterm)
        hint = resume_hint() if callable(resume_hint) else resume_hint
        hint = hint or shlex.join(getattr(sys, "orig_argv", sys.argv))
        sys.stderr.write(f"\ninterrupted ({'SIGTERM' if terminated else 'Ctrl-C'}): every file "
                         f"written so far is complete; resume with: {hint}\n")
        sys.exit(143 if terminated else 130)
    except USER_ERRORS as e:
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {_one_line(e)}" + ("" if debug else " (--debug for the traceback)") + "\n")
        sys.exit(2)
    except OSError as e:  # disk full, read-only file system, ...: not a bug, not the user's input either
        if debug:
            traceback.print_exc()
        sys.stderr.write(f"error: {_one_line(e)}\n")
        sys.exit(1)


def _one_line(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, KeyError):
        text = f"missing {text}"
    return " ".join(text.split())
