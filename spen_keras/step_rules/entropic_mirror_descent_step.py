"""Entropic mirror descent on the probability simplex (Eq. 7)."""

import keras
import tensorflow as tf

from spen_keras.step_rules.step_rule import StepRule


@keras.saving.register_keras_serializable(package="spen_keras")
class EntropicMirrorDescentStep(StepRule):
    """y_{t+1} = y_t * exp(-eta_t dE/dy) / Z (normalised over the last axis).

    Stays on the simplex without projection and is differentiable everywhere;
    computed as SoftMax(log y_t - eta_t g) for numerical stability.

    Args:
        epsilon: floor inside log y, so a zero coordinate stays finite.

    Example:
    >>> rule = EntropicMirrorDescentStep()
    >>> y0 = tf.constant([[0.5, 0.5]])
    >>> y1 = rule.iterate(rule.update(tf.constant([[0.0, 1.0]]), (y0,), 1.0))
    >>> round(float(y1[0, 0]), 4)  # e / (e + 1)
    0.7311
    """

    name = "mirror_descent"

    def __init__(self, epsilon=1e-12):
        epsilon = float(epsilon)
        if not epsilon > 0.0:
            raise ValueError(f"`epsilon` must be positive; got {epsilon!r}.")
        self.epsilon = epsilon

    def init(self, y0):
        return (y0 / tf.reduce_sum(y0, axis=-1, keepdims=True),)

    def update(self, grad, state, step_size):
        log_y = tf.math.log(tf.maximum(state[0], self.epsilon))
        return (tf.nn.softmax(log_y - step_size * grad, axis=-1),)

    def get_config(self):
        return {"epsilon": self.epsilon}
