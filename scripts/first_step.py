"""How far a reader walks to the first optimizer.step(): the package's files and functions entered on the way
(issue 32), from `python problem2/train.py` and from the assignment's train_heatmap_model(model, train_loader,
val_loader) with loaders built beforehand. Trains HeatmapNet on tiny generated data in a temporary folder and stops
at the first step. Functions are counted as the profiler sees them: comprehensions and lambdas are frames of their
own on Python 3.11, so the count of named functions is printed beside it.

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


def walk(call) -> dict:
    """{(file, function): order} of the package functions entered by call() up to the first optimiser step."""
    entered = {}

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
            key = (Path(frame.f_code.co_filename).relative_to(ROOT).as_posix(), frame.f_code.co_name)
            entered.setdefault(key, len(entered))

    def stop(*args, **kwargs):
        raise FirstStep
    step, torch.optim.Adam.step = torch.optim.Adam.step, stop  # the first optimiser step ends the walk
    sys.setprofile(profile)
    try:
        call()
    except FirstStep:
        pass
    finally:
        sys.setprofile(None)
        torch.optim.Adam.step = step
    return entered


def show(title: str, entered: dict) -> None:
    files = sorted({f for f, _ in entered})
    named = [fn for _, fn in entered if not fn.startswith("<")]
    print(f"{len(files)} files, {len(entered)} functions ({len(named)} named) from {title} to the first "
          f"optimizer.step()")
    for f in files:
        print(f"  {f}: " + ", ".join(fn for (g, fn) in entered if g == f))


def main():
    from torch.utils.data import DataLoader

    from problem2.data.generate import generate_dataset
    from problem2.dataset import KeypointDataset
    from problem2.model import HeatmapNet
    from problem2.train import main as train_main
    from problem2.train import train_heatmap_model
    tmp = Path(tempfile.mkdtemp())
    data = generate_dataset(tmp, seed=641, sizes={"train": 16, "val": 8, "test": 8}, progress=False)
    show("`python problem2/train.py`", walk(lambda: train_main(
        ["--data-dir", str(data), "--out", str(tmp / "out"), "--epochs", "1", "--models", "heatmap",
         "--batch-size", "8"])))
    loaders = [DataLoader(KeypointDataset(data / s, data / f"{s}_annotations.json"), batch_size=8, shuffle=s == "train")
               for s in ("train", "val")]
    show("train_heatmap_model(HeatmapNet(), train_loader, val_loader)",
         walk(lambda: train_heatmap_model(HeatmapNet(), *loaders, num_epochs=1, out_dir=tmp / "assignment")))


if __name__ == "__main__":
    main()
