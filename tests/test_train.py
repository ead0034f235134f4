import hashlib
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from problem2.core import runtime, storage
from problem2.data.keypoints import make_loaders
from problem2.models.networks import HeatmapNet, RegressionNet
from problem2.studies.bench import train_step_fn
from problem2.train import main as train_main
from problem2.train import train_heatmap_model
from problem2.training.checkpoint import load_checkpoint, load_model, load_weights
from problem2.training.loop import NonFiniteLossError, TrainConfig
from problem2.training.objective import model_codec
from problem2.training.run import train_run
from problem2.training.run_files import RunDirectoryError

CFG = dict(batch_size=8, snapshot_epochs=(1, 3), num_snapshot_images=2)


def train(tiny_data, out, epochs=3, model_class=HeatmapNet, name="heatmap", resume=True, loaders=None, **kw):
    cfg = TrainConfig(epochs=epochs, **{**CFG, **kw})
    train_loader, val_loader = loaders or make_loaders(tiny_data, model_class.output_type, cfg.batch_size)
    torch.manual_seed(cfg.seed)
    model = model_class()
    return train_run(model, train_loader, val_loader, cfg, out, name, resume=resume, progress=False), model


def timeless(log):
    return [{k: v for k, v in e.items() if k not in ("epoch_seconds", "train_img_per_s")} for e in log["epochs"]]


def test_tiny_training_lowers_loss_and_writes_loadable_files(tiny_data, tmp_path):
    log, model = train(tiny_data, tmp_path, epochs=3)
    losses = [e["train_loss"] for e in log["epochs"]]
    assert losses[-1] < losses[0]
    meta = json.loads((tmp_path / "heatmap_model.json").read_text())  # the sidecar says what the weights are
    assert meta["model_class"] == "HeatmapNet" and meta["epoch"] == log["best_epoch"]
    assert meta["weights_sha256"] == hashlib.sha256((tmp_path / "heatmap_model.pth").read_bytes()).hexdigest()
    plain = HeatmapNet()
    plain.load_state_dict(torch.load(tmp_path / "heatmap_model.pth"))  # the assignment's way: a plain state_dict
    rebuilt = load_model(tmp_path / "heatmap_model.pth")
    x = torch.rand(2, 1, 128, 128)
    assert torch.allclose(rebuilt(x), plain.eval()(x))
    saved = json.loads((tmp_path / "training_log.json").read_text())
    entry = saved["models"]["heatmap"]
    assert entry["best_epoch"] == min(entry["epochs"], key=lambda e: e["val_loss"])["epoch"]
    assert set(entry["epochs"][0]) >= {"epoch", "train_loss", "val_loss", "val_mean_px", "val_pck@0.05", "lr",
                                       "epoch_seconds"}
    assert entry["config"]["seed"] == 0 and entry["environment"]["torch"] == torch.__version__
    snaps = torch.load(tmp_path / "heatmap_snapshots.pt", weights_only=True)
    assert sorted(snaps["epochs"]) == [1, 3] and snaps["epochs"][1].shape == (2, 5, 64, 64)
    assert not list(tmp_path.glob("*.tmp"))  # atomic writes leave no temporaries


def test_same_seed_gives_identical_losses(tiny_data, tmp_path):
    a, _ = train(tiny_data, tmp_path / "a", epochs=2, model_class=RegressionNet, name="regression")
    b, _ = train(tiny_data, tmp_path / "b", epochs=2, model_class=RegressionNet, name="regression")
    assert timeless(a) == timeless(b)


class Interrupting(DataLoader):
    """A DataLoader that raises KeyboardInterrupt at the given (epoch, batch), counting its iterations."""

    def __init__(self, *args, at, **kw):
        super().__init__(*args, **kw)
        self.at, self.epoch = at, 0

    def __iter__(self):
        self.epoch += 1
        for i, batch in enumerate(super().__iter__()):
            if (self.epoch, i) == self.at:
                raise KeyboardInterrupt
            yield batch


def test_interrupted_run_resumes_to_the_same_log_and_weights(tiny_data, tmp_path):
    full, full_model = train(tiny_data, tmp_path / "full", model_class=RegressionNet, name="regression")
    train_loader, val_loader = make_loaders(tiny_data, "regression", 8)
    broken = Interrupting(train_loader.dataset, batch_size=8, shuffle=True, at=(2, 1))
    with pytest.raises(KeyboardInterrupt):
        train(tiny_data, tmp_path / "cut", model_class=RegressionNet, name="regression",
              loaders=(broken, val_loader))
    saved = torch.load(tmp_path / "cut" / "regression_last.pth", weights_only=True)
    assert len(saved["state"]["history"]) == 1  # epoch 1 completed, epoch 2 lost mid-way
    resumed, resumed_model = train(tiny_data, tmp_path / "cut", model_class=RegressionNet, name="regression")
    assert timeless(resumed) == timeless(full)
    for (k, a), b in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.equal(a, b), k


