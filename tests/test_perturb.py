"""Perturbations: keypoints move exactly with the image, flips swap sides, photometry leaves keypoints alone,
everything is deterministic for a seed; and the robustness suite's scoring rules."""
import numpy as np
import pytest

from problem2.core.schema import LEFT_FOOT, LEFT_HAND, REFERENCE_DIR, RIGHT_FOOT, RIGHT_HAND
from problem2.data import perturb as P
from problem2.data.generate import CENTRE_RANGE, render_figure, sample_keypoints
from problem2.studies.robustness import Robustness, inside_image, run_robustness, scores, suite

KEYPOINTS = np.array([[50.0, 40.0], [30.0, 60.0], [90.0, 62.0], [40.0, 100.0], [70.0, 100.0]])
GEOMETRIC = {"shift": P.shift(7, -3), "shift 16 px": P.shift_any_direction(16), "scale 0.8": P.scale(0.8),
             "scale 1.2": P.scale(1.2), "rotate 30": P.rotate(30), "rotate ±15": P.rotate(15, either_way=True),
             "flip": P.hflip()}


def dot_image(x: int, y: int) -> np.ndarray:
    image = np.ones((128, 128))
    image[y, x] = 0.0
    return image


@pytest.mark.parametrize("name", GEOMETRIC)
def test_a_one_pixel_dot_stays_under_its_keypoint(name):
    rng = np.random.default_rng(0)
    image, moved, hidden = GEOMETRIC[name](dot_image(50, 40), KEYPOINTS, rng)
    head = moved[0]  # the head is not swapped by a flip
    darkness = 1 - image
    ys, xs = np.mgrid[0:128, 0:128]
    centroid = np.array([(darkness * xs).sum(), (darkness * ys).sum()]) / darkness.sum()
    assert np.abs(centroid - head).max() < 0.2
    row, col = np.unravel_index(np.argmin(image), image.shape)
    assert (col, row) == tuple(np.rint(head).astype(int))
    assert hidden is None


def test_exact_geometry():
    rng = np.random.default_rng(0)
    _, moved, _ = P.shift(7, -3)(np.ones((128, 128)), KEYPOINTS, rng)
    assert np.array_equal(moved, KEYPOINTS + [7, -3])
    _, moved, _ = P.rotate(90)(np.ones((128, 128)), KEYPOINTS, rng)  # counter-clockwise on screen, about 63.5
    assert moved[0] == pytest.approx([63.5 + (40 - 63.5), 63.5 - (50 - 63.5)])
    _, moved, _ = P.scale(2)(np.ones((128, 128)), KEYPOINTS, rng)
    assert moved[0] == pytest.approx(63.5 + 2 * (KEYPOINTS[0] - 63.5))


def test_a_flip_mirrors_x_and_swaps_left_and_right():
    image = render_figure(KEYPOINTS.astype(int)) / 255.0
    flipped, moved, _ = P.hflip()(image, KEYPOINTS, np.random.default_rng(0))
    assert np.array_equal(flipped, image[:, ::-1])
    mirrored = KEYPOINTS * [-1, 1] + [127, 0]
    assert np.array_equal(moved[0], mirrored[0])
    for left, right in ((LEFT_HAND, RIGHT_HAND), (LEFT_FOOT, RIGHT_FOOT)):
        assert np.array_equal(moved[left], mirrored[right]) and np.array_equal(moved[right], mirrored[left])
    assert moved[LEFT_FOOT, 0] < moved[RIGHT_FOOT, 0]  # the left foot is still the one on the image's left


@pytest.mark.parametrize("transform, black, white", [
    (P.contrast(0.5), 0.5, 1.0), (P.brightness(-0.25), 0.0, 0.75), (P.invert(), 1.0, 0.0),
    (P.gaussian_noise(0.1), None, None), (P.blur(1.0), None, None)])
def test_photometric_transforms_leave_keypoints_alone(transform, black, white):
    image = render_figure(KEYPOINTS.astype(int)) / 255.0
    out, moved, hidden = transform(image, KEYPOINTS, np.random.default_rng(0))
    assert np.array_equal(moved, KEYPOINTS) and hidden is None and out.shape == image.shape
    assert 0 <= out.min() and out.max() <= 1
    if black is not None:
        assert out[image == 0] == pytest.approx(black) and out[image == 1] == pytest.approx(white)


def test_blur_keeps_the_mass_of_a_dot():
    out, _, _ = P.blur(2.0)(dot_image(50, 40), KEYPOINTS, np.random.default_rng(0))
    assert (1 - out).sum() == pytest.approx(1.0) and np.argmin(out) == 40 * 128 + 50


