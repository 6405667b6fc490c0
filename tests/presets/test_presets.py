"""The task-neutral preset facility: resolution, load errors, safe saving,
training into user folders, and the shipped presets' unchanged outputs."""

import json
import shutil

import h5py
import keras
import numpy as np
import pytest

from spen_keras import SPEN, presets
from spen_keras.presets.training import TrainingDivergedError, epochs_for
from spen_keras.presets import PresetError, load_preset, save_to_preset
from spen_keras.zoo import PRESETS_DIR

PROBE = np.full((1, 24, 32, 1), 0.4, np.float32)


def test_registered_names_always_mean_the_shipped_preset(tmp_path,
                                                         monkeypatch):
    decoy = tmp_path / "dp_3"
    shutil.copytree(PRESETS_DIR / "foe_3", decoy)
    monkeypatch.chdir(tmp_path)
    assert presets.resolve_preset("dp_3") == PRESETS_DIR / "dp_3"
    assert presets.resolve_preset("./dp_3").resolve() == decoy
    assert load_preset("./dp_3").minimizer.num_steps == 3
    assert isinstance(load_preset("./dp_3").energy.energies[1],
                      type(load_preset("foe_3").energy.energies[1]))


@pytest.mark.parametrize("name, message", [
    ("", "Empty preset name"),
    ("   ", "Empty preset name"),
    ("dp_99", r"Unknown preset 'dp_99'; known presets: .*e\.g\. \./dp_99"),
    ("./no_such_folder", "Preset folder not found: no_such_folder"),
])
def test_resolution_errors(name, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PresetError, match=message):
        load_preset(name)


def test_a_file_is_not_a_preset_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PresetError, match="is not a folder"):
        load_preset(tmp_path / "file")


@pytest.fixture()
def copy_of_foe_3(tmp_path):
    target = tmp_path / "foe_3"
    shutil.copytree(PRESETS_DIR / "foe_3", target)
    return target


@pytest.mark.parametrize("content, message", [
    (b"", "not valid JSON"),
    (b"{not json", "not valid JSON"),
    (b"{}", "not a non-empty JSON object"),
    (b"[1, 2]", "not a non-empty JSON object"),
    (b'{"class_name": "NoSuchModel", "config": {}, '
     b'"build_config": {"input_shape": [null, 4]}}',
     "does not describe a registered Keras model"),
])
def test_bad_config_json_names_the_file(copy_of_foe_3, content, message):
    (copy_of_foe_3 / "config.json").write_bytes(content)
    with pytest.raises(PresetError, match=message) as error:
        load_preset(copy_of_foe_3)
    assert "config.json" in str(error.value)


def test_config_without_build_shape_is_refused(copy_of_foe_3):
    path = copy_of_foe_3 / "config.json"
    config = json.loads(path.read_text())
    del config["build_config"]
    path.write_text(json.dumps(config))
    with pytest.raises(PresetError, match="build_config.input_shape"):
        load_preset(copy_of_foe_3)


