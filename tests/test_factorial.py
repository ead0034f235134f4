"""The why-factorial: the two-level bootstrap on hand-computed cases, the decomposition's algebra, the schedule and
the checkpoint-selection rule on a tiny run, and the factorial's models."""
import math

import numpy as np
import pytest
import torch
from conftest import log_entry

from problem2.core import stats, storage
from problem2.data.keypoints import dataset_fingerprint, evaluation_split, load_split, make_loaders
from problem2.experiments.command import main as runs_main
from problem2.experiments.registry import FACTORS, factorial_cells, factorial_heatmap_run, factorial_run
from problem2.models.cost import count_flops, receptive_field
from problem2.models.networks import RegressionNet
from problem2.studies.factorial import ALL, SPEC, Factorial, effects, per_image, run_factorial, shapley, stored
from problem2.training.checkpoint import load_checkpoint
from problem2.training.loop import TrainConfig, learning_rate
from problem2.training.run import train_run

# ---------------------------------------------------------------- the bootstrap over seeds and images


def frequencies(draws) -> dict:
    values, counts = np.unique(np.round(draws, 6), return_counts=True)
    return dict(zip(values.tolist(), (counts / counts.sum()).tolist()))


def test_seeds_are_resampled_within_each_group():
    # two seeds, one scoring 0 on both images and one scoring 1: a replicate draws the seeds (0, 0), (0, 1), (1, 0)
    # or (1, 1), so its mean is 0, 0.5 or 1 with probabilities 1/4, 1/2, 1/4, whatever images it draws
    draws = stats.hierarchical_bootstrap({"a": [[0, 0], [1, 1]]}, n_boot=20000)["a"]
    got = frequencies(draws)
    assert set(got) == {0.0, 0.5, 1.0}
    assert got[0.0] == pytest.approx(0.25, abs=0.015) and got[0.5] == pytest.approx(0.5, abs=0.015)


def test_images_are_resampled_and_shared_between_groups():
    # one seed scoring 0 and 1 on two images: the image draw alone spreads the mean over 0, 0.5, 1 ...
    draws = stats.hierarchical_bootstrap({"a": [[0, 1]], "b": [[0, 1]], "c": [[1, 0]]}, n_boot=20000)
    assert frequencies(draws["a"])[0.5] == pytest.approx(0.5, abs=0.015)
    # ... and the same draw serves every group: a - b is exactly 0 in every replicate, a + c exactly 1
    assert np.all(draws["a"] == draws["b"]) and np.allclose(draws["a"] + draws["c"], 1.0)


def test_interval_and_verdict_words():
    ci = stats.interval(0.1, np.linspace(0.02, 0.2, 1001))
    assert ci["low"] == pytest.approx(0.02 + 0.18 * 0.025) and ci["excludes_zero"]
    assert stats.verdict(ci, 5) == "established"
    wide = stats.interval(0.01, np.linspace(-0.1, 0.2, 1001))
    assert not wide["excludes_zero"] and stats.verdict(wide, 5) == "not established (n = 5)"


def test_groups_of_other_images_are_refused():
    with pytest.raises(ValueError, match="same images"):
        stats.hierarchical_bootstrap({"a": [[0, 1]], "b": [[0, 1, 1]]})


# ---------------------------------------------------------------- the decomposition


def additive(levels) -> float:  # readout adds 0.4, dropout 0.1, schedule 0, field 0.2: no interaction
    return 0.1 + 0.4 * levels[0] + 0.1 * levels[1] + 0.2 * levels[3]


def test_shapley_of_an_additive_table_is_each_factors_step():
    values = {c: additive(c) for c in factorial_cells()}
    got = shapley(values)
    assert got == pytest.approx({"readout": 0.4, "dropout": 0.1, "schedule": 0.0, "field": 0.2})
    assert sum(got.values()) == pytest.approx(values[ALL] - values[SPEC])


def test_shapley_splits_a_pure_interaction_evenly():
    # the score rises by 0.6 only when the readout and the field are both changed: neither alone does anything
    values = {c: 0.6 * (c[0] and c[3]) for c in factorial_cells()}
    got = shapley(values)
    assert got == pytest.approx({"readout": 0.3, "dropout": 0.0, "schedule": 0.0, "field": 0.3})


