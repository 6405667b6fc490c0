"""The preset kind "mlc": a `MultiLabelClassifier` saved and loaded by the
Keras preset kind's one path, with its family's settings.

A preset folder of kind "mlc" holds

    config.json         {"format", "dataset", "model": "br" | "mlp" | "spen",
                         "threshold": the decision threshold chosen on the
                         validation slice, "label_names",
                         "model_config": the Keras model's config with its
                         build shape; a preset trained on a user's own data
                         (`own_data`) adds "feature_names", "num_features"
                         and "data_source", and its "dataset" is the name
                         the user gave}
    model.weights.h5    the weights
    metadata.json       how it was made, its test scores, and every seed's
                        validation and test example-F1

and loads as a `MultiLabelClassifier`.
"""

import numpy as np

from spen_keras import presets
from spen_keras.presets.keras_kind import KerasPresetKind
from spen_keras.mlc import mlc_data
from spen_keras.mlc.mlc_recipe import MLC_KIND
from spen_keras.mlc.mlc_recipe import MODELS
from spen_keras.mlc.mlc_recipe import MlcRecipe
from spen_keras.mlc.mlc_recipe import recipe_from_facts
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.presets import PresetError

FORMAT = "spen_keras.mlc preset"


class MlcPresetKind(KerasPresetKind):
    """`KerasPresetKind` with a multi-label classifier's settings."""

    name = MLC_KIND
    # `spen-keras train --data-dir` is answered by pointing at
    # `train-labels` (the trainer's message); no fine-tuning flags.
    accepts_data_dir = True
    accepts_fine_tuning = False
    accepts_strategy = True

    def model_of(self, classifier):
        return classifier.model

    def build_shape(self, classifier, input_shape):
        return [None, classifier.num_features]

    def config_for(self, classifier, model_config, metadata):
        config = {"format": FORMAT, "dataset": classifier.dataset,
                  "model": classifier.kind,
                  "threshold": classifier.threshold,
                  "label_names": list(classifier.label_names),
                  "model_config": model_config}
        if classifier.feature_names is not None:
            config.update(feature_names=list(classifier.feature_names),
                          num_features=classifier.num_features,
                          data_source=metadata.get("data_source"))
        return config

    def settings(self, config, origin):
        try:
            feature_names = config.get("feature_names")
            if feature_names is None:
                dataset = mlc_data.check_dataset(config["dataset"])
            else:  # a user's own data: a name of theirs
                dataset = str(config["dataset"])
                feature_names = [str(n) for n in feature_names]
            kind = config["model"]
            if kind not in MODELS:
                raise ValueError(f"unknown model {kind!r}")
            threshold = float(config["threshold"])
            if not 0.0 < threshold < 1.0:
                raise ValueError(f"threshold {threshold} is not in (0, 1)")
            label_names = [str(n) for n in config["label_names"]]
            if not isinstance(config["model_config"], dict):
                raise TypeError("model_config is not an object")
        except (KeyError, ValueError, TypeError) as error:
            raise PresetError(f"Preset {origin} is not a valid multi-label "
                              f"preset ({type(error).__name__}: {error}).") \
                from None
        return {"dataset": dataset, "feature_names": feature_names,
                "kind": kind, "threshold": threshold,
                "label_names": label_names}

    def model_config_of(self, config):
        return config["model_config"]

    def default_recipe(self, settings, metadata):
        # A folder naming no registered preset: the family's recipe of its
        # model, or (a user's own data) the recipe its metadata records.
        if settings["feature_names"] is None:
            return MlcRecipe(settings["dataset"], settings["kind"])
        return recipe_from_facts(metadata.get("recipe"), settings["kind"])

    def wrap(self, model, settings, assets, metadata, directory):
        classifier = MultiLabelClassifier(
            model, settings["threshold"], settings["dataset"],
            settings["label_names"], settings["kind"],
            feature_names=settings["feature_names"])
        names = settings["feature_names"]
        if names is not None and len(names) != classifier.num_features:
            raise PresetError(f"Preset {directory / presets.CONFIG_FILE} "
                              f"names {len(names)} features but its model "
                              f"takes {classifier.num_features}.")
        if metadata:
            classifier.metadata = metadata
        return classifier

    def probe(self, classifier, model_config, assets, origin):
        probe = classifier.probabilities(
            np.zeros((1, classifier.num_features), np.float32))
        if (probe.shape != (1, classifier.num_labels)
                or not np.isfinite(probe).all()):
            raise PresetError(f"Preset {origin} gives non-finite or "
                              f"mis-shaped outputs {probe.shape} on a probe.")

    def train(self, spec, output_dir, backup_dir, **options):
        from spen_keras.mlc.mlc_training import train_mlc

        return train_mlc(spec, output_dir, backup_dir, **options)


presets.register_preset_kind(MlcPresetKind())