@pytest.mark.parametrize("damage", ["empty", "truncated", "garbled"])
def test_damaged_weights_name_the_file(copy_of_foe_3, damage):
    weights = copy_of_foe_3 / "model.weights.h5"
    data = weights.read_bytes()
    weights.write_bytes({"empty": b"", "truncated": data[:len(data) // 2],
                         "garbled": b"\x00garbage" * 100}[damage])
    with pytest.raises(PresetError, match="model.weights.h5"):
        load_preset(copy_of_foe_3)


def test_weights_of_another_architecture_are_refused(copy_of_foe_3):
    shutil.copy(PRESETS_DIR / "dp_3" / "model.weights.h5",
                copy_of_foe_3 / "model.weights.h5")
    with pytest.raises(PresetError, match="cannot be loaded"):
        load_preset(copy_of_foe_3)


def test_non_finite_outputs_are_refused_at_load(copy_of_foe_3):
    with h5py.File(copy_of_foe_3 / "model.weights.h5", "r+") as weights:
        datasets = []
        weights.visititems(lambda name, obj: datasets.append(obj)
                           if isinstance(obj, h5py.Dataset) else None)
        for dataset in datasets:
            dataset[...] = np.full(dataset.shape, np.nan)
    with pytest.raises(PresetError, match="non-finite outputs"):
        load_preset(copy_of_foe_3)


def test_save_to_preset_round_trips_any_build_shape(tmp_path):
    model = keras.Sequential([keras.layers.Dense(3)])
    model.build((None, 5))
    save_to_preset(model, tmp_path / "dense", {"note": "vector y"})
    again = load_preset(tmp_path / "dense")
    x = np.random.RandomState(0).rand(2, 5).astype("float32")
    np.testing.assert_array_equal(again(x), model(x))
    config = json.loads((tmp_path / "dense" / "config.json").read_text())
    assert config["build_config"] == {"input_shape": [None, 5]}
    metadata = json.loads((tmp_path / "dense" / "metadata.json").read_text())
    assert metadata == {"note": "vector y", "kind": "keras"}


def test_save_to_preset_never_overwrites_without_the_flag(tmp_path):
    first = load_preset("foe_3")
    save_to_preset(first, tmp_path / "p", {"run": 1})
    with pytest.raises(PresetError, match="already exists"):
        save_to_preset(load_preset("dp_3"), tmp_path / "p", {"run": 2})
    assert json.loads((tmp_path / "p" / "metadata.json").read_text())[
        "run"] == 1
    save_to_preset(load_preset("dp_3"), tmp_path / "p", {"run": 2},
                   overwrite=True)
    assert load_preset(tmp_path / "p").minimizer.energy.energies[1].name \
        .startswith("deep_prior")
    # Nothing but the preset is left beside it (no staging or backup folder).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_shipped_presets_are_read_only():
    with pytest.raises(PresetError, match="read-only"):
        save_to_preset(load_preset("foe_3"), PRESETS_DIR / "foe_3", {},
                       overwrite=True)
    with pytest.raises(PresetError, match="read-only"):
        presets.train_preset("foe_3", PRESETS_DIR / "foe_3", "unused",
                             steps=1, overwrite=True)


def test_save_refuses_nan_weights_and_leaves_nothing(tmp_path):
    model = load_preset("foe_3")
    model.energy.energies[0].log_variance.assign(float("nan"))
    with pytest.raises(PresetError, match="non-finite"):
        save_to_preset(model, tmp_path / "bad", {})
    assert not (tmp_path / "bad").exists()


def test_from_preset_accepts_names_and_folders_and_checks_the_type(
        copy_of_foe_3):
    assert isinstance(SPEN.from_preset("foe_3"), SPEN)
    local = SPEN.from_preset(str(copy_of_foe_3))
    np.testing.assert_array_equal(local(PROBE), SPEN.from_preset("foe_3")(
        PROBE))
    with pytest.raises(TypeError, match="not a SPEN"):
        SPEN.from_preset("proximalnet")


# === Loaded presets come back compiled ===


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_from_preset_is_compiled_and_fits_one_step_without_compile():
    from spen_keras.denoising import MaskedMeanSquaredError, PSNR

    model = SPEN.from_preset("dp_3")
    recipe = presets.get_spec("dp_3").recipe
    assert model.compiled
    assert isinstance(model.loss, MaskedMeanSquaredError)  # the preset's
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate) == pytest.approx(
        recipe.learning_rate)
    x = np.full((2, 24, 32, 1), 0.4, np.float32)
    y = np.full((2, 24, 32, 1), 0.45, np.float32)
    before = model.get_weights()
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 1
    assert np.isfinite(history.history["loss"][0])
    assert "psnr" in history.history  # the preset's metric
    assert isinstance(model.metrics[-1].metrics[0], PSNR)
    assert _changed(before, model.get_weights())
    # Compiling again replaces the preset's loss and optimizer.
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse")
    assert model.loss == "mse"
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 1


def test_every_keras_preset_loads_compiled_by_its_own_recipe():
    for name in ("proximalnet", "feedforward_convnet", "foe_3"):
        model = load_preset(name)
        recipe = presets.get_spec(name).recipe
        assert model.compiled, name
        assert type(model.loss) is type(recipe.task.loss()), name
        assert float(model.optimizer.learning_rate) == pytest.approx(
            recipe.learning_rate), name


def test_a_trained_user_preset_loads_compiled_by_its_recipe(tiny_preset):
    directory, _ = tiny_preset
    model = load_preset(directory)
    assert model.compiled
    assert float(model.optimizer.learning_rate) == pytest.approx(
        presets.get_spec("foe_3").recipe.learning_rate)