def test_factorial_effects_by_hand():
    values = {c: 0.6 * (c[0] and c[3]) + 0.1 * c[1] for c in factorial_cells()}
    got = effects(values)
    # readout: 0.6 in the half of its level-1 cells where field = 1, else 0 -> mean 0.3; dropout 0.1
    assert got["readout"] == pytest.approx(0.3) and got["field"] == pytest.approx(0.3)
    assert got["dropout"] == pytest.approx(0.1) and got["schedule"] == pytest.approx(0.0)
    # readout x field: half of (readout's effect at field 1, 0.6, minus at field 0, 0) = 0.3; the rest 0
    assert got["readout x field"] == pytest.approx(0.3) and got["readout x dropout"] == pytest.approx(0.0)


def test_factorial_runs_are_named_by_their_levels():
    assert len(factorial_cells()) == 16 and factorial_cells()[0] == (0, 0, 0, 0)
    assert factorial_run((0, 0, 0, 0)) == "factor_pool_do50_const_rf46"
    assert factorial_run((1, 1, 1, 1), 3) == "factor_map_do0_cos_rf238_seed3"
    assert list(FACTORS) == ["readout", "dropout", "schedule", "field"]


# ---------------------------------------------------------------- the factorial's models and schedule


def test_receptive_fields():
    assert receptive_field() == 46  # 3 -> 4 -> 8 -> 10 -> 18 -> 22 -> 38 -> 46
    assert receptive_field((2, 4)) == 46 + 2 * 2 * 16 + 2 * 4 * 16 == 238


def test_spatial_readout_keeps_the_width_and_the_cost():
    pooled, spatial = RegressionNet(), RegressionNet(pooling="spatial")
    assert spatial.head[0].in_features == pooled.head[0].in_features == 256
    assert abs(count_flops(spatial) - count_flops(pooled)) / count_flops(pooled) < 0.001
    assert spatial(torch.zeros(2, 1, 128, 128)).shape == (2, 10)
    assert "context_dilations" not in pooled.config  # runs logged before the option existed stay the same run
    assert RegressionNet(context_dilations=(2, 4)).config["context_dilations"] == [2, 4]


def test_cosine_schedule_by_hand():
    cfg = TrainConfig(lr=1e-3, schedule="cosine")
    assert learning_rate(cfg, 0, 100) == pytest.approx(1e-3)
    assert learning_rate(cfg, 50, 100) == pytest.approx(0.5e-3)
    assert learning_rate(cfg, 99, 100) == pytest.approx(0.5e-3 * (1 + math.cos(math.pi * 0.99)))
    assert learning_rate(TrainConfig(), 99, 100) == 1e-3
    assert "schedule" not in TrainConfig().record() and cfg.record()["schedule"] == "cosine"
    with pytest.raises(ValueError, match="schedule"):
        TrainConfig(schedule="step")


def test_last_epoch_rule_keeps_the_weights_the_run_ended_with(tiny_data, tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=8, snapshot_epochs=(), schedule="cosine")
    train_loader, val_loader = make_loaders(tiny_data, "regression", cfg.batch_size)
    torch.manual_seed(0)
    model = RegressionNet(dropout=0.0)
    log = train_run(model, train_loader, val_loader, cfg, tmp_path, "regression", progress=False)
    final = load_checkpoint(tmp_path / "regression_final.pth")
    best = load_checkpoint(tmp_path / "regression_model.pth")
    assert final["epoch"] == 3 and best["epoch"] == log["best_epoch"]
    assert final["val_loss"] == log["epochs"][-1]["val_loss"]
    # the schedule is logged per epoch: the last epoch ends near zero
    assert log["epochs"][0]["lr"] > log["epochs"][-1]["lr"] and log["config"]["schedule"] == "cosine"
    assert not (tmp_path / "regression_last.pth").exists()
    assert storage.load_json(tmp_path / "training_log.json")["models"]["regression"]["config"]["schedule"] == "cosine"
    # each checkpoint says which rule selected it, and the log which rule the project declares
    assert storage.load_json(tmp_path / "regression_final.json")["selection"] == "last_epoch"
    assert storage.load_json(tmp_path / "regression_model.json")["selection"] == "best_val_loss"
    assert log["declared_selection"] == "last_epoch"


