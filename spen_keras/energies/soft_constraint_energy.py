"""Soft constraints: alpha * SoftPlus(a + b - 1) for each forbidden pair."""

import math

import keras
import numpy as np
import tensorflow as tf

from spen_keras.energies.activations import softplus_with_temperature
from spen_keras.energies.base_energy import Energy, check_positive


@keras.saving.register_keras_serializable(package="spen_keras")
class SoftConstraintEnergy(Energy):
    """Penalises pairs of label variables that must not both be on.

    E(y) = alpha * sum_{(a, b) in pairs} SoftPlus_t(y_a + y_b - 1), the
    soft version of the constraint y_a + y_b <= 1 used for SRL (no two
    overlapping arguments, no repeated core role). Indices a, b address the
    per-example flattened y. alpha is learned (stored as its log) or fixed.

    The pairs are either fixed at construction (`pairs=[[a, b], ...]`) or,
    when `pairs` is None, read per example from the features: an int tensor
    (batch, P, 2), rows padded with -1 are ignored.

    Args:
        pairs: fixed forbidden pairs (list of [a, b]) or None.
        initial_alpha: starting penalty weight (> 0).
        learn_alpha: whether alpha is trained.
        temperature: SoftPlus temperature.
        **kwargs: `Energy` arguments.

    Call arguments:
        y: (batch, ...) values in [0, 1].
        features: (batch, P, 2) int pairs when `pairs` is None.

    Example:
    >>> constraint = SoftConstraintEnergy(pairs=[[0, 1]], initial_alpha=2.0)
    >>> y = tf.constant([[1.0, 1.0, 0.0]])
    >>> round(float(constraint(y)[0]), 3)  # 2 * SoftPlus(1)
    2.627
    """

    def __init__(self, pairs=None, initial_alpha=1.0, learn_alpha=True,
                 temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        if pairs is not None:
            array = np.asarray(pairs, dtype=np.int64)
            if array.ndim != 2 or array.shape[1] != 2 or array.size == 0:
                raise ValueError(
                    "`pairs` must be a non-empty list of [a, b] index pairs; "
                    f"got shape {array.shape}."
                )
            if array.min() < 0:
                raise ValueError("`pairs` indices must be non-negative.")
            pairs = array.tolist()
        self.pairs = pairs
        self.initial_alpha = check_positive("initial_alpha", initial_alpha)
        self.learn_alpha = bool(learn_alpha)
        self.temperature = check_positive("temperature", temperature)
        self.requires_features = pairs is None

    def build(self, y_shape, features_shape=None):
        self.log_alpha = self.add_weight(
            name="log_alpha", shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_alpha)),
            trainable=self.learn_alpha,
        )

    def energy(self, y, features):
        flat = tf.reshape(y, [tf.shape(y)[0], -1])
        if self.pairs is not None:
            size = flat.shape[1]
            largest = max(max(p) for p in self.pairs)
            if size is not None and largest >= size:
                raise ValueError(
                    f"SoftConstraintEnergy pair index {largest} is out of range"
                    f" for y with {size} entries per example."
                )
            index = tf.constant(self.pairs, dtype=tf.int32)
            a = tf.gather(flat, index[:, 0], axis=1)
            b = tf.gather(flat, index[:, 1], axis=1)
            valid = tf.ones_like(a)
        else:
            index = tf.cast(features, tf.int32)
            valid = tf.cast(index[..., 0] >= 0, flat.dtype)
            safe = tf.maximum(index, 0)
            a = tf.gather(flat, safe[..., 0], axis=1, batch_dims=1)
            b = tf.gather(flat, safe[..., 1], axis=1, batch_dims=1)
        penalty = softplus_with_temperature(a + b - 1.0, self.temperature)
        return tf.exp(self.log_alpha) * tf.reduce_sum(penalty * valid, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pairs": self.pairs,
                "initial_alpha": self.initial_alpha,
                "learn_alpha": self.learn_alpha,
                "temperature": self.temperature,
            }
        )
        return config
