"""The zoo: preset specs, save/load, training with resume and NaN stop, CLI."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

from spen_keras import SPEN, cli
from spen_keras.denoising import embedded_frames_dir, read_depth_png
from spen_keras.zoo import DENOISING_PRESETS, PRESETS, PresetError, get_spec
from spen_keras.zoo import load_preset
from spen_keras.zoo import list_presets, read_metadata
from spen_keras.zoo.preset_io import PRESETS_DIR, save_preset
from spen_keras.zoo.preset_training import TrainingDivergedError, train_preset

TABLE1_SPEN_ROWS = {"FOE-20", "FOE-20+", "FOE-3", "DP-20", "DP-3", "FOE-SSVM",
                    "DP-SSVM"}
FRAME = embedded_frames_dir() / "seq-01" / "frame-000000.depth.png"


def test_every_table1_spen_row_has_a_preset():
    assert TABLE1_SPEN_ROWS <= {spec.row for spec in PRESETS.values()}
    assert {"foe_3_icnn", "dp_3_icnn"} <= set(list_presets())


KERAS_PRESETS = [name for name, spec in PRESETS.items() if hasattr(spec, "build")]


def test_every_table1_row_has_a_preset():
    rows = {spec.row for spec in PRESETS.values()}
    assert {"BM3D", "FilterForest", "ProximalNet",
            "Feed-forward convnet"} | TABLE1_SPEN_ROWS <= rows


@pytest.mark.parametrize("name", KERAS_PRESETS)
def test_preset_specs_build_and_round_trip(name):
    model = PRESETS[name].build()
    model.build((None, None, None, 1))
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(model))
    assert type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    if name in DENOISING_PRESETS:
        assert isinstance(clone, SPEN)


def test_from_preset_refuses_a_non_spen_preset():
    with pytest.raises(TypeError, match="not a SPEN"):
        SPEN.from_preset("proximalnet")


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(PresetError, match="known presets"):
        get_spec("dp_99")
    with pytest.raises(PresetError, match="Unknown preset 'dp_99'"):
        SPEN.from_preset("dp_99")


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """foe_3 trained for 2 steps into a temporary folder."""
    root = tmp_path_factory.mktemp("zoo")
    metadata = train_preset(get_spec("foe_3"), root / "foe_3",
                            root / "backup", steps=2, verbose=0)
    return root / "foe_3", metadata


def test_trained_preset_round_trips_and_records_metadata(tiny_preset):
    directory, metadata = tiny_preset
    for key in ("paper_psnr", "our_psnr", "command", "seed", "steps",
                "wall_time_s", "machine"):
        assert key in metadata
    assert json.loads((directory / "metadata.json").read_text()) == metadata
    model = SPEN.from_preset(str(directory))
    again = load_preset(str(directory))
    x = np.random.RandomState(0).rand(1, 40, 50, 1).astype("float32") * 0.5
    np.testing.assert_array_equal(model(x).numpy(), again(x).numpy())


def test_save_preset_refuses_nan_weights(tmp_path, tiny_preset):
    model = load_preset(str(tiny_preset[0]))
    variable = model.energy.energies[0].log_variance
    variable.assign(float("nan"))
    with pytest.raises(PresetError, match="non-finite"):
        save_preset(model, tmp_path / "bad", {})
    assert not (tmp_path / "bad" / "model.weights.h5").exists()


class _PoisonAfterFirstStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        self.model.energy.energies[0].log_variance.assign(float("nan"))


def test_training_stops_cleanly_on_nan(tmp_path):
    with pytest.raises(TrainingDivergedError, match="NaN"):
        train_preset(get_spec("foe_3"), tmp_path / "out", tmp_path / "backup",
                     steps=4, steps_per_epoch=1, verbose=0,
                     callbacks=[_PoisonAfterFirstStep()])
    assert not (tmp_path / "out").exists()


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch, self.epochs = at_epoch, []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def test_interrupted_training_resumes_from_its_backup(tmp_path):
    spec = get_spec("foe_3")
    first = _Interrupt(at_epoch=2)
    with pytest.raises(KeyboardInterrupt):
        train_preset(spec, tmp_path / "out", tmp_path / "backup", steps=4,
                     steps_per_epoch=1, verbose=0, callbacks=[first])
    second = _Interrupt(at_epoch=-1)
    train_preset(spec, tmp_path / "out", tmp_path / "backup", steps=4,
                 steps_per_epoch=1, verbose=0, callbacks=[second])
    assert first.epochs == [0, 1, 2]
    assert second.epochs == [2, 3]
    assert (tmp_path / "out" / "model.weights.h5").is_file()


def test_denoise_cli_keeps_invalid_pixels(tmp_path, tiny_preset, capsys):
    out = tmp_path / "out.png"
    assert cli.main(["denoise", str(FRAME), str(out), "--preset",
                     str(tiny_preset[0])]) == 0
    raw, result = read_depth_png(FRAME), read_depth_png(out)
    invalid = (raw == 0) | (raw == 65535)
    assert invalid.any()
    np.testing.assert_array_equal(result[invalid], raw[invalid])
    assert (result[~invalid] > 0).all()
    assert "Denoised" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["8bit", "rgb", "empty", "corrupt"])
def test_denoise_cli_rejects_bad_images(tmp_path, kind, capsys):
    path = tmp_path / f"{kind}.png"
    if kind == "8bit":
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    elif kind == "rgb":
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path)
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert cli.main(["denoise", str(path), str(tmp_path / "o.png")]) == 2
    error = capsys.readouterr().err
    assert str(path) in error


SHIPPED = sorted(p.name for p in PRESETS_DIR.glob("*")
                 if (p / "model.weights.h5").is_file())


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_presets_load_and_are_small(name):
    model = load_preset(name)
    if name in DENOISING_PRESETS:
        assert isinstance(SPEN.from_preset(name), SPEN)
    size = (PRESETS_DIR / name / "model.weights.h5").stat().st_size
    assert size < 2**20  # weights only, no optimizer state
    config = json.loads((PRESETS_DIR / name / "config.json").read_text())
    assert "compile_config" not in config and "build_config" not in config
    x = np.full((1, 24, 32, 1), 0.4, np.float32)
    assert np.isfinite(model(x).numpy()).all()
    metadata = read_metadata(name)
    assert metadata["our_psnr"] > metadata["noisy_input_psnr"]
    assert metadata["name"] == name


DUMMY = PRESETS_DIR.parent.parent / "datasets" / "seven_scenes" / "dummy_data"


def test_evaluation_data_from_proximalnet_pairs():
    from spen_keras.zoo.evaluation_data import load_evaluation_data

    x, y, label = load_evaluation_data(DUMMY)
    assert "ProximalNet" in label
    assert x.shape == y.shape == (1, 48, 64, 1)
    assert (x > 0).all()  # holes filled


def test_evaluation_data_from_seven_scenes_archives(tmp_path):
    import shutil

    from spen_keras.denoising import load_frames, make_evaluation_arrays
    from spen_keras.zoo.evaluation_data import load_evaluation_data

    shutil.copy(DUMMY / "stairs.zip", tmp_path / "stairs.zip")
    x, y, label = load_evaluation_data(tmp_path, max_frames=4)
    assert "stairs" in label and x.shape == (4, 480, 640, 1)
    # The same frames and noise as the embedded benchmark.
    x_all, y_all = make_evaluation_arrays(load_frames("test"))
    assert any(np.array_equal(y[0], frame) for frame in y_all)


def test_evaluation_data_missing_lists_what_it_looked_for(tmp_path):
    from spen_keras.zoo.evaluation_data import load_evaluation_data

    with pytest.raises(FileNotFoundError, match=r"val\.lst[\s\S]*chess\.zip"):
        load_evaluation_data(tmp_path)