def test_a_factorial_run_stores_both_rules_and_its_shifted_predictions(tiny_data, tmp_path):
    run_id = factorial_run((1, 1, 1, 1))
    runs_main(["run", run_id, "--epochs", "2", "--results", str(tmp_path), "--data-dir", str(tiny_data),
               "--predictions", "--no-progress"])
    ds = load_split(tiny_data, evaluation_split(tiny_data), "heatmap")
    last = stored(run_id, tmp_path, tiny_data, dataset_fingerprint(ds), "last_epoch")
    best = stored(run_id, tmp_path, tiny_data, dataset_fingerprint(ds), "best_val_loss")
    assert last["selection"] == "last_epoch" and last["checkpoint"]["epoch"] == 2
    assert "selection" not in best and "shifted" not in best  # the committed layout of the best-val-loss files
    scores = per_image(last, np.asarray(load_split(tiny_data, "test", "heatmap", hand_labels="side").keypoints))
    assert set(scores) == {"pck@0.05", "x_px", "y_px", "shift_x", "shift_y"}
    assert all(len(v) == len(ds) and np.all(np.isfinite(v)) for v in scores.values())
    assert np.all((scores["pck@0.05"] >= 0) & (scores["pck@0.05"] <= 1))


def fake_run(results, run_id, data_dir, pred, epochs=4, best=2, view="upright"):
    """A finished run's log and its stored predictions under both rules, as the runs command leaves them."""
    ds = load_split(data_dir, evaluation_split(data_dir), "heatmap", view=view)
    run = results / "runs" / run_id
    name = "heatmap" if "heatmap" in run_id else "regression"
    storage.save_json({"models": {name: log_entry(epochs, best=best)}}, run / "training_log.json")
    block = {"argmax": np.asarray(pred).tolist()}
    common = {"run": run_id, "split": "test", "data": dataset_fingerprint(ds), "keypoints": block}
    storage.save_json(common | {"checkpoint": {"epoch": best}}, run / "test_predictions.json")
    storage.save_json(common | {"checkpoint": {"epoch": epochs}, "selection": "last_epoch",
                                "shifted": {"step_px": 6, "x": block, "y": block}}, run / "test_predictions_last.json")


