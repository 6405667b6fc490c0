"""CoNLL-2005 semantic role labelling: the TFDS builder and its readers.

`public/` holds the annotation layers of the official release, unchanged
(no words: those are LDC Penn Treebank text). The TFDS builder lives in
`conll2005_dataset_builder`; importing this package (or
`spen_keras.datasets`) imports it, which registers it with TFDS as
"conll2005". `conll2005_layers` reads the release's files in plain Python.
"""

from spen_keras.datasets.conll2005.conll2005_layers import Conll2005DataError
from spen_keras.datasets import TFDS_INSTALLED

__all__ = ["Conll2005DataError"]

if TFDS_INSTALLED:  # the builder needs TFDS and TensorFlow
    from spen_keras.datasets.conll2005.conll2005_dataset_builder import Builder
    from spen_keras.datasets.conll2005.conll2005_dataset_builder import (
        Conll2005Config)
    from spen_keras.datasets.conll2005.conll2005_dataset_builder import (
        Conll2005DataMissingError)
    __all__ += ["Builder", "Conll2005Config", "Conll2005DataMissingError"]
