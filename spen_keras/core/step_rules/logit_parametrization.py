"""Logits: the state holds l with y = SoftMax(l) or Sigmoid(l) (Eq. 8)."""

import keras

from spen_keras.core.step_rules.parametrization import Parametrization

ACTIVATIONS = ("softmax", "sigmoid")


@keras.saving.register_keras_serializable(package="spen_keras")
class LogitParametrization(Parametrization):
    """Steps in unnormalised logits l, with y = SoftMax(l) or Sigmoid(l).

    y stays in the simplex (SoftMax over the last axis) or the unit box
    (Sigmoid) and, unlike projection, every coordinate keeps a non-zero
    derivative (Belanger et al. 2017, Eq. 8). dE/dl is the vector-Jacobian
    product of the activation in closed form: y * (g - <y, g>) for SoftMax,
    y (1 - y) g for Sigmoid.

    Args:
        activation: "softmax" (last axis is a distribution) or "sigmoid".
        epsilon: clipping of y0 away from 0 and 1 when taking its logits,
            in (0, 0.5).

    Example:
    >>> p = LogitParametrization("sigmoid")
    >>> logits = p.init(tf.constant([0.5]))
    >>> p.coordinate_gradient(tf.constant([4.0]), logits).numpy()  # 4 y (1-y)
    array([1.], dtype=float32)
    """

    def __init__(self, activation="softmax", epsilon=1e-6):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of "
                f"{ACTIVATIONS}."
            )
        epsilon = float(epsilon)
        if not 0.0 < epsilon < 0.5:
            raise ValueError(f"`epsilon` must be in (0, 0.5); got {epsilon!r}.")
        self.activation = activation
        self.epsilon = epsilon

    def init(self, y0):
        y0 = keras.ops.clip(y0, self.epsilon, 1.0 - self.epsilon)
        if self.activation == "softmax":
            return keras.ops.log(y0)
        return keras.ops.log(y0) - keras.ops.log1p(-y0)

    def iterate(self, coords):
        if self.activation == "softmax":
            return keras.ops.softmax(coords, axis=-1)
        return keras.ops.sigmoid(coords)

    def coordinate_gradient(self, grad, coords):
        y = self.iterate(coords)
        if self.activation == "softmax":
            return y * (grad - keras.ops.sum(y * grad, -1, keepdims=True))
        return y * (1.0 - y) * grad

    def get_config(self):
        return {"activation": self.activation, "epsilon": self.epsilon}
