"""Entropic mirror descent on the probability simplex (Eq. 7)."""

import keras

from spen_keras.core.step_rules.parametrization import Parametrization


@keras.saving.register_keras_serializable(package="spen_keras")
class EntropicParametrization(Parametrization):
    """Mirror descent with the entropy: y_{t+1} = SoftMax(log y_t - d_t).

    The state holds y on the simplex (last axis); a step is taken in log
    space and renormalised, so y never leaves the simplex and needs no
    projection. With the plain direction d_t = eta_t dE/dy this is
    y_{t+1} = y_t exp(-eta_t dE/dy) / Z.

    Args:
        epsilon: floor inside log y, so a zero coordinate stays finite (> 0).

    Example:
    >>> p = EntropicParametrization()
    >>> y0 = p.init(tf.constant([[1.0, 1.0]]))  # normalised: [[0.5, 0.5]]
    >>> round(float(p.step(y0, tf.constant([[0.0, 1.0]]))[0, 0]), 4)
    0.7311
    """

    def __init__(self, epsilon=1e-12):
        epsilon = float(epsilon)
        if not epsilon > 0.0:
            raise ValueError(f"`epsilon` must be positive; got {epsilon!r}.")
        self.epsilon = epsilon

    def init(self, y0):
        return y0 / keras.ops.sum(y0, axis=-1, keepdims=True)

    def step(self, coords, direction):
        log_y = keras.ops.log(keras.ops.maximum(coords, self.epsilon))
        return keras.ops.softmax(log_y - direction, axis=-1)

    def get_config(self):
        return {"epsilon": self.epsilon}
