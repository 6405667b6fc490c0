"""Table 1's equal-effort protocol (`spen_keras.denoising.equal_effort`):
the convergence criterion, the choice of rate, the validation curve that
survives a resume, the runs a row needs, selection into presets and the
per-row table facts. (Its command line: tests/test_cli.py; the experiment
queue built on it: tests/test_equal_effort_queue.py.)"""

import json
import shutil

import keras
import numpy as np
import pytest

from spen_keras import presets
from spen_keras.denoising import equal_effort as ee
from spen_keras.denoising.table1 import training_facts


def test_convergence_criterion_compares_the_last_window_with_before():
    flat = [(0, 20.0), (100, 30.0), (300, 31.0), (400, 31.02), (500, 31.04)]
    met, gain = ee.converged(flat, total_steps=500)
    assert met is True and gain == pytest.approx(0.04)
    rising = flat[:3] + [(400, 31.3), (500, 31.5)]
    assert ee.converged(rising, total_steps=500) == (False,
                                                     pytest.approx(0.5))
    # A late drop is no gain: the best before the window stands.
    falling = flat[:3] + [(400, 30.5), (500, 30.0)]
    assert ee.converged(falling, total_steps=500) == (True, 0.0)
    assert ee.converged([(0, 20.0), (100, 30.0)], total_steps=500) == (
        None, None)


def _fake_run(runs_dir, row, rate, curve, test_psnr, source="foe_3"):
    folder = ee.run_dir(runs_dir, row, rate)
    shutil.copytree(presets.resolve_preset(source), folder / "preset")
    metadata = json.loads((folder / "preset" / "metadata.json").read_text())
    metadata.update(our_value=test_psnr, learning_rate=rate,
                    training_data="seq 2 crops", wall_time_s=1.0)
    (folder / "preset" / "metadata.json").write_text(json.dumps(metadata))
    (folder / ee.CURVE_FILE).write_text(json.dumps({"curve": curve}))
    return folder


def test_the_rate_with_the_higher_final_validation_psnr_is_chosen(tmp_path):
    low = [[0, 24.0], [250, 30.0], [500, 31.0]]
    high = [[0, 24.0], [250, 32.0], [500, 31.5]]  # best earlier, final higher
    _fake_run(tmp_path, "foe_3", 3e-3, low, test_psnr=39.0)
    assert ee.protocol_record(tmp_path, "foe_3")[1][
        "learning_rates_missing"] == ["0.01"]
    _fake_run(tmp_path, "foe_3", 1e-2, high, test_psnr=38.0)
    folder, record = ee.protocol_record(tmp_path, "foe_3")
    assert folder == ee.run_dir(tmp_path, "foe_3", 1e-2)
    assert record["chosen_learning_rate"] == 1e-2
    assert record["examples_seen"] == ee.STEPS * ee.BATCH_SIZE
    assert record["learning_rates_missing"] == []
    tried = record["learning_rates_tried"]
    assert tried["0.003"]["final_validation_psnr"] == 31.0
    assert tried["0.01"]["best_validation_psnr"] == 32.0
    assert tried["0.01"]["test_psnr"] == 38.0  # reported, never chosen on
    assert record["converged"] is True  # 31.5 after step 300 < 32.0 before
    assert ee.protocol_record(tmp_path, "dp_3") == (None, None)


