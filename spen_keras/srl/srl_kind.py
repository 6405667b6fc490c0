"""The preset kind "srl": an `SrlLabeler` saved and loaded by the Keras
preset kind's one path, with its feature vocabulary as an extra asset.

A preset folder of kind "srl" holds

    config.json            {"format", "model": "local" | "spen", "decoder",
                            "roles", "model_config": the Keras model's
                            config}
    vocabulary.json.gz     the `FeatureVocabulary` its feature ids come from
    model.weights.h5       the weights
    metadata.json          how it was made and what it scored

or, for a row that only decodes another row's model differently (Local+AD3
decodes Local+H's model with the LP), {"base": "<sibling preset folder>",
"decoder": "lp"}: the base is the folder of that name beside it, so the
shipped zoo, a `--retrain` folder and a user's folder all resolve alike.
"""

import gzip
import json
import pathlib

import keras
import numpy as np

from spen_keras import presets
from spen_keras.presets.keras_kind import KerasPresetKind
from spen_keras.presets import CONFIG_FILE, PresetError
from spen_keras.srl import srl_data
from spen_keras.srl import srl_decode
from spen_keras.srl.arc_features import FeatureVocabulary
from spen_keras.srl.srl_labeler import SrlLabeler
from spen_keras.srl.srl_layers import build_model
from spen_keras.srl.srl_recipe import LOCAL_RECIPE
from spen_keras.srl.srl_recipe import SPEN_RECIPE
from spen_keras.srl.srl_recipe import SRL_KIND

FORMAT = "spen_keras.srl preset"
VOCABULARY_FILE = "vocabulary.json.gz"


def read_vocabulary(path):
    """The `FeatureVocabulary` saved at `path`, or PresetError naming it."""
    if not path.is_file():
        raise PresetError(f"Preset vocabulary missing: {path}")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != FeatureVocabulary.FORMAT:
            raise ValueError("not a saved FeatureVocabulary")
        return FeatureVocabulary(data["values"], data["templates"],
                                 data["min_count"])
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise PresetError(f"Preset vocabulary {path} is unreadable "
                          f"({type(error).__name__}: {error}).") from None


class SrlPresetKind(KerasPresetKind):
    """`KerasPresetKind` with an SRL labeler's vocabulary, roles and
    decoder; a decoder variant's folder refers to its base's model."""

    name = SRL_KIND
    accepts_data_dir = True
    accepts_fine_tuning = False
    accepts_strategy = False

    def model_of(self, labeler):
        return labeler.model

    def assets_of(self, labeler):
        return {"vocabulary": labeler.vocabulary}

    def write_assets(self, assets, folder):
        text = json.dumps(assets["vocabulary"].to_json(), ensure_ascii=False)
        with gzip.open(folder / VOCABULARY_FILE, "wt",
                       encoding="utf-8") as handle:
            handle.write(text)

    def read_assets(self, directory, settings, origin):
        return {"vocabulary": read_vocabulary(directory / VOCABULARY_FILE)}

    def build_shape(self, labeler, input_shape):
        return None  # built on a dummy input of the vocabulary's width

    def config_for(self, labeler, model_config, metadata):
        return {"format": FORMAT, "model": labeler.kind,
                "decoder": labeler.decoder,
                "roles": list(labeler.role_set.roles),
                "model_config": model_config}

    def settings(self, config, origin):
        try:
            roles = srl_data.RoleSet(config["roles"])
            decoder = srl_decode.check_decoder(config.get("decoder", "h"))
            if not isinstance(config["model_config"], dict):
                raise TypeError("model_config is not an object")
        except (KeyError, ValueError, TypeError) as error:
            raise PresetError(f"Preset {origin} is not a valid SRL preset "
                              f"({type(error).__name__}: {error}).") from None
        return {"roles": roles, "decoder": decoder,
                "model": config.get("model")}

    def model_config_of(self, config):
        return config["model_config"]

    def build(self, model, model_config, assets, origin):
        build_model(model, len(assets["vocabulary"].templates))

    def default_recipe(self, settings, metadata):
        # A folder naming no registered preset: the family's recipe of its
        # model, so that `fit` works at once.
        return LOCAL_RECIPE if settings["model"] == "local" else SPEN_RECIPE

    def wrap(self, model, settings, assets, metadata, directory):
        labeler = SrlLabeler(model, assets["vocabulary"], settings["roles"],
                             settings["decoder"])
        labeler.source = str(directory / presets.WEIGHTS_FILE)
        return labeler

    def probe(self, labeler, model_config, assets, origin):
        output = build_model(labeler.model,
                             len(assets["vocabulary"].templates))
        if not np.isfinite(keras.ops.convert_to_numpy(output)).all():
            raise PresetError(f"Preset {origin} gives non-finite outputs.")

    def load(self, directory, config):
        directory = pathlib.Path(directory)
        if "base" not in config:
            return super().load(directory, config)
        base = directory.parent / str(config["base"])
        if not (base / CONFIG_FILE).is_file():
            raise PresetError(
                f"Preset {directory / CONFIG_FILE} decodes the model of "
                f"{config['base']!r}, but {base / CONFIG_FILE} does not "
                "exist.")
        labeler = self.load(base, presets.read_json(base / CONFIG_FILE,
                                                    "preset config"))
        return labeler.with_decoder(config.get("decoder", "h"))

    def save(self, labeler, directory, metadata, overwrite=False,
             input_shape=None, base=None):
        """With `base` (a sibling preset folder's name) only the decoder is
        written, referring to that folder's model."""
        if base is None:
            return super().save(labeler, directory, metadata, overwrite,
                                input_shape)
        config = {"format": FORMAT, "base": base, "decoder": labeler.decoder}
        return self.write_folder(directory, config, metadata,
                                 overwrite=overwrite)

    def train(self, spec, output_dir, backup_dir, **options):
        from spen_keras.srl.srl_training import train_srl

        return train_srl(spec, output_dir, backup_dir, **options)


presets.register_preset_kind(SrlPresetKind())
