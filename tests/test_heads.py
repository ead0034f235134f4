"""The heatmap-free heads (problem2/heads/) and the codec seam: exact encode/decode round trips, each loss smallest at
its target, the hand-swap-min loss blind to the swap, and a new head defined here that trains, evaluates, saves,
loads and predicts through the public API without touching a project file."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from problem2.__main__ import main
from problem2.core import metrics
from problem2.data.keypoints import load_split, loader
from problem2.models import conventions
from problem2.models.codec import Codec, HeatmapCodec, RegressionCodec, codec_from_dict, register_codec
from problem2.models.heads import IntegralNet, LaplaceCodec, RLENet, SimCCCodec, SimCCNet
from problem2.models.networks import register_model, spatial_expectation
from problem2.studies.evaluation import predict_keypoints
from problem2.training.checkpoint import load_model
from problem2.training.loop import TrainConfig
from problem2.training.objective import hand_swap_min, objective_for
from problem2.training.run import train_run

POINTS = np.array([[64, 20], [30.5, 60], [97, 61.5], [50, 120], [80, 125]], dtype=np.float32)  # [K, 2] image px


def test_simcc_round_trip_is_exact_on_bins_and_the_expectation_in_the_interior():
    c = SimCCCodec(bins_per_px=2, sigma=2.0)
    target = torch.from_numpy(c.encode(POINTS))[None]  # [1, 5, 2, 256], each row a distribution
    assert target.shape == (1, 5, 2, 256) and torch.allclose(target.sum(-1), torch.ones(1, 5, 2))
    logits = torch.log(target)
    assert torch.equal(c.decode(logits, "argmax")[0], torch.from_numpy(POINTS))  # half pixels are bins too
    interior = [0, 1, 2]  # 3 sigma from both edges; the feet's Gaussians are cut by the image's bottom
    assert torch.allclose(c.decode(logits, "expectation")[0, interior], torch.from_numpy(POINTS[interior]), atol=1e-3)
    assert codec_from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="decoding must be one of"):
        c.decode(logits, "subpixel")


def test_each_loss_is_smallest_at_its_target():
    simcc = SimCCCodec()
    target = torch.from_numpy(simcc.encode(POINTS))[None]
    at_target = simcc.loss(torch.log(target), target)
    shifted = simcc.loss(torch.log(torch.roll(target, 3, dims=-1)), target)
    assert at_target.item() == pytest.approx(0.0, abs=1e-5) and shifted.item() > 0.1
    laplace = LaplaceCodec()
    y = torch.from_numpy(laplace.encode(POINTS))[None]  # [1, 10] normalised
    raw_scale = torch.full_like(y, -2.0)
    losses = [laplace.loss(torch.cat([y + d, raw_scale], 1), y).item() for d in (-0.02, -0.01, 0.0, 0.01, 0.02)]
    assert losses.index(min(losses)) == 2 and losses[1] > losses[2] < losses[3]
    assert torch.allclose(laplace.decode(torch.cat([y, raw_scale], 1))[0], torch.from_numpy(POINTS), atol=1e-4)
    b = F.softplus(torch.tensor(-2.0)) + 1e-4  # at the mean the loss is log(2b): the learned scale's own term
    assert losses[2] == pytest.approx(float(torch.log(2 * b)), rel=1e-5)


@pytest.mark.parametrize("c", [HeatmapCodec(64, 2.0), RegressionCodec(), SimCCCodec(), LaplaceCodec()],
                         ids=["heatmap", "regression", "simcc", "laplace"])
def test_the_swap_min_loss_is_blind_to_the_hand_swap(c):
    swapped_points = POINTS[[0, 2, 1, 3, 4]]
    targets = torch.from_numpy(np.stack([c.encode(POINTS), c.encode(swapped_points)]))
    near = np.stack([POINTS + 1.5, POINTS - 1.0])
    outputs = torch.from_numpy(np.stack([c.encode(p) for p in near]))
    if isinstance(c, SimCCCodec):
        outputs = torch.log(outputs.clamp_min(1e-12))
    if isinstance(c, LaplaceCodec):
        outputs = torch.cat([outputs, torch.zeros_like(outputs)], 1)
    assert torch.equal(c.swap_keypoints(c.swap_keypoints(targets, 1, 2), 1, 2), targets)
    loss = hand_swap_min(c.loss_per_image, c)
    assert torch.allclose(loss(outputs, targets), loss(outputs, c.swap_keypoints(targets, 1, 2)))
    # image 0's labels match the outputs, image 1's are swapped: swap-min scores both as the match
    plain = c.loss_per_image(outputs, targets)
    assert loss(outputs, targets)[0] == plain[0] and loss(outputs, targets)[1] < plain[1]
    swapped_loss = objective_for(nn.Identity(), "mse+swapmin", c).loss(outputs, targets)
    assert torch.allclose(swapped_loss, loss(outputs, targets).mean())


def test_integral_grid_reaches_the_image_edges():
    net = IntegralNet()
    logits = torch.full((1, 5, 8, 8), -50.0)
    logits[0, :, 0, 7] = 50.0  # every keypoint's mass in the top-right cell
    out = conventions.decode_regression(spatial_expectation(logits, net.grid, net.grid))
    assert torch.allclose(out[0], torch.tensor([[127.5, -0.5]] * 5), atol=1e-3)


@pytest.mark.parametrize("model", [IntegralNet(), SimCCNet(), SimCCNet(pooling="avg"), RLENet()],
                         ids=["integral", "simcc", "simcc_gap", "rle"])
def test_every_head_costs_what_regression_costs_and_decodes_to_points(model):
    from problem2.models.cost import count_flops
    from problem2.models.networks import RegressionNet
    assert count_flops(model) <= 1.01 * count_flops(RegressionNet())  # the same encoder; heads are cheap
    out = model.eval()(torch.rand(3, 1, 128, 128))
    assert model.codec.decode(out).shape == (3, 5, 2)
    assert out.shape[1:] == model.codec.output_shape(tuple(torch.from_numpy(model.codec.encode(POINTS)).shape))


# ---------------------------------------------------------------- a new head, defined here and nowhere else

@register_codec
@dataclass(frozen=True)
class CentredCodec(Codec):
    """Toy representation: (x, y) relative to the image centre in units of 64 px, a smooth-L1 loss."""
    name = "test_centred"

    def encode(self, keypoints):
        return ((np.asarray(keypoints, np.float32) - 63.5) / 64).reshape(-1)

    def loss_per_image(self, outputs, targets):
        return F.smooth_l1_loss(outputs.float(), targets, reduction="none").mean(1)

    def decode(self, outputs, method="argmax"):
        return outputs.float().reshape(outputs.shape[0], -1, 2) * 64 + 63.5

    def to_dict(self):
        return {"type": self.name}


@register_model
class TinyCentredNet(nn.Module):
    def __init__(self, num_keypoints: int = 5):
        super().__init__()
        self.config = dict(num_keypoints=num_keypoints)
        self.num_keypoints = num_keypoints
        self.body = nn.Sequential(nn.Conv2d(1, 8, 5, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.out = nn.Linear(128, 2 * num_keypoints)
        self.codec = CentredCodec()

    def forward(self, x):
        return self.out(self.body(x))


def test_a_new_head_trains_evaluates_and_predicts_through_the_public_api(tiny_data, tmp_path):
    torch.manual_seed(0)
    model = TinyCentredNet()
    train = loader(load_split(tiny_data, "train", model.codec), 8, shuffle=True)
    val_set = load_split(tiny_data, "val", model.codec)
    assert val_set[0][1].shape == (10,) and val_set.output_type == "test_centred"
    log = train_run(model, train, loader(val_set, 8), TrainConfig(epochs=2), tmp_path, "toy", progress=False)
    # the codec's loss was the training loss: the best epoch's validation loss is smooth L1 on these outputs
    points, outputs = predict_keypoints(model, val_set.image_tensor())
    targets = torch.stack([val_set[i][1] for i in range(len(val_set))])
    assert log["best_val_loss"] == pytest.approx(float(model.codec.loss(outputs, targets)), rel=1e-4)
    assert points.shape == (12, 5, 2) and np.isfinite(metrics.compute_pck(points, val_set.keypoints, [0.2])[0.2])
    # the checkpoint records the codec and loads as the same model
    sidecar = json.loads((tmp_path / "toy_model.json").read_text())
    assert sidecar["codec"] == {"type": "test_centred"} and sidecar["model_class"] == "TinyCentredNet"
    again = load_model(tmp_path / "toy_model.pth")
    assert isinstance(again.codec, CentredCodec)
    main(["predict", str(tmp_path / "toy_model.pth"), str(tiny_data / "val"), "--out", str(tmp_path / "out"),
          "--no-overlays"])
    written = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert written["decoding"] == "test_centred" and len(written["images"]) == 12
    by_name = dict(zip(val_set.file_names, points))
    for record in written["images"]:
        assert np.allclose(record["keypoints"], np.clip(by_name[record["file_name"]], -0.5, 127.5), atol=0.01)


@pytest.mark.parametrize("head", ["integral", "simcc", "simcc_gap", "rle"])
def test_the_committed_best_checkpoint_of_each_head_predicts_course_schema_json(head, tiny_data, tmp_path):
    """Anyone can score a committed head on data of their own: `predict` writes the course's annotation schema."""
    from problem2.core.schema import REFERENCE_DIR
    found = sorted((REFERENCE_DIR / "runs").glob(f"head_{head}*/{head}_model.pth"))
    if not found:
        pytest.skip(f"no committed checkpoint of {head}")
    main(["predict", str(found[0]), str(tiny_data / "test"), "--out", str(tmp_path), "--no-overlays"])
    written = json.loads((tmp_path / "predictions.json").read_text())
    truth = {r["file_name"]: r["keypoints"] for r in json.loads((tiny_data / "test_annotations.json").read_text())["images"]}
    pred = np.array([r["keypoints"] for r in written["images"]])
    gt = np.array([truth[r["file_name"]] for r in written["images"]], dtype=float)
    assert written["keypoint_names"] == ["head", "left_hand", "right_hand", "left_foot", "right_foot"]
    assert pred.shape == (12, 5, 2) and np.isfinite(pred).all()
    # the spatial heads find generated figures (hands scored swap-invariant); the pooled ones at least see them
    pck = metrics.compute_pck(metrics.align_hands(pred, gt), gt, [0.2])[0.2]
    assert pck >= (0.8 if head in ("integral", "simcc") else 0.3)


