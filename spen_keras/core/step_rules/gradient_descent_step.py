"""Plain gradient descent: y <- y - eta * dE/dy."""

import keras

from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.identity_parametrization import (
    IdentityParametrization,
)
from spen_keras.core.step_rules.no_projection import NoProjection
from spen_keras.core.step_rules.plain_direction import PlainDirection


@keras.saving.register_keras_serializable(package="spen_keras")
class GradientDescentStep(ChainedStep):
    """y_{t+1} = y_t - eta_t dE/dy (Eq. 5).

    The chain (`IdentityParametrization`, `PlainDirection`, `NoProjection`).

    Example:
    >>> rule = GradientDescentStep()
    >>> state = rule.update(tf.ones(2), rule.init(tf.zeros(2)), 0.5)
    >>> rule.iterate(state).numpy().tolist()
    [-0.5, -0.5]
    """

    name = "gradient_descent"

    def __init__(self):
        super().__init__(IdentityParametrization(), PlainDirection(),
                         NoProjection())

    def get_config(self):
        return {}
