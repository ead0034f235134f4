"""How far a reader walks from `python problem2/train.py` to the first optimizer.step(): the package's files and
functions entered on the way (issue 32). Trains HeatmapNet for one epoch on tiny generated data in a temporary
folder and stops at the first step.

    .venv/bin/python scripts/first_step.py            # prints the counts, then the files and functions in order
"""
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PACKAGE = str(ROOT / "problem2")


class FirstStep(Exception):
    pass


def main():
    from problem2.data.generate import generate_dataset
    from problem2.train import main as train_main
    tmp = Path(tempfile.mkdtemp())
    data = generate_dataset(tmp, seed=641, sizes={"train": 16, "val": 8, "test": 8}, progress=False)
    entered = {}  # (file, function) in the order first entered

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            key = (Path(frame.f_code.co_filename).relative_to(ROOT).as_posix(), frame.f_code.co_name)
            entered.setdefault(key, len(entered))

    def stop(*args, **kwargs):
        raise FirstStep
    torch.optim.Adam.step = stop  # the first optimiser step ends the walk
    sys.setprofile(profile)
    try:
        train_main(["--data-dir", str(data), "--out", str(tmp / "out"), "--epochs", "1", "--models", "heatmap",
                    "--batch-size", "8"])
    except FirstStep:
        pass
    finally:
        sys.setprofile(None)
    files = sorted({f for f, _ in entered})
    print(f"{len(files)} files, {len(entered)} functions from `python problem2/train.py` to the first optimizer.step()")
    for f in files:
        print(f"  {f}: " + ", ".join(fn for (g, fn) in entered if g == f))


if __name__ == "__main__":
    main()
