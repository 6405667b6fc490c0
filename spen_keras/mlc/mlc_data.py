"""The multi-label data: Mulan Bibtex and Delicious as arrays and streams.

The ARFF files ship with the package (`spen_keras.datasets.mulan`, also a
TFDS builder); here they are read straight into numpy (well under a second
each) so training and evaluation need no TFDS preparation step.
"""

import dataclasses
import functools
from typing import Optional

import numpy as np

from spen_keras.core.backend import require_tensorflow
from spen_keras.core.backend import tensorflow_installed
from spen_keras.datasets.mulan import mulan_arff
from spen_keras.presets.training import IndexedStream
from spen_keras.presets.training import pass_order

DATASETS = tuple(mulan_arff.DATASETS)


def check_dataset(name):
    """`name` if it is a known dataset, else a ValueError listing them."""
    if name not in mulan_arff.DATASETS:
        raise ValueError(f"Unknown multi-label dataset {name!r}; expected "
                         f"one of {DATASETS}.")
    return name


@dataclasses.dataclass(frozen=True)
class MultiLabelData:
    """One dataset's splits as (features float32, labels float32) pairs.

    fit: train without the validation slice (what models train on);
    validation: every 10th train row (epoch and threshold selection);
    test: the standard test split (None for a user's data without one);
    source: where a user's data came from (`own_data`); None for the
        shipped Mulan datasets.
    """

    name: str
    fit: tuple
    validation: tuple
    test: Optional[tuple]
    label_names: tuple
    feature_names: tuple
    source: Optional[str] = None

    @property
    def num_features(self):
        return self.fit[0].shape[1]

    @property
    def num_labels(self):
        return self.fit[1].shape[1]


def _pair(split):
    pair = (np.array(split.features, np.float32),
            np.array(split.labels, np.float32))
    for array in pair:  # shared by every caller of the cached `load`
        array.flags.writeable = False
    return pair


@functools.lru_cache(maxsize=4)
def load(name, root=None):
    """The `MultiLabelData` of a shipped dataset (or of a folder `root`
    laid out like `spen_keras.datasets.mulan`'s)."""
    check_dataset(name)
    fit = mulan_arff.read_split(name, "train_without_validation", root)
    validation = mulan_arff.read_split(name, "validation", root)
    test = mulan_arff.read_split(name, "test", root)
    return MultiLabelData(name, _pair(fit), _pair(validation), _pair(test),
                          tuple(fit.label_names), tuple(fit.feature_names))


def training_dataset(x, y, batch_size, seed, epochs=1000):
    """A seeded stream of (x, y) batches: `epochs` passes over the rows
    (batches run across passes), each pass in its own order.

    The orders are drawn with numpy from (seed, pass), not by a `tf.data`
    shuffle, whose order also depends on TensorFlow's global seed and on
    the graph it is built in: the stream is the same wherever it is built
    (one device, a strategy's input function, a resumed run), so
    `.skip(k)` resumes it exactly. Without TensorFlow the same batches
    come from numpy (`IndexedStream`, endless)."""
    n = len(x)
    if not tensorflow_installed():
        def element(index):
            row = pass_order((seed, index // n), n)[index % n]
            return x[row], y[row]

        return IndexedStream(element, batch_size)
    tf = require_tensorflow("The multi-label training stream (tf.data)")

    def rows():
        for epoch in range(epochs):
            yield from pass_order((seed, epoch), n)

    order = tf.data.Dataset.from_generator(
        rows, output_signature=tf.TensorSpec([], tf.int64))
    x, y = tf.constant(x), tf.constant(y)
    return (order.batch(batch_size)
            .map(lambda rows: (tf.gather(x, rows), tf.gather(y, rows)))
            .prefetch(2))

