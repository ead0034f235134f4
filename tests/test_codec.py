import numpy as np
import pytest
import torch

from problem2.models import codec, conventions, decoding


def test_gaussian_peak_and_values_are_exact():
    sigma = 2.0
    h = conventions.gaussian_heatmaps(np.array([[10.0, 20.0]]), 64, 64, sigma)
    assert h.shape == (1, 64, 64) and h.dtype == np.float32
    assert h[0, 20, 10] == 1.0
    assert np.isclose(h[0, 20, 12], np.exp(-4 / (2 * sigma**2)))  # 2 px to the right
    assert np.isclose(h[0, 23, 10], np.exp(-9 / (2 * sigma**2)))  # 3 px down
    assert np.isclose(h[0, 21, 11], np.exp(-2 / (2 * sigma**2)))  # diagonal
    assert np.unravel_index(h[0].argmax(), h[0].shape) == (20, 10)  # (row=y, col=x)


def test_gaussian_is_cut_beyond_three_sigma_and_clipped_at_border():
    h = conventions.gaussian_heatmaps(np.array([[0.0, 0.0]]), 32, 32, 1.0)
    assert h[0, 0, 0] == 1.0 and h[0, 0, 3] > 0 and h[0, 0, 4] == 0.0
    assert h[0, 4:, :].sum() == 0.0


def test_keypoint_far_outside_gives_all_zero_map():
    h = conventions.gaussian_heatmaps(np.array([[-50.0, 10.0], [10.0, 200.0]]), 64, 64, 2.0)
    assert h.shape == (2, 64, 64) and not h.any()


def test_sigma_must_be_positive():
    with pytest.raises(ValueError, match="sigma"):
        conventions.gaussian_heatmaps(np.zeros((1, 2)), 8, 8, 0.0)


def test_image_heatmap_conversion_is_the_documented_scale():
    p = np.array([[127.0, 64.0]])
    assert np.allclose(conventions.image_to_heatmap(p, 64), [[63.5, 32.0]])
    assert np.allclose(conventions.image_to_heatmap(p, 32), [[31.75, 16.0]])
    assert np.allclose(conventions.heatmap_to_image(conventions.image_to_heatmap(p, 32), 32), p)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_round_trip_at_random_subpixel_positions(size):
    rng = np.random.default_rng(size)
    points = rng.uniform(0, 127, size=(200, 5, 2))
    maps = np.stack([conventions.gaussian_heatmaps(conventions.image_to_heatmap(p, size), size, size, 2.0) for p in points])
    maps = torch.from_numpy(maps)
    stride = 128 / size
    argmax = decoding.decode_heatmaps(maps, "argmax").numpy()
    sub = decoding.decode_heatmaps(maps, "subpixel").numpy()
    # argmax: the nearest heatmap pixel (clipped to the map), so within half a heatmap pixel per axis
    # (1 image px at 64x64) wherever the keypoint is inside the span of heatmap pixel centres
    nearest = np.clip(np.rint(conventions.image_to_heatmap(points, size)), 0, size - 1) * stride
    assert np.array_equal(argmax, nearest)
    inside = points <= (size - 1) * stride
    assert np.abs(argmax - points)[inside].max() <= stride / 2 + 1e-6
    assert np.abs(sub - points).max() < 0.05


@pytest.mark.parametrize("size", [32, 64, 128])
def test_subpixel_recovers_peaks_on_the_border_pixels(size):
    stride = 128 / size
    border = np.array([[0.3, 5.0], [127.0, 60.2], [40.7, 0.1], [90.0, 127.0], [0.0, 127.0]])
    maps = torch.from_numpy(conventions.gaussian_heatmaps(conventions.image_to_heatmap(border, size), size, size, 2.0))[None]
    sub = decoding.decode_heatmaps(maps, "subpixel")[0].numpy()
    assert np.abs(sub - border).max() < 0.05, (sub, border, stride)


def test_decode_never_softmaxes_and_rejects_unknown_method():
    maps = torch.zeros(1, 1, 8, 8)
    maps[0, 0, 6, 1] = 1.0  # a single hot pixel far from the centre stays where it is
    assert decoding.decode_heatmaps(maps, "argmax")[0, 0].tolist() == [1 * 16.0, 6 * 16.0]
    with pytest.raises(ValueError, match="method"):
        decoding.decode_heatmaps(maps, "softmax")


def test_regression_encoding_round_trip():
    p = np.array([[0, 0], [127, 64], [64, 127], [10, 20], [30, 40]], dtype=np.float32)
    enc = conventions.encode_regression(p)
    assert enc.shape == (10,) and enc[2] == pytest.approx(127 / 128) and enc[3] == pytest.approx(0.5)
    assert np.allclose(conventions.decode_regression(torch.from_numpy(enc)[None])[0].numpy(), p)


def test_two_hand_decoder_separates_hands_that_both_maps_hold():
    pts = np.array([[20, 20], [40.6, 61.2], [80.4, 62.2], [10, 100], [100, 100]])
    true = conventions.gaussian_heatmaps(conventions.image_to_heatmap(pts, 64), 64, 64, 2.0)
    maps = true.copy()
    mix = 0.5 * (true[1] + true[2])  # an MSE model on 50/50 labels learns this for both hands
    maps[1], maps[2] = mix, 0.9 * mix
    maps = torch.from_numpy(maps)[None]
    plain = decoding.decode_heatmaps(maps, "subpixel")[0].numpy()
    assert np.allclose(plain[1], plain[2], atol=1e-3)  # argmax sends both hands to one blob
    two = decoding.decode_hand_pair(maps)[0].numpy()
    found = two[1:3][np.argsort(two[1:3, 0])]
    assert np.allclose(found, pts[1:3], atol=0.05)
    assert np.allclose(two[[0, 3, 4]], pts[[0, 3, 4]], atol=0.05)


