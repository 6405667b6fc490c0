"""Euclidean projection onto the probability simplex (last axis)."""

import math

import keras

from spen_keras.core.step_rules.projection import Projection


@keras.saving.register_keras_serializable(package="spen_keras")
class SimplexProjection(Projection):
    """argmin_w ||w - y|| s.t. w >= 0, sum(w) = radius, along the last axis.

    The sort-based algorithm (Held et al. 1974; Duchi et al. 2008):
    with u = y sorted in decreasing order and c_j = sum_{i<=j} u_i - radius,
    the projection is max(y - theta, 0) with theta = c_rho / rho, rho the
    largest j with u_j > c_j / j. The ratios c_j / j increase up to rho and
    do not increase after it, so theta = max_j c_j / j. Plain TF ops (sort,
    cumsum, max), differentiable almost everywhere.

    Args:
        radius: the sum of the projected vector (> 0, default 1).

    Example:
    >>> SimplexProjection().project(tf.constant([0.5, 1.0, -1.0])).numpy()
    array([0.25, 0.75, 0.  ], dtype=float32)
    """

    def __init__(self, radius=1.0):
        radius = float(radius)
        if not (radius > 0.0 and math.isfinite(radius)):
            raise ValueError(
                f"`radius` must be a positive finite number; got {radius!r}."
            )
        self.radius = radius

    def project(self, y):
        y = keras.ops.convert_to_tensor(y)
        u = -keras.ops.sort(-y, axis=-1)  # descending
        cumulative = keras.ops.cumsum(u, axis=-1) - self.radius
        j = keras.ops.cumsum(keras.ops.ones_like(u), axis=-1)  # 1, 2, ...
        theta = keras.ops.max(cumulative / j, axis=-1, keepdims=True)
        return keras.ops.maximum(y - theta, 0.0)

    def get_config(self):
        return {"radius": self.radius}
