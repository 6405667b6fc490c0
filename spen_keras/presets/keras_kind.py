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


def deserialize_model(config, origin="config"):
    """The uncompiled, unbuilt Keras model of a serialised model config."""
    try:
        model = keras.saving.deserialize_keras_object(architecture(config))
    except Exception as error:  # Keras raises many types for bad configs.
        raise PresetError(
            f"Preset {origin} does not describe a registered Keras model "
            f"({type(error).__name__}: {error}).") from error
    if not isinstance(model, keras.Model):
        raise PresetError(f"Preset {origin} describes a "
                          f"{type(model).__name__}, not a Keras model.")
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
    """Loads, verifies and saves presets whose model is a Keras model: the
    one save/verify/load path of every family.

    A plain Keras preset (a `SPEN`, a Keras baseline) is the model itself.
    A family whose preset is a Keras model *plus* something (an SRL
    labeler's feature vocabulary and role set, a multi-label classifier's
    threshold and label names) subclasses this kind and overrides the hooks
    below; loading, the weights file, the finite-weights check, the
    recipe's compile, the probe and the write-verify-rename of the folder
    stay here.

    Hooks (each has the plain Keras preset's behaviour by default):
        model_of(obj): the Keras model inside a saved object.
        assets_of(obj): {name: value} of extra assets to save beside it.
        write_assets(assets, folder) / read_assets(directory, settings,
            origin): those assets' files.
        config_for(obj, model_config, metadata): config.json, given the
            model's serialised config (with its build shape).
        settings(config, origin): the validated family settings of a
            config.json (raise PresetError naming `origin`).
        model_config_of(config): where the Keras config is in config.json.
        build(model, model_config, assets, origin): create its weights.
        default_recipe(settings, metadata): the recipe that compiles a
            loaded model whose metadata names no registered preset.
        wrap(model, settings, assets, metadata, directory): the object
            `load` returns.
        probe(obj, model_config, assets, origin): raise PresetError when a
            loaded preset gives non-finite or mis-shaped outputs.
    """

    name = presets.KERAS_KIND
    accepts_strategy = True  # trained by `train_keras_preset`
    # A user's data folder where the family's task takes one
    # (`TrainingTask.for_data_dir`), and fine-tuning (`init_from`).
    accepts_data_dir = True
    accepts_fine_tuning = True

    # --- hooks ------------------------------------------------------------

    def model_of(self, obj):
        return obj

    def assets_of(self, obj):
        return {}

    def write_assets(self, assets, folder):
        pass

    def read_assets(self, directory, settings, origin):
        return {}

    def build_shape(self, obj, input_shape):
        """The build shape to record in the model config (None: the
        family's `build` needs none)."""
        return build_shape_of(self.model_of(obj), input_shape)

    def config_for(self, obj, model_config, metadata):
        return model_config

    def settings(self, config, origin):
        return {}

    def model_config_of(self, config):
        return config

    def build(self, model, model_config, assets, origin):
        shape = (model_config.get("build_config") or {}).get("input_shape")
        if not isinstance(shape, list) or not shape:
            raise PresetError(
                f"Preset {origin} has no build_config.input_shape (the shape "
                "the model is built for); re-save the model with "
                "save_to_preset.")
        try:
            model.build(tuple(shape))
        except Exception as error:
            raise PresetError(f"Preset {origin}: the model cannot be built "
                              f"for input shape {shape} ({error}).") from error

    def default_recipe(self, settings, metadata):
        return None

    def wrap(self, model, settings, assets, metadata, directory):
        return model

    def probe(self, obj, model_config, assets, origin):
        probe(obj, model_config["build_config"]["input_shape"], origin)

    # --- the one path -----------------------------------------------------

    def rebuild(self, model_config, assets, origin):
        """The uncompiled model of a serialised config, its weights made."""
        model = deserialize_model(model_config, origin)
        self.build(model, model_config, assets, origin)
        return model

    def load(self, directory, config):
        directory = pathlib.Path(directory)
        origin = directory / CONFIG_FILE
        metadata_path = directory / presets.METADATA_FILE
        metadata = (presets.read_json(metadata_path, "metadata")
                    if metadata_path.is_file() else {})
        settings = self.settings(config, origin)
        assets = self.read_assets(directory, settings, origin)
        model_config = self.model_config_of(config)
        model = self.rebuild(model_config, assets, origin)
        load_weights_file(model, directory / WEIGHTS_FILE, origin)
        # Compiled by its registered recipe (a folder naming none: the
        # kind's default recipe for it, if any), ready for `fit`.
        compile_like_its_recipe(model, directory, self.name,
                                self.default_recipe(settings, metadata))
        obj = self.wrap(model, settings, assets, metadata, directory)
        self.probe(obj, model_config, assets, directory)
        return obj

    def save(self, obj, directory, metadata, overwrite=False,
             input_shape=None):
        model = self.model_of(obj)
        check_finite_weights(model)
        model_config = architecture(keras.saving.serialize_keras_object(
            model))
        shape = self.build_shape(obj, input_shape)
        if shape is not None:
            model_config["build_config"] = {"input_shape": shape}
        config = self.config_for(obj, model_config, dict(metadata))
        assets = self.assets_of(obj)

        def write_model(folder):
            self.write_assets(assets, folder)
            # From an uncompiled copy: a compiled model's weights file also
            # holds the optimizer's moments, which a preset does not need.
            copy = self.rebuild(model_config, assets, folder / CONFIG_FILE)
            copy.set_weights(model.get_weights())
            copy.save_weights(str(folder / WEIGHTS_FILE))

        return self.write_folder(directory, config, metadata, write_model,
                                 overwrite)

    def write_folder(self, directory, config, metadata, write_more=None,
                     overwrite=False):
        """Writes config.json, what `write_more(folder)` writes and
        metadata.json into a staging folder, verifies it by loading it,
        and only then moves it to `directory` (`write_preset_dir`)."""
        metadata = {**metadata, "kind": self.name}

        def write_files(folder):
            presets.write_json(folder / CONFIG_FILE, config)
            if write_more is not None:
                write_more(folder)
            presets.write_json(folder / presets.METADATA_FILE, metadata)

        return presets.write_preset_dir(
            directory, write_files,
            verify=lambda folder: self.load(folder, config),
            overwrite=overwrite)

    def train(self, spec, output_dir, backup_dir, **options):
        from spen_keras.presets.training import train_keras_preset

        return train_keras_preset(spec, output_dir, backup_dir, **options)


presets.register_preset_kind(KerasPresetKind())