def test_the_gap_of_a_known_table_is_decomposed_onto_its_cause(tiny_data, tmp_path):
    # every cell that reads the map predicts exactly, every pooled cell 40 px off in x; HeatmapNet exact:
    # the whole gap (PCK 0 -> 1) is the readout's, with nothing left for the others or for the decoder
    gt = np.asarray(load_split(tiny_data, "test", "heatmap", hand_labels="side").keypoints)
    for seed in (0, 1):
        for cell in factorial_cells():
            fake_run(tmp_path, factorial_run(cell, seed), tiny_data, gt + np.array([40.0, 0.0]) * (1 - cell[0]))
        fake_run(tmp_path, factorial_heatmap_run(seed), tiny_data, gt)
    result = run_factorial(tiny_data, tmp_path, n_boot=200)
    parts = result.shapley["last_epoch"]["pck@0.05"]
    assert parts["gap"]["estimate"] == 1.0 and parts["readout"]["estimate"] == pytest.approx(1.0)
    assert parts["readout"]["share"]["estimate"] == pytest.approx(1.0)
    assert all(parts[f]["estimate"] == pytest.approx(0.0) for f in ("dropout", "schedule", "field", "rest"))
    assert result.shapley["last_epoch"]["x_px"]["readout"]["estimate"] == pytest.approx(-40.0)
    assert result.effects["last_epoch"]["pck@0.05"]["readout x field"]["estimate"] == pytest.approx(0.0)
    # the shift gain of a model that ignores the shift (stored predictions unmoved) is 0 on both axes
    assert result.shapley["last_epoch"]["shift_x"]["levels"]["spec"]["estimate"] == 0.0
    assert len(result.cells["best_val_loss"]) == 17 and result.cells["last_epoch"][-1].name == "HeatmapNet"
    assert Factorial.load(tmp_path / "factorial.json").rule == "last_epoch"
    assert (tmp_path / "visualizations" / "factorial_waterfall.png").exists()
    # the report's section says it, as a hypothesis at 2 seeds a cell (5 make it a finding)
    from problem2.report.factorial import section_factorial
    text = section_factorial(Factorial.load(tmp_path / "factorial.json"))
    assert "| spatial readout | +1.000 [+1.000, +1.000] | 100% [100.0%, 100%] | -40.00 px [-40.00, -40.00] |" in text
    assert "hypotheses (not established, n = 2; the design asks for 5): the largest is spatial readout, 100%" in text
    assert "Two-way interactions" not in text  # none excludes zero here
    assert "every part keeps its verdict" in text and section_factorial(None) == ""
    from problem2.report.factorial import section_factorial_details
    details = section_factorial_details(Factorial.load(tmp_path / "factorial.json"))
    assert "| spatial readout | +1.000 [+1.000, +1.000] (100% [100.0%, 100%]) | +1.000 [+1.000, +1.000]" in details
    assert "**The interventions.**" not in details  # none given
    # and page one's why from it: the shares in order, hypotheses at 2 seeds; no sentence the cells do not carry
    from problem2.report.answer import decomposed_numbers
    from problem2.report.markdown import render
    numbers = decomposed_numbers(Factorial.load(tmp_path / "factorial.json"))
    assert numbers["parts"][0]["label"] == "global pooling instead of reading the map"
    assert numbers["position_lost"] and not numbers["position_restored"]  # no stored prediction moves here
    assert not numbers["dropout_caps"] and not numbers["pooling_suffices"]
    assert numbers["rule_sensitive"] == []  # both rules' predictions are the same here
    why = render("answer/why_decomposed", **numbers)
    assert "At 2 seeds a cell, four differences" in why and "as hypotheses until every cell has 5" in why
    assert "(section {§factorial}): global pooling instead of reading the map 100% [" in why
    assert "Dropout 0.5 in its head" not in why and "Global pooling itself" not in why
    assert decomposed_numbers(None) == {"decomposed": False}


# ---------------------------------------------------------------- the interventions' data and models


def test_a_transposed_images_keypoints_land_on_its_strokes(tiny_data):
    upright = load_split(tiny_data, "train", "heatmap", hand_labels="side")
    lying = load_split(tiny_data, "train", "heatmap", hand_labels="side", view="transposed")
    assert np.array_equal(lying.keypoints, upright.keypoints[..., ::-1])
    for image, points, original in zip(lying.images, lying.keypoints, upright.images):
        assert np.array_equal(image, original.T)
        for x, y in points[1:]:  # hands and feet end a stroke: the pixel under each is dark
            assert image[int(round(y)), int(round(x))] < 128
    # side labels are given before the view: the left hand (smaller x upright) is the one with the smaller y now
    assert np.all(lying.keypoints[:, 1, 1] <= lying.keypoints[:, 2, 1])
    with pytest.raises(ValueError, match="view must be one of"):
        load_split(tiny_data, "train", "heatmap", view="mirrored")


def test_the_head_is_left_of_a_transposed_figures_centre():
    from problem2.data.perturb import centre_signs, figure_offset
    gt = np.array([[[40.0, 60.0], [60, 40], [60, 80], [97, 45], [97, 75]]])  # lying: head at x 40, centre x 60
    assert np.allclose(figure_offset(gt, "transposed"), [[60 - 63.5, 60 - 63.5]])
    assert centre_signs(gt, 0, "transposed").tolist() == [1.0]  # the centre is to the right


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_reach_every_convolution(mode):
    model = RegressionNet(padding_mode=mode, context_dilations=(2, 4))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 6 and all(c.padding_mode == mode for c in convs)
    assert model.config["padding_mode"] == mode and "padding_mode" not in RegressionNet().config


