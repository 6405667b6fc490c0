"""Soft constraints: alpha * SoftPlus(a + b - 1) for each forbidden pair."""

import math

import keras
import numpy as np
from keras import ops

from spen_keras.core.energies.activations import softplus_with_temperature
from spen_keras.core.energies.base_energy import Energy, check_positive


@keras.saving.register_keras_serializable(package="spen_keras")
class SoftConstraintEnergy(Energy):
    """Penalises pairs of label variables that must not both be on.

    E(y) = alpha * sum_{(a, b) in pairs} SoftPlus_t(y_a + y_b - 1), the
    soft version of the constraint y_a + y_b <= 1 used for SRL (no two
    overlapping arguments, no repeated core role). Indices a, b address the
    per-example flattened y. alpha is learned (stored as its log) or fixed.

    The pairs are either fixed at construction (`pairs=[[a, b], ...]`) or,
    when `pairs` is None, read per example from the features: an int tensor
    (batch, P, 2) of flat indices, or (batch, P, 2, d) of coordinates over
    y's non-batch axes (so that padding y does not move them); rows whose
    first index is -1 are padding and are ignored.

    With `empty_label` set, the last axis of y is a distribution over labels
    and a pair addresses two *positions* (flat over, or coordinates of, y's
    axes without the last): the variable of a position is 1 - y[..., empty],
    "the position takes some label", so SoftPlus(a + b - 1) forbids two
    positions both taking a non-empty label (SRL: overlapping arguments).

    Args:
        pairs: fixed forbidden pairs (list of [a, b]) or None.
        initial_alpha: starting penalty weight (> 0).
        learn_alpha: whether alpha is trained.
        temperature: SoftPlus temperature.
        empty_label: None, or the index of the empty label on y's last
            axis (pairs then address positions, see above).
        **kwargs: `Energy` arguments.

    Call arguments:
        y: (batch, ...) values in [0, 1].
        features: (batch, P, 2) or (batch, P, 2, d) int pairs when `pairs`
            is None.

    Example:
    >>> constraint = SoftConstraintEnergy(pairs=[[0, 1]], initial_alpha=2.0)
    >>> y = keras.ops.convert_to_tensor([[1.0, 1.0, 0.0]])
    >>> round(float(constraint(y)[0]), 3)  # 2 * SoftPlus(1)
    2.627
    """

    def __init__(self, pairs=None, initial_alpha=1.0, learn_alpha=True,
                 temperature=1.0, empty_label=None, **kwargs):
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
        if empty_label is not None and int(empty_label) < 0:
            raise ValueError(f"`empty_label` must be >= 0; got {empty_label}.")
        self.empty_label = None if empty_label is None else int(empty_label)

    def build(self, y_shape, features_shape=None):
        self.log_alpha = self.add_weight(
            name="log_alpha", shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_alpha)),
            trainable=self.learn_alpha,
        )

    def _variables(self, y):
        """y, or 1 - y[..., empty_label] (position variables)."""
        if self.empty_label is None:
            return y
        return 1.0 - y[..., self.empty_label]

    def energy(self, y, features):
        values = self._variables(y)
        rank = len(values.shape)
        flat = ops.reshape(values, (ops.shape(values)[0], -1))
        index = None if self.pairs is not None else ops.cast(features, "int32")
        if index is not None and len(index.shape) == 4:
            if index.shape[-1] is not None and index.shape[-1] != rank - 1:
                raise ValueError(
                    f"SoftConstraintEnergy pair coordinates have "
                    f"{index.shape[-1]} entries but the constrained variables "
                    f"have {rank - 1} non-batch axes.")
            valid = ops.cast(index[..., 0, 0] >= 0, values.dtype)
            # A padding row reads position 0, whatever its other entries.
            safe = ops.where(index[..., :1, :1] >= 0, index, 0)
            # Coordinates -> positions in `flat` (row-major).
            dims = ops.shape(values)[1:]
            position, stride = 0, 1
            for axis in reversed(range(len(dims))):
                position = position + safe[..., axis] * stride
                stride = stride * dims[axis]
            a = _batch_take(flat, position[..., 0])
            b = _batch_take(flat, position[..., 1])
        elif self.pairs is not None:
            size = flat.shape[1]
            largest = max(max(p) for p in self.pairs)
            if size is not None and largest >= size:
                raise ValueError(
                    f"SoftConstraintEnergy pair index {largest} is out of range"
                    f" for y with {size} entries per example."
                )
            index = np.asarray(self.pairs, dtype="int32")
            a = ops.take(flat, index[:, 0], axis=1)
            b = ops.take(flat, index[:, 1], axis=1)
            valid = ops.ones_like(a)
        else:
            valid = ops.cast(index[..., 0] >= 0, flat.dtype)
            safe = ops.where(index[..., :1] >= 0, index, 0)
            a = _batch_take(flat, safe[..., 0])
            b = _batch_take(flat, safe[..., 1])
        penalty = softplus_with_temperature(a + b - 1.0, self.temperature)
        return ops.exp(self.log_alpha) * ops.sum(penalty * valid, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pairs": self.pairs,
                "initial_alpha": self.initial_alpha,
                "learn_alpha": self.learn_alpha,
                "temperature": self.temperature,
                "empty_label": self.empty_label,
            }
        )
        return config


def _batch_take(flat, position):
    """flat[i, position[i, j]] for a (batch, n) `flat` and (batch, p) int
    positions: one gather on the flattened batch (no per-example gather and
    no transposed index grid, which oneDNN logs about without AVX-512)."""
    shape = ops.shape(flat)
    offsets = ops.arange(shape[0], dtype="int32")[:, None] * ops.cast(
        shape[1], "int32")
    return ops.take(ops.reshape(flat, (-1,)), position + offsets, axis=0)