def test_rle_flow_density_integrates_to_one_and_its_loss_prefers_the_target():
    from problem2.models.heads.rle_flow import RealNVP2D, RLEFlowNet
    torch.manual_seed(0)
    flow = RealNVP2D()
    with torch.no_grad():  # a trained-looking flow: its couplings move the density away from N(0, I)
        for p in flow.parameters():
            p.mul_(1.5)
        standard = -0.5 * (torch.ones(1, 2) ** 2).sum() - torch.log(torch.tensor(2 * torch.pi))
        assert abs(float(flow.log_prob(torch.ones(1, 2))[0] - standard)) > 0.05
    edges = torch.linspace(-12, 12, 481)
    centres = (edges[1:] + edges[:-1]) / 2
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        mass = flow.log_prob(grid).exp().sum() * (edges[1] - edges[0]) ** 2
    assert float(mass) == pytest.approx(1.0, abs=0.02)  # a density: the change of variables is right
    model = RLEFlowNet(dropout=0.0)
    targets = torch.rand(3, 10) * 0.5 + 0.25
    scales = torch.full((3, 10), -3.0)
    at = model.loss_per_image(torch.cat([targets, scales], 1), targets)
    off = model.loss_per_image(torch.cat([targets + 0.05, scales], 1), targets)
    assert at.shape == (3,) and torch.all(at < off)
    assert RLEFlowNet(dropout=0.0, context_dilations=(2, 4))(torch.zeros(2, 1, 128, 128)).shape == (2, 20)


def test_head_contrasts_take_their_interval_over_seeds_and_images():
    """Welch + Holm decide; the interval comes from the per-image scores when the study has them: a decoder that
    wins on every image of every seed by 0.25 has the interval [0.25, 0.25]."""
    import numpy as np

    from problem2.studies.heads import CONTRASTS, HeadRow, contrasts
    keys = {k for a, b, _ in CONTRASTS for k in (a, b)}
    rows = [HeadRow(k, k, "spatial", "coordinate", False, {"course": [], "side": []}, [],
                    {"course": [0.5, 0.5, 0.5], "course_swap": [0.5, 0.5, 0.5], "side": [0.75 if k == "heatmap" else
                                                                                           0.5] * 3},
                    {"course": [], "side": []}, 1, 0.5, 1.0, None) for k in sorted(keys)]
    images = {k: {"side": np.full((3, 4), 0.75 if k == "heatmap" else 0.5), "course_swap": np.full((3, 4), 0.5)}
              for k in keys}
    decoder = next(c for c in contrasts(rows, images) if (c.a, c.b, c.labels) == ("heatmap", "simcc", "side"))
    assert (decoder.diff, decoder.low, decoder.high) == (0.25, 0.25, 0.25)