def test_circular_padding_leaves_a_wide_field_nothing_to_read_position_from():
    # no border: moving the image round by a multiple of the encoder's stride (16 px) moves every feature with it,
    # so the globally averaged features (what the MLP reads) are the same; with zero padding they change
    torch.manual_seed(0)
    image = torch.rand(1, 1, 128, 128)
    moved = torch.roll(image, shifts=(16, 32), dims=(2, 3))
    change = {}
    for mode in ("circular", "zeros"):
        model = RegressionNet(padding_mode=mode, context_dilations=(2, 4), dropout=0.0).eval()
        with torch.no_grad():
            pooled = [model.context(model.encoder(x)[-1]).mean(dim=(2, 3)) for x in (image, moved)]
        change[mode] = float((pooled[0] - pooled[1]).abs().max() / pooled[0].abs().mean())
    assert change["circular"] < 1e-5 and change["zeros"] > 1e-2


def test_transposed_roles_are_compared_axis_for_axis(tiny_data, tmp_path):
    # the specified model misses x by 10 px upright; transposed, it misses y (the axis that was x) by 10 px:
    # exactly the exchange of roles the mechanism predicts, so each crossed difference is 0
    from problem2.studies.interventions import run_interventions
    upright = np.asarray(load_split(tiny_data, "test", "heatmap", hand_labels="side").keypoints)
    lying = np.asarray(load_split(tiny_data, "test", "heatmap", hand_labels="side", view="transposed").keypoints)
    for seed in (0, 1):
        fake_run(tmp_path, factorial_run((0, 0, 0, 0), seed), tiny_data, upright + np.array([10.0, 0.0]))
        fake_run(tmp_path, f"transposed_regression{'_seed1' if seed else ''}", tiny_data,
                 lying + np.array([0.0, 10.0]), view="transposed")
    result = run_interventions(tiny_data, tmp_path, n_boot=200)
    lying_result = next(i for i in result.interventions if i.name == "transposed_regression")
    assert lying_result.runs == ["transposed_regression", "transposed_regression_seed1"]
    assert lying_result.differences["x_px - y_px"]["estimate"] == pytest.approx(0.0)
    assert lying_result.differences["y_px - x_px"]["estimate"] == pytest.approx(0.0)
    assert lying_result.per_seed["y_px"] == pytest.approx([10.0, 10.0])
    assert lying_result.verdicts["x_px - y_px"] == "confirmed"  # an exact exchange: inside the 1 px margin
    # judged again at the best validation loss (the same predictions here; no shift gains under that rule)
    assert lying_result.other_rule["verdicts"] == {"x_px - y_px": "confirmed", "y_px - x_px": "confirmed"}
    assert lying_result.other_rule["verdict"] == "confirmed"
    circular = next(i for i in result.interventions if i.name == "pad_circular_regression")
    assert circular.runs == [] and circular.differences == {} and circular.verdict is None  # not trained: no claim
    from problem2.report.factorial import intervention_verdicts, interventions_table
    summary = intervention_verdicts(result)
    assert summary["trained"] == 1 and summary["n"] == len(result.interventions)
    assert [names for _, names in summary["by_verdict"]] == [["transposed images"]]
    assert summary["transposed_regression"]["v"]["x_px - y_px"] == "confirmed"  # the prose reads each verdict
    assert summary["transposed_regression"]["y_px - x_px"] == "+0.00 px [+0.00, +0.00]"
    assert summary["pad_circular_regression"] is None  # not trained: the prose says nothing of it
    details = interventions_table(result)
    assert "| transposed images |" in details and "x_px - y_px: +0.00 px" in details
    assert "circular padding" not in details  # not trained: not listed


def test_a_prediction_is_confirmed_refuted_or_not_established_by_its_interval():
    from problem2.studies.interventions import EXPECTED, PREDICTIONS, judge, overall
    ci = lambda low, high: {"estimate": (low + high) / 2, "low": low, "high": high}  # noqa: E731
    assert [judge(ci(0.1, 0.5), "up"), judge(ci(-0.5, -0.1), "up"), judge(ci(-0.1, 0.5), "up")] == \
        ["confirmed", "refuted", "not established"]
    assert [judge(ci(-0.5, -0.1), "down"), judge(ci(0.1, 0.5), "down")] == ["confirmed", "refuted"]
    same = ("same", 1.0)
    assert [judge(ci(-0.9, 0.9), same), judge(ci(1.0, 3.0), same), judge(ci(-3.0, -1.0), same),
            judge(ci(0.5, 1.5), same)] == ["confirmed", "refuted", "refuted", "not established"]
    assert overall({"a": "confirmed", "b": "confirmed"}) == "confirmed"
    assert overall({"a": "confirmed", "b": "refuted"}) == "refuted"
    assert overall({"a": "confirmed", "b": "not established"}) == "not established"
    for name, (_, _, pairs) in PREDICTIONS.items():  # every difference measured has its expectation
        assert set(EXPECTED[name]) == {f"{a} - {b}" for a, b in pairs}


