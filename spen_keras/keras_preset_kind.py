"""The preset kind of Keras models (SPENs and Keras feed-forward baselines).

`config.json` is the model's Keras object config (architecture only: no
compile state) plus `build_config.input_shape`, the shape the model is built
for on load, with `None` for every free axis (batch, image size, ...), so a
preset whose y is an image, a vector or a grid of label marginals is rebuilt
exactly as it was saved. `model.weights.h5` holds the weights only (no
optimizer moments).

A loaded preset comes back compiled, ready for `fit`, as its registered
spec's recipe trains it (`compile_like_its_recipe`); a preset saved from a
model of your own, whose metadata names no registered preset, has no recipe
and loads uncompiled.
"""

import pathlib
import warnings

import keras
import numpy as np

from spen_keras import presets
from spen_keras.presets import CONFIG_FILE, WEIGHTS_FILE, PresetError

PROBE_SIZE = 32  # free axes of the build shape take this size in the probe


def architecture(config):
    """A serialised model config without its build shape and compile state."""
    return {k: v for k, v in config.items()
            if k not in ("build_config", "compile_config")}


def build_shape_of(model, input_shape=None):
    """The build shape to record: `input_shape` if given, else the model's
    own build shape with the batch axis free."""
    if input_shape is None:
        input_shape = getattr(model, "_expected_input_shape", None)
    if input_shape is None:
        input_shape = (model.get_build_config() or {}).get("input_shape")
    if input_shape is None:
        raise PresetError(
            f"Cannot save {type(model).__name__} as a preset: it has not been "
            "built; call it once or pass input_shape=.")
    return [None] + [None if d is None else int(d) for d in input_shape[1:]]


def rebuild(config, origin="config"):
    """The uncompiled model of a preset config, built for its build shape."""
    shape = (config.get("build_config") or {}).get("input_shape")
    if not isinstance(shape, list) or not shape:
        raise PresetError(
            f"Preset {origin} has no build_config.input_shape (the shape the "
            "model is built for); re-save the model with save_to_preset.")
    try:
        model = keras.saving.deserialize_keras_object(architecture(config))
    except Exception as error:  # Keras raises many types for bad configs.
        raise PresetError(
            f"Preset {origin} does not describe a registered Keras model "
            f"({type(error).__name__}: {error}).") from error
    if not isinstance(model, keras.Model):
        raise PresetError(f"Preset {origin} describes a "
                          f"{type(model).__name__}, not a Keras model.")
    try:
        model.build(tuple(shape))
    except Exception as error:
        raise PresetError(f"Preset {origin}: the model cannot be built for "
                          f"input shape {shape} ({error}).") from error
    return model


def probe(model, shape, origin):
    """Refuses a model whose output on a small constant input is not finite."""
    concrete = [1] + [PROBE_SIZE if d is None else int(d) for d in shape[1:]]
    output = keras.ops.convert_to_numpy(model(np.full(concrete, 0.5,
                                                      np.float32)))
    if not np.isfinite(output).all():
        raise PresetError(f"Preset {origin} gives non-finite outputs on a "
                          f"constant probe input of shape {concrete}.")


def compile_like_its_recipe(model, directory, kind, default_recipe=None):
    """Compiles a preset's loaded Keras `model` by the recipe of the spec
    its folder was made from (`presets.registered_spec_of`), else by
    `default_recipe`: the recipe's `compile(model)` (its training loss and
    metrics, Adam at its learning rate), so that `fit` works at once;
    compile again to change them. With neither recipe (a Keras preset
    saved from a model of your own) the model is left as it is."""
    spec = presets.registered_spec_of(directory, kind)
    recipe = default_recipe if spec is None else spec.recipe
    if hasattr(recipe, "compile"):
        recipe.compile(model)
    return model


def check_finite_weights(model):
    """Raises PresetError naming the model's non-finite weights, if any."""
    bad = [w.path for w in model.weights
           if not np.isfinite(keras.ops.convert_to_numpy(w)).all()]
    if bad:
        raise PresetError(f"Refusing to save non-finite weights: {bad}")


def save_weights_file(model, config, path):
    """Writes `model`'s weights to `path` from an uncompiled copy rebuilt
    from `config`: a compiled model's weights file also holds the
    optimizer's moments, which a preset does not need."""
    copy = rebuild(config)
    copy.set_weights(model.get_weights())
    copy.save_weights(str(path))


def load_weights_file(model, weights, origin):
    """Loads a preset's weights file into `model`, or raises PresetError
    naming the file (missing, empty, or not this architecture's)."""
    if not weights.is_file():
        raise PresetError(f"Preset weights missing: {weights}")
    if weights.stat().st_size == 0:
        raise PresetError(f"Preset weights {weights} are an empty file.")
    try:
        with warnings.catch_warnings():
            # Keras only warns when a saved layer has fewer variables than
            # the model's: for a preset that is an architecture mismatch.
            warnings.filterwarnings("error", message=".*[Ss]kipping.*")
            model.load_weights(str(weights))
    except Exception as error:  # h5py/Keras raise OSError, ValueError...
        raise PresetError(
            f"Preset weights {weights} cannot be loaded into the model of "
            f"{origin} ({type(error).__name__}: {error}).") from error


class KerasPresetKind(presets.PresetKind):
    """Loads, verifies and saves Keras model presets."""

    name = presets.KERAS_KIND
    accepts_strategy = True  # trained by `train_keras_preset`
    # A user's data folder where the family's task takes one
    # (`TrainingTask.for_data_dir`), and fine-tuning (`init_from`).
    accepts_data_dir = True
    accepts_fine_tuning = True

    def load(self, directory, config):
        directory = pathlib.Path(directory)
        origin = directory / CONFIG_FILE
        model = rebuild(config, origin)
        load_weights_file(model, directory / WEIGHTS_FILE, origin)
        probe(model, config["build_config"]["input_shape"], directory)
        return compile_like_its_recipe(model, directory, self.name)

    def save(self, model, directory, metadata, overwrite=False,
             input_shape=None):
        check_finite_weights(model)
        config = architecture(keras.saving.serialize_keras_object(model))
        config["build_config"] = {"input_shape": build_shape_of(
            model, input_shape)}
        metadata = {**metadata, "kind": self.name}

        def write_files(folder):
            presets.write_json(folder / CONFIG_FILE, config)
            save_weights_file(model, config, folder / WEIGHTS_FILE)
            presets.write_json(folder / presets.METADATA_FILE, metadata)

        return presets.write_preset_dir(
            directory, write_files,
            verify=lambda folder: self.load(folder, config),
            overwrite=overwrite)

    def train(self, spec, output_dir, backup_dir, **options):
        from spen_keras.preset_training import train_keras_preset

        return train_keras_preset(spec, output_dir, backup_dir, **options)


presets.register_preset_kind(KerasPresetKind())
