"""Euclidean projection onto a box: clip(y, lower, upper) (Eq. 6)."""

import keras

from spen_keras.core.step_rules.projection import Projection


@keras.saving.register_keras_serializable(package="spen_keras")
class BoxProjection(Projection):
    """y -> clip(y, lower, upper), elementwise.

    Clipping has zero derivative outside the box, so coordinates that hit a
    bound stop passing gradient back to the energy (Sec. 4.1).

    Args:
        lower: lower bound (default 0; may be -inf).
        upper: upper bound (default 1; may be inf), above `lower`.

    Example:
    >>> BoxProjection(0.0, 1.0).project(tf.constant([-1.0, 0.5, 2.0])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """

    def __init__(self, lower=0.0, upper=1.0):
        lower, upper = float(lower), float(upper)
        if not lower < upper:
            raise ValueError(
                f"`lower` must be below `upper`; got {lower!r} and {upper!r}."
            )
        self.lower, self.upper = lower, upper

    def project(self, y):
        return keras.ops.clip(y, self.lower, self.upper)

    def get_config(self):
        return {"lower": self.lower, "upper": self.upper}