def test_regression_best_shot_with_rle_trains_through_its_own_loss_and_reloads(tiny_data, tmp_path):
    from problem2.training.checkpoint import load_model
    runs_main(["run", "best_rle_regression", "--epochs", "1", "--results", str(tmp_path), "--data-dir",
               str(tiny_data), "--predictions", "--no-progress"])
    model = load_model(tmp_path / "runs" / "best_rle_regression" / "regression_final.pth")
    assert type(model).__name__ == "RLEFlowNet" and model.config["context_dilations"] == [2, 4]
    stored_file = tmp_path / "runs" / "best_rle_regression" / "test_predictions_last.json"
    assert "shifted" in storage.load_json(stored_file)


def test_a_mistyped_run_id_is_answered_with_the_closest_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'factor_pool_do50_const_rf46_sed2' \(did you mean "
                                         r"factor_pool_do50_const_rf46_seed2,.*runs list` lists the \d+ known ones"):
        runs_main(["run", "factor_pool_do50_const_rf46_sed2", "--results", str(tmp_path), "--no-progress"])


def test_page_one_states_the_border_as_a_finding_only_at_five_seeds():
    from types import SimpleNamespace

    from problem2.report.answer import border_test
    from problem2.report.markdown import render

    def circular(seeds, verdict):
        d = {"estimate": 10.7, "low": 8.1, "high": 13.6, "excludes_zero": True}
        return SimpleNamespace(interventions=[SimpleNamespace(
            name="pad_circular_regression", runs=[f"r{s}" for s in range(seeds)],
            base_runs=[f"b{s}" for s in range(5)], differences={"y_px - y_px": d},
            verdicts={"y_px - y_px": verdict})])
    assert border_test(None) is None
    assert border_test(circular(3, "confirmed")) == {"n": 3, "y_px": 10.7, "low": 8.1, "high": 13.6,
                                                     "confirmed": True}
    cells = {k: {"pck": 0.5, "shift_x": 0.9} for k in ("spec", "readout", "field", "readout_dropout", "best_pooled",
                                                         "heatmap")}
    share = {"estimate": 0.5, "low": 0.4, "high": 0.6}
    text = lambda border: render("answer/why_decomposed", established=False, cell_seeds=3, gap=0.9,  # noqa: E731
                                 parts=[{"label": "x", **share}], rest=share, cells=cells, position_lost=True,
                                 position_restored=False, dropout_caps=False, pooling_suffices=False, border=border,
                                 rule_sensitive=["x"])
    assert "A hypothesis at 3 seeds: what position" in text(border_test(circular(3, "confirmed")))
    assert "y error +10.7 px [+8.1, +13.6]" in text(border_test(circular(5, "confirmed")))
    assert "as the field has it" in text(border_test(circular(5, "not established")))  # untested here: cited only
    assert "[40%, 60%] (x: not established at each run's lowest validation loss)." in text(None)


def test_selection_gains_compare_each_cells_two_rules_by_schedule():
    # constant-rate cells (schedule level 0) gain 0.1 or 0.2 under the best validation loss, annealed cells 0 or
    # -0.05: the best epoch does the annealing's work; one annealed cell moving 0.3 says otherwise
    from problem2.report.factorial import selection_gains

    def cells(best: bool, moved: float = 0.0):
        out = []
        for levels in factorial_cells():
            gain = (0.1 + 0.1 * levels[0]) if not levels[2] else (-0.05 * levels[0] + moved * levels[3])
            out.append({"name": str(levels), "levels": list(levels), "runs": ["a", "b"],
                        "per_seed": {"pck@0.05": [0.4 + best * gain, 0.6 + best * gain]}})
        return out + [{"name": "HeatmapNet", "levels": None, "runs": ["h"], "per_seed": {"pck@0.05": [1.0]}}]

    result = Factorial("last_epoch", {}, 2, 10, {"last_epoch": cells(False), "best_val_loss": cells(True)}, {}, {})
    gains = selection_gains(result)
    assert gains["constant"] == pytest.approx((0.1, 0.2)) and gains["cosine"] == pytest.approx((-0.05, 0.0))
    assert gains["substitutes"]
    moved = Factorial("last_epoch", {}, 2, 10, {"last_epoch": cells(False), "best_val_loss": cells(True, 0.3)}, {}, {})
    assert selection_gains(moved)["cosine"] == pytest.approx((-0.05, 0.3)) and not selection_gains(moved)["substitutes"]
    assert selection_gains(Factorial("last_epoch", {}, 2, 10, {"last_epoch": cells(False)}, {}, {})) is None


