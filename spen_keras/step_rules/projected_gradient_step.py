"""Euclidean projected gradient descent onto a box (Eq. 6)."""

import keras
import tensorflow as tf

from spen_keras.step_rules.step_rule import StepRule


@keras.saving.register_keras_serializable(package="spen_keras")
class ProjectedGradientStep(StepRule):
    """y_{t+1} = clip(y_t - eta_t dE/dy, lower, upper).

    Offered for comparison only: clipping has zero derivative outside the
    box, so coordinates that hit a bound stop passing gradient back to the
    energy (the paper's argument for logit-space updates, Sec. 4.1).

    Args:
        lower: lower bound (default 0).
        upper: upper bound (default 1).

    Example:
    >>> rule = ProjectedGradientStep()
    >>> state = rule.update(tf.constant([1.0, -1.0]), (tf.fill([2], .5),), 1.)
    >>> rule.iterate(state).numpy().tolist()
    [0.0, 1.0]
    """

    name = "projected"

    def __init__(self, lower=0.0, upper=1.0):
        lower, upper = float(lower), float(upper)
        if not lower < upper:
            raise ValueError(
                f"`lower` must be below `upper`; got {lower!r} and {upper!r}."
            )
        self.lower, self.upper = lower, upper

    def init(self, y0):
        return (tf.clip_by_value(y0, self.lower, self.upper),)

    def update(self, grad, state, step_size):
        return (
            tf.clip_by_value(state[0] - step_size * grad, self.lower,
                             self.upper),
        )

    def get_config(self):
        return {"lower": self.lower, "upper": self.upper}