@pytest.mark.parametrize("size, sigma", [(32, 1.0), (64, 2.0), (128, 4.0)])
def test_heatmap_codec_round_trip(size, sigma):
    from problem2.models.codec import HeatmapCodec, codec_from_dict
    c = HeatmapCodec(size, sigma)
    points = np.array([[10.3, 20.7], [64.0, 64.0], [100.25, 3.5], [0.0, 127.0], [57.9, 88.1]])
    maps = c.encode(points)
    assert maps.shape == (5, size, size) and maps.max() <= 1.0
    decoded = c.decode(torch.from_numpy(maps)[None], "subpixel")[0].numpy()
    assert np.abs(decoded - points).max() < 0.05 * 128 / size
    assert codec_from_dict(c.to_dict()) == c and c.to_dict() == {"type": "heatmap", "heatmap_size": size, "sigma": sigma}


def test_regression_codec_round_trip_and_bad_codecs():
    from problem2.models.codec import HeatmapCodec, RegressionCodec, codec_from_dict
    c = RegressionCodec()
    points = np.array([[10.5, 20.25], [64.0, 127.0]])
    assert np.allclose(c.encode(points), [10.5 / 128, 20.25 / 128, 0.5, 127 / 128])
    assert np.allclose(c.decode(torch.from_numpy(c.encode(points))[None])[0].numpy(), points)
    assert codec_from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="heatmap_size must"):
        HeatmapCodec(7, 2.0)
    with pytest.raises(ValueError, match="sigma must"):
        HeatmapCodec(64, 0.1)


@pytest.mark.parametrize("size, sigma", [(32, 1.0), (64, 2.0), (128, 4.0), (64, 3.0)])
def test_the_window_fit_finds_gaussian_peaks_exactly_also_at_the_border(size, sigma):
    points = np.array([[10.3, 20.7], [0.2, size / 2 + 0.9], [size - 1.1, size - 0.6], [size / 4 + 0.5, 3.0]])
    maps = torch.from_numpy(conventions.gaussian_heatmaps(points, size, size, sigma))[None].float()
    found = decoding.window_fit_refine(maps, decoding.fit_radius(sigma))[0].numpy()
    assert np.abs(found - points).max() < 1e-4


def test_the_window_fit_is_less_sensitive_to_map_noise_than_the_3x3_step_on_wide_peaks():
    """The mechanism of the report's 'decoder, not the grid': sigma 4 heatmap px, 1% multiplicative noise."""
    rng = np.random.default_rng(0)
    points = rng.uniform(20, 108, size=(64, 2))
    maps = torch.from_numpy(conventions.gaussian_heatmaps(points, 128, 128, 4.0)).float()
    noisy = (maps * torch.from_numpy(1 + 0.01 * rng.standard_normal(maps.shape)).float())[None]
    newton = np.linalg.norm(decoding.subpixel_refine(noisy)[0].numpy() - points, axis=-1).mean()
    fitted = np.linalg.norm(decoding.window_fit_refine(noisy, 4)[0].numpy() - points, axis=-1).mean()
    assert fitted < newton / 3


def test_a_codec_fits_over_its_own_sigma():
    points = np.array([[40.2, 70.6]])
    for sigma in (1.0, 4.0):
        heatmap_codec = codec.HeatmapCodec(128, sigma)
        maps = torch.from_numpy(heatmap_codec.encode(points))[None]
        assert np.abs(heatmap_codec.decode(maps, "fit")[0].numpy() - points).max() < 1e-3


def test_a_codec_subclass_that_would_reload_as_its_parent_is_refused_when_saved():
    from dataclasses import dataclass

    from problem2.models.codec import HeatmapCodec, codec_record

    @dataclass(frozen=True)
    class WideHeatmap(HeatmapCodec):  # kept HeatmapCodec's name and to_dict: its record rebuilds a HeatmapCodec
        extra: int = 3

    with pytest.raises(ValueError, match="WideHeatmap.to_dict\\(\\) gives .* which rebuilds HeatmapCodec"):
        codec_record(WideHeatmap(64, 2.0))
    assert codec_record(HeatmapCodec(32, 1.0)) == {"type": "heatmap", "heatmap_size": 32, "sigma": 1.0}


def test_runs_list_names_each_codecs_real_loss(capsys):
    from problem2.experiments.command import main as runs_main
    runs_main(["list"])
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "loss=mse " in lines["main_heatmap"] and "loss=l1 " in lines["side_regression_l1"]
    assert "loss=kl " in lines["head_simcc"] and "loss=laplace-nll " in lines["head_rle"]
    assert "loss=kl+swapmin " in lines["swapmin_head_simcc"] and "schedule=cosine" in lines["factor_map_do0_cos_rf238"]


def test_sigma_has_one_spelling_the_model_config_and_one_owner_the_codec():
    """A heatmap run's target width is a HeatmapNet argument like SimCC's: recorded in model_config (only when not
    the specification's 2, so that older records stay the same run) and carried by the model's codec, which makes
    the targets and decodes."""
    from problem2.experiments.registry import all_runs
    from problem2.models.networks import HeatmapNet, build_model
    from problem2.training.loop import TrainConfig
    assert "sigma" not in HeatmapNet().config and HeatmapNet().codec.sigma == 2.0
    runs = all_runs(TrainConfig())
    for run_id, sigma in (("ablation_sigma1", 1.0), ("ablation_res128_sigma4_seed2", 4.0), ("main_heatmap", 2.0)):
        spec = runs[run_id]
        model = build_model(spec.model, **spec.model_config)
        assert model.codec.sigma == sigma and model.config.get("sigma", 2.0) == sigma
        assert not hasattr(spec, "sigma")