def test_select_writes_verified_presets_and_never_overwrites_silently(
        tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "presets"
    _fake_run(runs, "foe_3", 3e-3, [[0, 24.0], [500, 31.0]], 39.0)
    assert ee.select(runs, out, ["foe_3"]) == {}  # 1e-2 has not finished
    written = ee.select(runs, out, ["foe_3", "dp_3"], partial=True)
    assert list(written) == ["foe_3"]
    metadata = presets.read_metadata(str(out / "foe_3"))
    assert metadata["protocol"]["chosen_learning_rate"] == 3e-3
    assert metadata["learning_rate"] == 3e-3
    presets.load_preset(str(out / "foe_3"))
    with pytest.raises(ee.EqualEffortError, match="--force"):
        ee.select(runs, out, ["foe_3"], partial=True)
    ee.select(runs, out, ["foe_3"], force=True, partial=True)
    assert sorted(p.name for p in out.iterdir()) == ["foe_3"]


def test_validation_curve_measures_persists_and_resumes(tmp_path):
    y = np.full((2, 8, 8, 1), 0.5, np.float32)
    x = y + np.float32(0.01)
    identity = keras.Sequential([keras.Input((None, None, 1)),
                                 keras.layers.Identity()])
    callback = ee.ValidationCurve(tmp_path, (x, y), every=50,
                                  steps_per_epoch=25)
    callback.set_model(identity)
    callback.on_train_begin()
    callback.on_epoch_end(0)  # step 25: not a validation step
    callback.on_epoch_end(1)  # step 50
    assert [p[0] for p in callback.curve] == [0, 50]
    assert callback.curve[1][1] == pytest.approx(40.0, abs=1e-3)
    resumed = ee.ValidationCurve(tmp_path, (x, y), every=50,
                                 steps_per_epoch=25)
    resumed.set_model(identity)
    resumed.on_train_begin()  # the curve goes on; step 0 is not redone
    assert resumed.curve == callback.curve


def test_a_protocol_run_trains_validates_and_is_not_repeated(
        tmp_path, monkeypatch):
    monkeypatch.setattr(ee, "STEPS", 4)
    monkeypatch.setattr(ee, "VALIDATE_EVERY", 2)
    x, y = ee.validation_arrays()
    arrays = (x[:1, 200:264, 300:380], y[:1, 200:264, 300:380])
    monkeypatch.setattr("spen_keras.presets.training.STEPS_PER_EPOCH", 2)
    spec = presets.get_spec("foe_3")
    folder = ee.train_run(spec, 1e-2, tmp_path, arrays)
    metadata, curve = ee.read_run(folder)
    assert [step for step, _ in curve] == [0, 2, 4]
    assert metadata["steps"] == 4 and metadata["batch_size"] == ee.BATCH_SIZE
    assert metadata["learning_rate"] == 1e-2
    assert metadata["warm_start"] is None
    assert "(seq 2)" in metadata["training_data"]
    before = (folder / "preset" / "model.weights.h5").stat().st_mtime_ns
    ee.train_run(spec, 1e-2, tmp_path, arrays)
    assert (folder / "preset" / "model.weights.h5").stat().st_mtime_ns == (
        before)


def test_the_protocol_trains_on_sequence_2_and_validates_on_sequence_3():
    task = ee.protocol_task()
    assert {f["sequence"] for f in task.training_frames()} == {2}
    x, y = ee.validation_arrays()
    x_test, _ = ee.validation_arrays(sequences=(2,))
    assert x.shape == (3, 480, 640, 1)
    assert not np.array_equal(x[0], x_test[0])
    spec = ee.protocol_spec(presets.get_spec("dp_20"), 3e-3)
    assert (spec.recipe.steps, spec.recipe.batch_size,
            spec.recipe.learning_rate, spec.recipe.warm_start) == (
        ee.STEPS, ee.BATCH_SIZE, 3e-3, None)
    assert set(ee.PROTOCOL_ROWS) == {
        name for name in presets.list_presets(table="table1")
        if presets.get_spec(name).kind == "keras"}
    assert all(len(rates) == 2 for rates in ee.LEARNING_RATES.values())
    # Every learned row's spec is the protocol at its chosen rate.
    for name in ee.PROTOCOL_ROWS:
        recipe = presets.get_spec(name).recipe
        assert (recipe.steps, recipe.batch_size, recipe.warm_start) == (
            ee.STEPS, ee.BATCH_SIZE, None), name
        assert recipe.task.train_sequences == ee.TRAIN_SEQUENCES, name
        assert recipe.learning_rate in ee.LEARNING_RATES[
            ee.base_row(name)], name
        # The spec says how the shipped preset was trained.
        shipped = presets.read_metadata(name)
        assert shipped["protocol"]["chosen_learning_rate"] == (
            recipe.learning_rate), name
        assert shipped["steps"] == ee.STEPS, name
        variant = shipped["protocol"].get("variant")
        assert (recipe.task.augmentation is not None) == bool(
            variant and variant["augmented"]), name
        if name in ee.PROTOCOL_VARIANTS:  # selected from its own spec now
            assert ee.variant_record(name) == variant, name


def test_training_facts_report_examples_steps_and_convergence():
    spec = presets.get_spec("dp_3")
    record = {"examples_seen": 2000, "converged": False,
              "gain_in_last_window_db": 0.31, "chosen_learning_rate": 1e-3,
              "learning_rates_tried": {
                  "0.001": {"final_validation_psnr": 37.953}}}
    facts = training_facts(spec, {"steps": 500, "batch_size": 4,
                                  "learning_rate": 1e-3,
                                  "protocol": record})
    assert facts == {"examples seen": "2,000", "steps": "500",
                     "lr": "0.001", "converged": "NO (+0.31 dB)"}
    old = training_facts(spec, {"steps": 75, "batch_size": 8,
                                "learning_rate": 1e-3, "warm_start": "dp_3"})
    assert old["examples seen"] == "600"
    assert old["converged"] == "not checked, warm-started from dp_3"
    assert training_facts(presets.get_spec("bm3d"), None)["converged"] == (
        "no training")
    assert training_facts(presets.get_spec("filter_forest"), None)[
        "converged"] == "fitted"


def test_training_curves_figure(tmp_path):
    record = {"batch_size": 4, "chosen_learning_rate": 1e-3,
              "converged": True,
              "learning_rates_tried": {
                  "0.001": {"curve": [[0, 24.0], [500, 31.0]]},
                  "0.003": {"curve": [[0, 24.0], [500, 30.0]]}}}
    path = ee.training_curves_figure(tmp_path / "curves.png",
                                     {"dp_3": record, "foe_3": record})
    assert path.stat().st_size > 1000
    assert ee.training_curves_figure(tmp_path / "none.png", {}) is None


def test_the_augmented_task_streams_augmented_crops_of_its_sequences():
    from spen_keras.denoising.augmentation import Augmentation

    plain, augmented = ee.protocol_task(), ee.protocol_task(
        augmentation=Augmentation(), train_sequences=(3,))
    assert "augmented: depth x[0.6, 1.7]" in augmented.training_data
    assert "(seq 3)" in augmented.training_data
    assert plain.training_data.endswith("crops + flips")
    x, y = next(iter(augmented.training_dataset(batch_size=4, seed=0)))
    assert x.shape == y.shape == (4, 96, 128, 1)
    x_plain, _ = next(iter(plain.training_dataset(batch_size=4, seed=0)))
    assert not np.array_equal(x.numpy(), x_plain.numpy())


def test_the_runs_of_rows_sweeps_and_variants():
    assert ee.protocol_runs(["dp_3", "dp_3_augmented"]) == [
        ("dp_3", 1e-3), ("dp_3", 3e-3), "dp_3_augmented"]
    assert len(ee.protocol_runs()) == 2 * len(ee.LEARNING_RATES) + len(
        ee.PROTOCOL_VARIANTS)
    with pytest.raises(ee.EqualEffortError, match="dp_99"):
        ee.protocol_runs(["dp_3", "dp_99"])


def test_a_variant_trains_from_its_own_spec_at_its_rows_rate(
        tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(ee, "train_run", lambda spec, rate, runs, arrays:
                        calls.append((spec.name, rate, arrays)))
    ee.train_item("dp_3_noise_aware", tmp_path, lambda seqs: seqs)
    # DP-3's sweep has not finished: its first rate.
    assert calls == [("dp_3_noise_aware", 1e-3, ee.VALIDATION_SEQUENCES)]
    _fake_run(tmp_path, "dp_3", 1e-3, [[0, 24.0], [500, 30.0]], 39.0,
              source="dp_3")
    _fake_run(tmp_path, "dp_3", 3e-3, [[0, 24.0], [500, 31.0]], 39.0,
              source="dp_3")
    assert ee.variant_rate(tmp_path, "dp_3") == 3e-3
    ee.train_item(("foe_3", 1e-2), tmp_path, lambda seqs: seqs)
    assert calls[-1] == ("foe_3", 1e-2, ee.VALIDATION_SEQUENCES)
    assert ee.finished(tmp_path, ("dp_3", 3e-3))
    assert not ee.finished(tmp_path, ("foe_3", 1e-2))
    assert not ee.finished(tmp_path, "dp_3_noise_aware")


def test_select_without_finished_runs_says_so(tmp_path):
    with pytest.raises(ee.EqualEffortError, match="No runs folder"):
        ee.select(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ee.EqualEffortError,
                       match="No finished run of any row in"):
        ee.select(tmp_path, tmp_path / "out")
    with pytest.raises(ee.EqualEffortError, match="Not a row"):
        ee.select(tmp_path, tmp_path / "out", ["dp_3_seq3"])
    assert not (tmp_path / "out").exists()


def test_a_variant_is_selected_under_its_own_name(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "presets"
    _fake_run(runs, "dp_3_augmented", 3e-3, [[0, 24.0], [500, 35.0]], 39.0,
              source="dp_3")
    record = ee.select(runs, out, ["dp_3_augmented"])["dp_3_augmented"]
    assert record["sweep"] == "none: trained at the rate chosen for dp_3"
    assert record["variant"] == {
        "row": "dp_3", "augmented": True, "train_sequences": [2],
        "validation_sequences": [3], "noise_aware": False}
    metadata = presets.read_metadata(str(out / "dp_3_augmented"))
    assert metadata["name"] == "dp_3_augmented"
    assert metadata["row"] == presets.get_spec("dp_3_augmented").row
    assert metadata["command"] == ("spen-keras equal-effort train --rows "
                                   "dp_3_augmented; then select")
