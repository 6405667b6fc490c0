"""Mulan multi-label benchmarks Bibtex and Delicious: TFDS builder, reader.

`bibtex/` and `delicious/` hold the Mulan release files, unchanged. The TFDS
builder lives in `mulan_dataset_builder`; importing this package (or
`spen_keras.datasets`) imports it, which registers it with TFDS as "mulan"
(configs "bibtex", "delicious"). `mulan_arff` reads the files into numpy
arrays, for code that does not need TFDS.
"""

from spen_keras.datasets.mulan.mulan_arff import DATASETS
from spen_keras.datasets.mulan.mulan_arff import MulanDataError
from spen_keras.datasets.mulan.mulan_arff import read_split
from spen_keras.datasets.mulan.mulan_arff import read_user_features
from spen_keras.datasets import TFDS_INSTALLED

__all__ = ["DATASETS", "MulanDataError", "read_split", "read_user_features"]

if TFDS_INSTALLED:  # the builder needs TFDS and TensorFlow
    from spen_keras.datasets.mulan.mulan_dataset_builder import Builder
    __all__ += ["Builder"]
