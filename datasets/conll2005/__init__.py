"""CoNLL-2005 semantic role labelling: the TFDS builder and its readers.

`public/` holds the annotation layers of the official release, unchanged
(no words: those are LDC Penn Treebank text). The TFDS builder lives in
`conll2005_dataset_builder`; importing this package (or
`spen_keras.datasets`) imports it, which registers it with TFDS as
"conll2005". `conll2005_layers` reads the release's files in plain Python.
"""

from spen_keras.datasets.conll2005.conll2005_dataset_builder import Builder
from spen_keras.datasets.conll2005.conll2005_dataset_builder import (
    Conll2005Config)
from spen_keras.datasets.conll2005.conll2005_dataset_builder import (
    Conll2005DataMissingError)
from spen_keras.datasets.conll2005.conll2005_layers import Conll2005DataError

__all__ = ["Builder", "Conll2005Config", "Conll2005DataError",
           "Conll2005DataMissingError"]
