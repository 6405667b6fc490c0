"""Gradient descent on unnormalised logits, y = SoftMax(l) or Sigmoid(l)."""

import keras
import tensorflow as tf

from spen_keras.step_rules.step_rule import StepRule

ACTIVATIONS = ("softmax", "sigmoid")


@keras.saving.register_keras_serializable(package="spen_keras")
class LogitStep(StepRule):
    """l_{t+1} = l_t - eta_t dE(y(l))/dl with y = SoftMax(l) or Sigmoid(l).

    The paper's recommended rule for discrete problems (Eq. 8): y stays in the
    simplex (or the unit box) and, unlike projection, every coordinate keeps a
    non-zero derivative. The state holds the logits; dE/dl is the
    vector-Jacobian product of the activation in closed form:
    y * (g - <y, g>) for SoftMax over the last axis, y (1 - y) g for Sigmoid.

    Args:
        activation: "softmax" (last axis is a distribution) or "sigmoid".
        epsilon: clipping of y0 away from 0 and 1 when taking its logits.

    Example:
    >>> rule = LogitStep("sigmoid")
    >>> state = rule.init(tf.constant([0.5]))
    >>> rule.iterate(rule.update(tf.constant([4.0]), state, 1.0)).numpy()
    array([0.26894143], dtype=float32)
    """

    name = "logits"

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
        y0 = tf.clip_by_value(y0, self.epsilon, 1.0 - self.epsilon)
        if self.activation == "softmax":
            return (tf.math.log(y0),)
        return (tf.math.log(y0) - tf.math.log1p(-y0),)

    def iterate(self, state):
        if self.activation == "softmax":
            return tf.nn.softmax(state[0], axis=-1)
        return tf.sigmoid(state[0])

    def update(self, grad, state, step_size):
        y = self.iterate(state)
        if self.activation == "softmax":
            logit_grad = y * (grad - tf.reduce_sum(y * grad, -1, keepdims=True))
        else:
            logit_grad = y * (1.0 - y) * grad
        return (state[0] - step_size * logit_grad,)

    def get_config(self):
        return {"activation": self.activation, "epsilon": self.epsilon}