def test_occlusion_hides_one_keypoint_under_background():
    image = render_figure(KEYPOINTS.astype(int)) / 255.0
    out, moved, hidden = P.occlude(9)(image, KEYPOINTS, np.random.default_rng(3))
    assert hidden.sum() == 1 and np.array_equal(moved, KEYPOINTS)
    x, y = KEYPOINTS[hidden][0].astype(int)
    assert np.all(out[y - 4:y + 5, x - 4:x + 5] == 1.0)
    assert np.array_equal(out[image != out], np.ones((image != out).sum()))  # only ink was removed


def test_line_width_redraws_the_same_figure():
    out, moved, _ = P.line_width(5)(None, KEYPOINTS, np.random.default_rng(0))
    assert np.array_equal(out, render_figure(KEYPOINTS.astype(int), 5) / 255.0)
    assert (out == 0).sum() > (render_figure(KEYPOINTS.astype(int)) == 0).sum()


def test_off_centre_figures_lie_beyond_the_training_centres_and_inside_the_image():
    for seed in range(20):
        out, kp, _ = P.off_centre(13, 24)(np.ones((128, 128)), KEYPOINTS, np.random.default_rng(seed))
        centre = kp[0] + [0, 20]
        beyond = np.maximum(CENTRE_RANGE[0] - centre, centre - CENTRE_RANGE[1]).max()
        assert 13 <= beyond <= 24 and kp.min() >= 0 and kp.max() <= 127
        assert np.array_equal(out, render_figure(kp.astype(int)) / 255.0)


def test_every_perturbation_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    keypoints = np.stack([sample_keypoints(rng) for _ in range(3)])
    images = np.stack([render_figure(k) for k in keypoints])
    for perturbation in suite():
        a = P.apply_to_set(perturbation, images, keypoints, seed=5)
        b = P.apply_to_set(perturbation, images, keypoints, seed=5)
        first = P.apply_to_set(perturbation, images[:1], keypoints[:1], seed=5)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), perturbation.name
        assert np.array_equal(a[0][:1], first[0]), perturbation.name  # an image's randomness is its own
        assert a[0].dtype == np.uint8
    noise = P.Perturbation("noise", "sd 0.1", "photometric", P.gaussian_noise(0.1))
    assert not np.array_equal(P.apply_to_set(noise, images, keypoints, 5)[0],
                              P.apply_to_set(noise, images, keypoints, 6)[0])


def test_scores_count_only_keypoints_inside_the_image():
    gt = np.array([[[10.0, 10.0], [20.0, 10.0], [10.0, 30.0], [30.0, 30.0], [-5.0, 40.0]]])  # bbox diag 46.1
    pred = gt + np.array([[[0, 0], [1, 0], [4, 0], [0, 9], [50, 0]]])
    inside = inside_image(gt)
    assert inside.tolist() == [[True, True, True, True, False]]
    s = scores(pred, gt, inside)
    assert s["pck@0.05"] == 2 / 4 and s["pck@0.2"] == 1.0 and s["mean_px"] == (0 + 1 + 4 + 9) / 4
    assert np.isnan(scores(pred, gt, np.zeros_like(inside))["pck@0.05"])


def test_suite_end_to_end_on_the_committed_models(tiny_data, tmp_path):
    if not (REFERENCE_DIR / "heatmap_model.pth").exists():
        pytest.skip("no committed reference checkpoint")
    models = {"HeatmapNet": str(REFERENCE_DIR / "heatmap_model.pth"),
              "RegressionNet": str(REFERENCE_DIR / "regression_model.pth")}
    chosen = [p for p in suite() if p.name in ("flip horizontal", "invert", "occlusion 15 px")]
    result = run_robustness(tiny_data, tmp_path, models, chosen, n_images=6)
    assert [r.name for r in result.rows] == ["clean", "flip horizontal", "invert", "occlusion 15 px"]
    assert result.clean("HeatmapNet", "pck@0.05") >= 0.8
    assert result.row("flip horizontal").scores["HeatmapNet"]["pck@0.05"] >= 0.8  # a flip is no harder
    assert result.row("invert").scores["HeatmapNet"]["pck@0.05"] < 0.5  # trained on dark-on-light only
    occ = result.row("occlusion 15 px")
    assert occ.hidden and occ.visible and occ.outside == 0.0
    assert Robustness.load(tmp_path / "robustness.json") == result
    assert (tmp_path / "visualizations" / "robustness.png").exists()


