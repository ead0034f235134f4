import pytest
import torch
import torch.nn as nn

from problem2.models.cost import count_flops, count_parameters, model_summary
from problem2.models.networks import HeatmapNet, RegressionNet, SoftArgmaxNet, build_model

X = torch.rand(2, 1, 128, 128)


def conv_layers(module):
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]


def test_encoder_matches_the_specification():
    enc = HeatmapNet().encoder
    feats = enc(X)
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 64, 64), (64, 32, 32), (128, 16, 16), (256, 8, 8)]
    convs = conv_layers(enc)
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (1, 32, (3, 3), (1, 1)), (32, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1)), (128, 256, (3, 3), (1, 1))]
    for stage in enc.stages:
        assert [type(m) for m in stage] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d]


def test_heatmapnet_default_decoder():
    net = HeatmapNet()
    assert net(X).shape == (2, 5, 64, 64)
    deconvs = [m for m in net.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(256, 128), (256, 64), (128, 32)]
    assert (net.final.in_channels, net.final.out_channels) == (32, 5)
    assert net(X).min() < 0  # no activation on the output


@pytest.mark.parametrize("size, skip, deconvs", [
    (32, True, [(256, 128), (256, 64)]),
    (128, True, [(256, 128), (256, 64), (128, 32), (64, 32)]),
    (64, False, [(256, 128), (128, 64), (64, 32)]),
    (128, False, [(256, 128), (128, 64), (64, 32), (32, 32)]),
])
def test_heatmapnet_variants_really_change_the_decoder(size, skip, deconvs):
    net = HeatmapNet(num_keypoints=3, heatmap_size=size, skip_connections=skip)
    assert net(X).shape == (2, 3, size, size)
    found = [(d.in_channels, d.out_channels) for d in net.decoder.modules() if isinstance(d, nn.ConvTranspose2d)]
    assert found == deconvs


def test_regressionnet_head():
    net = RegressionNet().eval()
    out = net(X)
    assert out.shape == (2, 10) and out.min() >= 0 and out.max() <= 1
    kinds = [type(m) for m in net.head]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.Sigmoid]
    assert [(l.in_features, l.out_features) for l in conv_layers(net.head)] == [(256, 128), (128, 64), (64, 10)]
    assert net.head[2].p == 0.5


def test_regression_variants():
    assert RegressionNet(pooling="flatten").head[0].in_features == 256 * 8 * 8
    assert RegressionNet(coord_channels=True).encoder.stages[0][0].in_channels == 3
    assert RegressionNet(dropout=0.0).head[2].p == 0.0
    assert RegressionNet(coord_channels=True)(X).shape == (2, 10)
    out = SoftArgmaxNet().eval()(X)
    assert out.shape == (2, 10) and out.min() >= 0 and out.max() < 1
    with pytest.raises(ValueError):
        RegressionNet(pooling="max")
    with pytest.raises(ValueError):
        HeatmapNet(heatmap_size=48)


def test_flops_and_parameters():
    # forward multiply-adds of the encoder, by hand: 128^2*1*32*9/4... per layer at its input resolution
    enc_macs = 128 * 128 * 32 * 9 + 64 * 64 * 32 * 64 * 9 + 32 * 32 * 64 * 128 * 9 + 16 * 16 * 128 * 256 * 9
    head_macs = 256 * 128 + 128 * 64 + 64 * 10
    assert count_flops(RegressionNet()) == 2 * (enc_macs + head_macs)
    dec_macs = 8 * 8 * 256 * 128 * 16 + 16 * 16 * 256 * 64 * 16 + 32 * 32 * 128 * 32 * 16 + 64 * 64 * 32 * 5
    assert count_flops(HeatmapNet()) == 2 * (enc_macs + dec_macs)
    assert count_parameters(RegressionNet()) == sum(p.numel() for p in RegressionNet().parameters())
    s = model_summary(HeatmapNet())
    assert s["name"] == "HeatmapNet" and s["parameters"] > 1_000_000 and 0.7 < s["gflops_per_image"] < 0.9


def test_build_model_round_trip():
    net = HeatmapNet(heatmap_size=32)
    again = build_model("HeatmapNet", **net.config)
    again.load_state_dict(net.state_dict())
    with pytest.raises(ValueError, match="unknown model"):
        build_model("ResNet")
