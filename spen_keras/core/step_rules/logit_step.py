"""Gradient descent on unnormalised logits, y = SoftMax(l) or Sigmoid(l)."""

import keras

from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.logit_parametrization import (  # noqa: F401
    ACTIVATIONS,
    LogitParametrization,
)
from spen_keras.core.step_rules.no_projection import NoProjection
from spen_keras.core.step_rules.plain_direction import PlainDirection


@keras.saving.register_keras_serializable(package="spen_keras")
class LogitStep(ChainedStep):
    """l_{t+1} = l_t - eta_t dE(y(l))/dl with y = SoftMax(l) or Sigmoid(l).

    The paper's recommended rule for discrete problems (Eq. 8): y stays in the
    simplex (or the unit box) and, unlike projection, every coordinate keeps a
    non-zero derivative. The state holds the logits; dE/dl is the
    vector-Jacobian product of the activation in closed form:
    y * (g - <y, g>) for SoftMax over the last axis, y (1 - y) g for Sigmoid.
    The chain (`LogitParametrization(activation, epsilon)`, `PlainDirection`,
    `NoProjection`).

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
        super().__init__(LogitParametrization(activation, epsilon),
                         PlainDirection(), NoProjection())

    @property
    def activation(self):
        """The activation: "softmax" or "sigmoid"."""
        return self.parametrization.activation

    @property
    def epsilon(self):
        """The clipping of y0 away from 0 and 1."""
        return self.parametrization.epsilon

    def get_config(self):
        return {"activation": self.activation, "epsilon": self.epsilon}