def test_course_ends_split_the_hands_from_the_head_and_feet(tiny_data, tmp_path):
    # on the course labels HeatmapNet is exact, the best pooled cell exact on the head and feet but puts both hands
    # on their midpoint (far from each when they are apart), the specified model 40 px off everywhere: the
    # prediction's two tests confirm; on side labels only the specified model's runs differ from the truth
    from problem2.core.schema import HAND_PAIR
    from problem2.experiments.registry import COURSE_CELLS, course_run
    from problem2.studies.course_ends import CourseEnds, run_course_ends
    gt = np.asarray(load_split(tiny_data, "test", "heatmap").keypoints)
    side = np.asarray(load_split(tiny_data, "test", "heatmap", hand_labels="side").keypoints)
    averaged = gt.copy()
    averaged[:, list(HAND_PAIR)] = gt[:, list(HAND_PAIR)].mean(axis=1, keepdims=True)
    apart = np.linalg.norm(gt[:, 1] - gt[:, 2], axis=-1) / 2 >= 0.05 * np.linalg.norm(gt.max(1) - gt.min(1), axis=-1)
    for seed in (0, 1):
        fake_run(tmp_path, course_run(COURSE_CELLS[0], seed), tiny_data, gt + 40.0)
        fake_run(tmp_path, course_run(COURSE_CELLS[1], seed), tiny_data, averaged)
        fake_run(tmp_path, course_run(None, seed), tiny_data, gt)
        fake_run(tmp_path, factorial_run(COURSE_CELLS[0], seed), tiny_data, side + 40.0)
        fake_run(tmp_path, factorial_run(COURSE_CELLS[1], seed), tiny_data, side)
        fake_run(tmp_path, factorial_heatmap_run(seed), tiny_data, side)
    result = run_course_ends(tiny_data, tmp_path, n_boot=200)
    course = result.labels["course"]["last_epoch"]
    assert course["runs"]["HeatmapNet"] == ["course_factor_heatmap", "course_factor_heatmap_seed1"]
    left = course["differences"]["HeatmapNet - best pooled"]
    assert left["head and feet"]["estimate"] == 0.0 and left["hands invariant"]["estimate"] == pytest.approx(apart.mean())
    assert course["differences"]["HeatmapNet - specified"]["pck@0.05"]["estimate"] == 1.0
    half_apart = float(np.linalg.norm(gt[:, 1] - gt[:, 2], axis=-1).mean() / 2)  # the midpoint is this far from each
    assert course["per_seed"]["best pooled"]["hand to midpoint px"] == [0.0, 0.0]
    assert course["per_seed"]["best pooled"]["hand to nearest hand px"][0] == pytest.approx(half_apart)
    assert course["per_seed"]["HeatmapNet"]["hand to nearest hand px"] == [0.0, 0.0]
    assert course["per_seed"]["best pooled"]["pck@0.05"] == [pytest.approx(1 - 0.4 * apart.mean())] * 2
    assert result.labels["side"]["last_epoch"]["differences"]["HeatmapNet - best pooled"]["pck@0.05"]["estimate"] == 0.0
    assert result.verdicts["last_epoch"] == {"HeatmapNet - best pooled, head and feet": "confirmed",
                                             "HeatmapNet - best pooled, hands invariant": "confirmed"}
    assert CourseEnds.load(tmp_path / "course_ends.json").verdict["last_epoch"] == "confirmed"