def test_the_report_judges_augmentation_by_seed_noise_and_lists_the_misses():
    from problem2.core import stats
    from problem2.report.robustness import augmentation_findings, clean_comparisons
    from problem2.studies.robustness import RobustnessRow
    labels = ("HeatmapNet", "HeatmapNet augmented")
    row = lambda name, a, b: RobustnessRow(name, "-", "photometric", 0.0, {  # noqa: E731
        labels[0]: {"pck@0.05": a}, labels[1]: {"pck@0.05": b}})
    per_seed = lambda values: {str(i): {"pck@0.05": v} for i, v in enumerate(values)}  # noqa: E731
    seeds = {labels[0]: {"summary": {"pck@0.05": [0.84, 0.02, 3]}, "per_seed": per_seed([0.82, 0.84, 0.86])},
             labels[1]: {"summary": {"pck@0.05": [0.80, 0.01, 3]}, "per_seed": per_seed([0.79, 0.80, 0.81])}}
    result = Robustness("test", 4, 0, dict.fromkeys(labels, "x.pth"), ["pck@0.05"],
                        [row("clean", 0.84, 0.80), row("blur", 0.60, 0.78), row("invert", 0.02, 0.70),
                         row("line width", 0.80, 0.81)], clean_seeds=seeds,
                        augmentation={labels[1]: {"blur": [2.0, 0.3]}})
    c = clean_comparisons(result)[(labels[1], labels[0])]
    expected = stats.welch([0.79, 0.80, 0.81], [0.82, 0.84, 0.86])
    assert (c.diff, c.low, c.high, c.p) == pytest.approx((-0.04, expected.low, expected.high, expected.p))
    assert 0.05 < c.p < 0.06 and not c.beyond_noise  # -0.04 with 3 seeds a side: not beyond seed noise
    seen, judged = augmentation_findings(result).split("\n")
    assert "families blur" in seen and "only invert and line width are new" in seen
    assert f"a difference of -0.040 [{c.low:+.3f}, {c.high:+.3f}] (within seed noise)" in judged
    assert "within 0.05 of its clean score under 2 of 3 perturbations; not under invert (-0.100)" in judged


def test_the_report_compares_aimed_with_random_cutouts_on_the_hidden_keypoint():
    from problem2.report.robustness import AIMED, AUGMENTED, augmentation_findings
    from problem2.studies.robustness import RobustnessRow
    models = ("HeatmapNet", AUGMENTED["HeatmapNet"], AIMED)
    pck = lambda *values: {m: {"pck@0.05": v} for m, v in zip(models, values)}  # noqa: E731
    rows = [RobustnessRow("clean", "-", "-", 0.0, pck(0.84, 0.83, 0.82)),
            RobustnessRow("occlusion", "15 px", "content", 0.0, pck(0.67, 0.68, 0.80),
                          hidden=pck(0.03, 0.01, 0.45), visible=pck(0.83, 0.84, 0.82))]
    result = Robustness("test", 4, 0, dict.fromkeys(models, "x.pth"), ["pck@0.05"], rows,
                        cutout_hide_rate={models[1]: 0.009, AIMED: 0.155})
    occlusion = ("- **Why occlusion", "- **Cutouts aimed", "- **Where the hidden")  # the appendix's occlusion bullets
    bullets = lambda: [b for b in augmentation_findings(result).split("\n") if b.startswith(occlusion)]  # noqa: E731
    random_cutout, aimed = bullets()
    assert "hides a keypoint in only 0.9% of augmented training items" in random_cutout
    assert "hidden keypoint in 0.010 of the images (without augmentation 0.030)" in random_cutout
    assert "in 15.5% of training items" in aimed and "0.450 of the images (+0.440 against random cutouts)" in aimed
    assert "teach it to place them" in aimed
    rows[1].hidden[AIMED] |= {"pck@0.05": 0.05, "pck@0.2": 0.8, "y_abs_px": 6.0, "y_bias_px": -5.9}
    result.augmentation = {AIMED: {"cutout": [15, 0.3], "aimed_cutout": 0.5}}
    _, aimed, shift = bullets()
    assert "do not teach it" in aimed
    assert "mean signed y error of -5.9 px" in shift and "buries the keypoint 7 px from every edge; 0.01%" in shift
    rows[1].hidden[AIMED]["y_bias_px"] = 0.5  # scatter, not a shift: no such sentence
    assert len(bullets()) == 2
    del result.cutout_hide_rate[AIMED]  # the aimed model not trained: the random-cutout finding alone
    assert len(bullets()) == 1