def test_finished_run_is_reused_and_other_settings_refuse_to_resume(tiny_data, tmp_path):
    train(tiny_data, tmp_path, epochs=1, model_class=RegressionNet, name="regression")
    stamp = (tmp_path / "regression_model.pth").stat().st_mtime_ns
    again, _ = train(tiny_data, tmp_path, epochs=1, model_class=RegressionNet, name="regression")
    assert (tmp_path / "regression_model.pth").stat().st_mtime_ns == stamp and len(again["epochs"]) == 1
    with pytest.raises(ValueError, match="other settings"):
        train(tiny_data, tmp_path, epochs=1, model_class=RegressionNet, name="regression", lr=0.01)


def test_non_finite_loss_stops_with_model_epoch_and_step(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=1, **CFG)
    loaders = make_loaders(tiny_data, "heatmap", 8)
    model = HeatmapNet()
    with torch.no_grad():
        model.final.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"heatmap: non-finite loss \(nan\) at epoch 1, step 1/3"):
        train_run(model, *loaders, cfg, tmp_path, "heatmap", progress=False)


def test_checkpoint_errors(tiny_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "bad.pth").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pth")
    storage.save_torch({"weights": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="is a state_dict of no model this project builds"):
        load_checkpoint(tmp_path / "foreign.pth")
    storage.save_torch([1, 2], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="not a problem2-checkpoint-v2 checkpoint"):
        load_checkpoint(tmp_path / "list.pth")
    train(tiny_data, tmp_path, epochs=1)
    with pytest.raises(ValueError, match="holds a HeatmapNet, expected a RegressionNet"):
        load_model(tmp_path / "heatmap_model.pth", expected_class=RegressionNet)
    with pytest.raises(ValueError, match="does not fit"):
        load_weights(HeatmapNet(heatmap_size=32), load_checkpoint(tmp_path / "heatmap_model.pth"))


def test_assignment_entry_point(tiny_data, tmp_path):
    train_loader, val_loader = make_loaders(tiny_data, "heatmap", 8)
    log = train_heatmap_model(HeatmapNet(), train_loader, val_loader, num_epochs=1,
                              config=TrainConfig(**CFG), out_dir=tmp_path)
    assert len(log["epochs"]) == 1 and (tmp_path / "heatmap_model.pth").exists()
    with pytest.raises(ValueError, match="shuffle=False"):
        train_run(HeatmapNet(), train_loader, train_loader, TrainConfig(epochs=1), tmp_path, "x", progress=False)


def test_keeping_freed_memory_changes_no_number():
    if not runtime.keep_freed_memory(False):
        pytest.skip("the C library is not glibc")
    weights = []
    for keep in (False, True):
        assert runtime.keep_freed_memory(keep)
        torch.manual_seed(0)
        model = HeatmapNet()
        step = train_step_fn(model, 4, "fp32", torch.device("cpu"))
        step(), step()
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_train_command_records_its_wall_time_and_epochs_run(tiny_data, tmp_path):
    args = ["--data-dir", str(tiny_data), "--out", str(tmp_path), "--models", "regression", "--batch-size", "8"]
    train_main(args + ["--epochs", "1"])
    assert json.loads((tmp_path / "training_log.json").read_text())["last_command"]["epochs_run"] == {"regression": 1}
    assert not (tmp_path / "regression_last.pth").exists()  # dropped once the run finished
    train_main(args + ["--epochs", "1", "--resume"])  # the finished run is reused
    saved = json.loads((tmp_path / "training_log.json").read_text())
    command = saved["last_command"]
    assert command["argv"][:3] == ["python", "-m", "problem2.train"] and command["argv"][-1] == "--resume"
    assert command["epochs_run"] == {"regression": 0} and command["wall_seconds"] > 0
    with pytest.raises(RunDirectoryError, match="finished run 'regression' of 1 epochs"):
        train_main(args + ["--epochs", "2"])
    train(tiny_data, tmp_path, epochs=1, model_class=HeatmapNet, name="heatmap")  # another writer of the log
    assert "last_command" not in json.loads((tmp_path / "training_log.json").read_text())


def three_keypoint_data(tiny_data, root):
    """tiny_data with only head and feet: a 3-keypoint dataset in the course layout."""
    for split in ("train", "val"):
        data = json.loads((tiny_data / f"{split}_annotations.json").read_text())
        data["keypoint_names"], data["num_keypoints"] = ["head", "left_foot", "right_foot"], 3
        for record in data["images"]:
            record["keypoints"] = [record["keypoints"][k] for k in (0, 3, 4)]
        (root / f"{split}_annotations.json").write_text(json.dumps(data))
        (root / split).symlink_to(tiny_data / split)
    return root


def test_a_three_keypoint_dataset_trains_and_scores_end_to_end(tiny_data, tmp_path):
    from problem2.core.metrics import compute_pck
    from problem2.train import train_regression_model
    from problem2.training.loop import predict
    data = three_keypoint_data(tiny_data, tmp_path)
    cfg = TrainConfig(**CFG)
    for model, train_fn, output_type in ((HeatmapNet(num_keypoints=3), train_heatmap_model, "heatmap"),
                                         (RegressionNet(num_keypoints=3), train_regression_model, "regression")):
        loaders = make_loaders(data, output_type, 8)
        assert loaders[0].dataset[0][1].shape[0] == (3 if output_type == "heatmap" else 6)
        log = train_fn(model, *loaders, num_epochs=1, config=cfg, out_dir=tmp_path / "out")
        precision = runtime.resolve_precision("auto", torch.device("cpu"))
        pred = model_codec(model).decode(predict(model, loaders[1], torch.device("cpu"), precision)).numpy()
        gt = loaders[1].dataset.keypoints
        assert pred.shape == gt.shape == (12, 3, 2)  # validated on the 3 keypoints, scored the same way
        assert log["epochs"][0]["val_pck@0.05"] == compute_pck(pred, gt, [0.05])[0.05]
        assert log["epochs"][0]["val_mean_px"] == pytest.approx(float(np.linalg.norm(pred - gt, axis=-1).mean()))
    with pytest.raises(ValueError, match=r"outputs \[5, 64, 64\] per image but the data's targets are \[3, 64, 64\]"):
        train_heatmap_model(HeatmapNet(), *make_loaders(data, "heatmap", 8), num_epochs=1, config=cfg,
                            out_dir=tmp_path / "other")


def test_a_pruned_run_keeps_its_log_and_is_trained_again(tiny_data, tmp_path):
    from problem2.training.run_files import RunFiles
    first, _ = train(tiny_data, tmp_path, epochs=1, model_class=RegressionNet, name="regression")
    log_bytes = (tmp_path / "training_log.json").read_bytes()
    RunFiles(tmp_path, "regression").prune()
    # the log is left byte for byte (hashes recorded of it stay true); a marker file says the run was pruned
    assert (tmp_path / "training_log.json").read_bytes() == log_bytes
    assert (tmp_path / "regression.pruned").exists() and not (tmp_path / "regression_model.pth").exists()
    again, _ = train(tiny_data, tmp_path, epochs=1, model_class=RegressionNet, name="regression")
    assert timeless(again) == timeless(first) and (tmp_path / "regression_model.pth").exists()
    assert not (tmp_path / "regression.pruned").exists()


def test_checkpoints_carry_their_codec(tiny_data, tmp_path):
    from problem2.core.schema import REFERENCE_DIR
    from problem2.models.codec import HeatmapCodec, RegressionCodec
    from problem2.training.checkpoint import load_codec
    loaders = make_loaders(tiny_data, "heatmap", 8, heatmap_size=32, sigma=1.5)
    train_run(HeatmapNet(heatmap_size=32), *loaders, TrainConfig(epochs=1, **CFG), tmp_path, "heatmap", progress=False)
    assert load_codec(tmp_path / "heatmap_model.pth") == HeatmapCodec(32, 1.5)
    from problem2.training.checkpoint import load_model
    from problem2.training.objective import model_codec
    assert model_codec(load_model(tmp_path / "heatmap_model.pth")) == HeatmapCodec(32, 1.5)  # decodes with sigma 1.5
    assert model_codec(HeatmapNet(heatmap_size=32)) == HeatmapCodec(32, 2.0)  # a fresh model: the default sigma
    if (REFERENCE_DIR / "heatmap_model.pth").exists():  # written before checkpoints held a codec: derived
        assert load_codec(REFERENCE_DIR / "heatmap_model.pth") == HeatmapCodec(64, 2.0)
        assert load_codec(REFERENCE_DIR / "regression_model.pth") == RegressionCodec()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine: the CUDA path is not run")
def test_training_and_prediction_run_on_cuda(tiny_data, tmp_path):
    loaders = make_loaders(tiny_data, "heatmap", 8)
    log = train_run(HeatmapNet(), *loaders, TrainConfig(epochs=1, device="cuda", **CFG), tmp_path, "heatmap",
              progress=False)
    assert log["config"]["resolved_device"].startswith("cuda") and len(log["epochs"]) == 1
    assert load_model(tmp_path / "heatmap_model.pth")(torch.zeros(1, 1, 128, 128)).shape == (1, 5, 64, 64)
