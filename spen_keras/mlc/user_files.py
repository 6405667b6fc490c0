"""Labelling a user's ARFF/CSV rows with a multi-label preset."""

import csv
import pathlib

import numpy as np

from spen_keras import presets
from spen_keras.datasets.mulan.mulan_arff import MulanDataError
from spen_keras.datasets.mulan.mulan_arff import read_feature_rows
from spen_keras.datasets.mulan.mulan_arff import read_user_features
from spen_keras.presets.family import check_preset_family
from spen_keras.mlc.mlc_metrics import positive_labels
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.presets.user_files import check_output_file
from spen_keras.presets.user_files import write_atomically


class MlcInputError(ValueError):
    """A user's multi-label input or output file is unusable."""


def load_classifier(preset):
    classifier = presets.load_preset(preset)
    if not isinstance(classifier, MultiLabelClassifier):
        raise MlcInputError(f"Preset {preset!r} is not a multi-label preset "
                            "(see `spen-keras zoo list --table mlc`).")
    return classifier


def predict_file(input_path, output_path=None, preset="mlc_bibtex_spen_e2e",
                 threshold=None, overwrite=False, echo=print):
    """Labels every row of `input_path` with `preset`.

    Writes a CSV (row, labels separated by spaces, number of labels, the
    highest soft score) to `output_path`, or prints one line per row when
    it is None. The preset's family and the output (`check_output_file`:
    its folder exists and is writable, it is not the input, it is replaced
    only with `overwrite`) are checked before the model loads; the output
    is written atomically.

    Returns:
        (number of rows, the output path or None).
    """
    input_path = pathlib.Path(input_path)
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise MlcInputError(f"--threshold must be in (0, 1); got "
                            f"{threshold}.")
    if not input_path.is_file():
        raise MlcInputError(f"Input file not found: {input_path}")
    check_preset_family(preset, "mlc", "multi-label", MlcInputError)
    if output_path is not None:
        output_path = check_output_file(output_path, input_path, overwrite,
                                        error=MlcInputError)
    classifier = load_classifier(preset)
    if classifier.feature_names is None:  # a shipped dataset's preset
        features = read_user_features(input_path, classifier.dataset)
    else:  # trained on a user's own data: its columns
        features = read_feature_rows(input_path, classifier.feature_names,
                                     f"preset {preset}'s")
    probabilities = classifier.probabilities(features)
    cut = classifier.threshold if threshold is None else float(threshold)
    chosen = positive_labels(probabilities, cut)
    names = classifier.label_names
    rows = [(i, " ".join(names[j] for j in np.flatnonzero(row)),
             int(row.sum()), float(p.max()) if p.size else 0.0)
            for i, (row, p) in enumerate(zip(chosen, probabilities))]
    if output_path is None:
        for i, labels, _, _ in rows:
            echo(f"{i}\t{labels}")
        return len(rows), None

    def write(temporary):
        with open(temporary, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["row", "labels", "num_labels", "max_score"])
            for i, labels, count, top in rows:
                writer.writerow([i, labels, count, f"{top:.4f}"])

    write_atomically(output_path, write, error=MlcInputError)
    return len(rows), output_path


__all__ = ["MlcInputError", "MulanDataError", "predict_file"]
