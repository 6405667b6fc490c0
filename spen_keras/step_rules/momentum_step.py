"""Gradient descent with heavy-ball momentum."""

import keras
import tensorflow as tf

from spen_keras.step_rules.step_rule import StepRule


@keras.saving.register_keras_serializable(package="spen_keras")
class MomentumStep(StepRule):
    """h_{t+1} = m h_t + eta_t dE/dy;  y_{t+1} = y_t - h_{t+1}.

    The paper's FOE-20 uses m = 0.75, FOE-20+ and DP-20 use m = 0.25.

    Args:
        momentum: m in [0, 1).

    Example:
    >>> rule = MomentumStep(momentum=0.5)
    >>> state = rule.init(tf.zeros(1))
    >>> state = rule.update(tf.ones(1), state, 1.0)
    >>> state = rule.update(tf.ones(1), state, 1.0)
    >>> rule.iterate(state).numpy().tolist()  # -(1) - (0.5 + 1)
    [-2.5]
    """

    name = "momentum"

    def __init__(self, momentum=0.9):
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
        self.momentum = momentum

    def init(self, y0):
        return (y0, tf.zeros_like(y0))

    def update(self, grad, state, step_size):
        y, velocity = state
        velocity = self.momentum * velocity + step_size * grad
        return (y - velocity, velocity)

    def get_config(self):
        return {"momentum": self.momentum}
