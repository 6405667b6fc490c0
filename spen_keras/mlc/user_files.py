"""Labelling a user's ARFF/CSV rows with a multi-label preset."""

import csv
import os
import pathlib
import tempfile

import numpy as np

from spen_keras import presets
from spen_keras.datasets.mulan.mulan_arff import MulanDataError
from spen_keras.datasets.mulan.mulan_arff import read_user_features
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier


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
    it is None. An existing output is replaced only with `overwrite`, and
    never the input itself.

    Returns:
        (number of rows, the output path or None).
    """
    input_path = pathlib.Path(input_path)
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise MlcInputError(f"--threshold must be in (0, 1); got "
                            f"{threshold}.")
    if not input_path.is_file():
        raise MlcInputError(f"Input file not found: {input_path}")
    if output_path is not None:
        output_path = pathlib.Path(output_path)
        if output_path.is_dir():
            raise MlcInputError(f"Output path {output_path} is a folder; "
                                "give a file name.")
        if output_path.exists() and output_path.resolve() == \
                input_path.resolve():
            raise MlcInputError(f"Refusing to write the output over the "
                                f"input file {input_path}.")
        if output_path.exists() and not overwrite:
            raise MlcInputError(f"Output file {output_path} already exists; "
                                "pass --force to replace it.")
    classifier = load_classifier(preset)
    features = read_user_features(input_path, classifier.dataset)
    probabilities = classifier.probabilities(features)
    cut = classifier.threshold if threshold is None else float(threshold)
    chosen = probabilities >= cut
    names = classifier.label_names
    rows = [(i, " ".join(names[j] for j in np.flatnonzero(row)),
             int(row.sum()), float(p.max()) if p.size else 0.0)
            for i, (row, p) in enumerate(zip(chosen, probabilities))]
    if output_path is None:
        for i, labels, _, _ in rows:
            echo(f"{i}\t{labels}")
        return len(rows), None
    output_path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{output_path.name}.",
                                       dir=output_path.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["row", "labels", "num_labels", "max_score"])
            for i, labels, count, top in rows:
                writer.writerow([i, labels, count, f"{top:.4f}"])
        os.replace(staging, output_path)
    except BaseException:
        pathlib.Path(staging).unlink(missing_ok=True)
        raise
    return len(rows), output_path


__all__ = ["MlcInputError", "MulanDataError", "predict_file"]
