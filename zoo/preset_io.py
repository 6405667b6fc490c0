"""Reading and writing preset folders: config.json, model.weights.h5,
metadata.json (the KerasHub layout)."""

import json
import pathlib

import keras
import numpy as np

PRESETS_DIR = pathlib.Path(__file__).resolve().parent / "presets"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
INPUT_SHAPE = (None, None, None, 1)


class PresetError(ValueError):
    """A preset is unknown, missing files, or its weights are unusable."""


def preset_path(name_or_dir):
    """The folder of a shipped preset name, or the given folder itself."""
    candidate = pathlib.Path(name_or_dir)
    if candidate.is_dir():
        return candidate
    shipped = PRESETS_DIR / str(name_or_dir)
    if shipped.is_dir():
        return shipped
    known = sorted(p.name for p in PRESETS_DIR.iterdir() if p.is_dir()) \
        if PRESETS_DIR.is_dir() else []
    raise PresetError(
        f"Unknown preset {name_or_dir!r}: no folder {shipped} and no such "
        f"directory. Shipped presets with weights: {known}."
    )


def read_metadata(name_or_dir):
    """The preset's metadata.json as a dict."""
    path = preset_path(name_or_dir) / METADATA_FILE
    if not path.is_file():
        raise PresetError(f"Preset metadata missing: {path}")
    return json.loads(path.read_text())


def write_preset_files(directory, config, metadata=None):
    """Writes a preset folder's config.json and (if given) metadata.json."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    if metadata is not None:
        (directory / METADATA_FILE).write_text(
            json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    return directory


def _architecture(config):
    """A serialised model config without its build shape and compile state:
    a preset is the architecture, built for any image size, not compiled."""
    return {k: v for k, v in config.items()
            if k not in ("build_config", "compile_config")}


def _rebuild(config):
    """The uncompiled model of a serialised config, built for any image
    size (not for the crop size it was first called on)."""
    model = keras.saving.deserialize_keras_object(_architecture(config))
    model.build(INPUT_SHAPE)
    return model


def save_preset(model, directory, metadata):
    """Writes config, weights and metadata of a built model into directory.

    Refuses to write weights that hold NaN or Inf, so a diverged run never
    replaces a good preset.
    """
    bad = [w.path for w in model.weights
           if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
    if bad:
        raise PresetError(f"Refusing to save non-finite weights: {bad}")
    config = _architecture(keras.saving.serialize_keras_object(model))
    directory = write_preset_files(directory, config)
    # Save from an uncompiled copy: the weights file of a compiled model also
    # holds the optimizer's moments, which a preset does not need (and which
    # trigger a warning on every load).
    copy = _rebuild(config)
    copy.set_weights(model.get_weights())
    copy.save_weights(str(directory / WEIGHTS_FILE))
    # Metadata last: a folder with metadata.json holds a complete preset.
    write_preset_files(directory, config, metadata)


def load_preset(name_or_dir):
    """Rebuilds a preset's model from its config and loads its weights.

    Args:
        name_or_dir: a shipped preset name (see `spen-keras zoo list`) or the
            path of a preset folder.

    Returns:
        The model, built for inputs of shape (batch, height, width, 1).
    """
    directory = preset_path(name_or_dir)
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE)
               if not (directory / f).is_file()]
    if missing:
        raise PresetError(
            f"Preset folder {directory} lacks {missing}; it has not been "
            "trained yet (run `spen-keras train --preset NAME`)."
        )
    model = _rebuild(json.loads((directory / CONFIG_FILE).read_text()))
    model.load_weights(str(directory / WEIGHTS_FILE))
    return model