def test_a_preset_of_your_own_model_loads_uncompiled(tmp_path):
    model = keras.Sequential([keras.layers.Dense(3)])
    model.build((None, 5))
    model.compile(optimizer="adam", loss="mse")
    save_to_preset(model, tmp_path / "dense", {"note": "no recipe"})
    assert not load_preset(tmp_path / "dense").compiled
    save_to_preset(model, tmp_path / "named", {"name": "no_such_preset"})
    assert not load_preset(tmp_path / "named").compiled


def test_srl_preset_models_load_compiled():
    from spen_keras.srl.srl_labeler import SrlLabeler
    from spen_keras.srl.srl_layers import grid_cross_entropy

    labeler = SrlLabeler.from_preset("srl_spen_lp")  # decodes srl_spen_h's
    assert labeler.model.compiled
    assert labeler.model.loss is grid_cross_entropy
    assert float(labeler.model.optimizer.learning_rate) == pytest.approx(
        presets.get_spec("srl_spen_h").recipe.learning_rate)
    with pytest.raises(PresetError, match="not a SrlLabeler"):
        SrlLabeler.from_preset("foe_3")


@pytest.mark.parametrize("steps, cap, expected", [
    (600, 25, (25, 24)), (37, 25, (1, 37)), (30, 25, (15, 2)), (4, 25, (4, 1)),
])
def test_epochs_multiply_to_exactly_the_steps_asked(steps, cap, expected):
    assert epochs_for(steps, cap) == expected


def test_shipped_outputs_are_unchanged_by_the_restructuring():
    """Probe outputs of every shipped preset recorded before presets moved
    into the core (and step rules became chains) are reproduced."""
    reference = np.load(PRESETS_DIR.parent.parent / "tests" / "data"
                        / "preset_probe_outputs.npz")
    x = reference["x"]
    names = [n for n in reference.files if n != "x"]
    # Every row but the one added after the restructuring.
    assert sorted(set(presets.list_presets(table="table1")) - set(names)) \
        == ["dp_3_icnn_paper"] and set(names) < set(
            presets.list_presets(table="table1"))
    for name in names:
        model = load_preset(name)
        y = keras.ops.convert_to_numpy(model(x))
        np.testing.assert_allclose(y, reference[name], atol=1e-5,
                                   err_msg=name)


# === Training into user folders ===


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """foe_3 trained for 3 steps into a temporary user preset folder."""
    root = tmp_path_factory.mktemp("user_presets")
    metadata = presets.train_preset("foe_3", root / "foe_3", root / "backup",
                                    steps=3, verbose=0,
                                    command="spen-keras train --preset foe_3 "
                                            "--steps 3")
    return root / "foe_3", metadata


def test_trained_preset_records_what_was_run(tiny_preset):
    directory, metadata = tiny_preset
    assert metadata["steps"] == 3
    assert metadata["command"] == "spen-keras train --preset foe_3 --steps 3"
    for key in ("our_value", "reference_values", "seed", "wall_time_s",
                "machine", "kind", "family", "table", "row", "metric"):
        assert key in metadata
    assert "paper_value" not in metadata  # stated once, in the spec
    assert json.loads((directory / "metadata.json").read_text()) == metadata
    np.testing.assert_array_equal(SPEN.from_preset(str(directory))(PROBE),
                                  load_preset(directory)(PROBE))


def test_training_refuses_an_existing_folder_before_training(tiny_preset):
    directory, _ = tiny_preset
    before = (directory / "model.weights.h5").read_bytes()
    with pytest.raises(PresetError, match="already exists"):
        presets.train_preset("foe_3", directory, directory.parent / "b2",
                             steps=1, verbose=0)
    assert (directory / "model.weights.h5").read_bytes() == before
    assert not (directory.parent / "b2").exists()


class _PoisonAfterFirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.model.energy.energies[0].log_variance.assign(float("nan"))


def test_training_stops_cleanly_on_nan(tmp_path):
    with pytest.raises(TrainingDivergedError, match="NaN"):
        presets.train_preset("foe_3", tmp_path / "out", tmp_path / "backup",
                             steps=4, steps_per_epoch=1, verbose=0,
                             callbacks=[_PoisonAfterFirstStep()])
    assert not (tmp_path / "out").exists()


# Interrupt/resume, locks and corrupt backups: tests/presets/test_resumable_training.py
