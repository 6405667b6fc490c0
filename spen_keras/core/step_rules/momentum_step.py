"""Gradient descent with heavy-ball momentum."""

import keras

from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.identity_parametrization import (
    IdentityParametrization,
)
from spen_keras.core.step_rules.momentum_direction import MomentumDirection
from spen_keras.core.step_rules.no_projection import NoProjection


@keras.saving.register_keras_serializable(package="spen_keras")
class MomentumStep(ChainedStep):
    """h_{t+1} = m h_t + eta_t dE/dy;  y_{t+1} = y_t - h_{t+1}.

    The paper's FOE-20 uses m = 0.75, FOE-20+ and DP-20 use m = 0.25. The
    chain (`IdentityParametrization`, `MomentumDirection(m)`,
    `NoProjection`); the state is (y, h).

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
        super().__init__(IdentityParametrization(), MomentumDirection(momentum),
                         NoProjection())

    @property
    def momentum(self):
        """m, the momentum coefficient."""
        return self.direction.momentum

    def get_config(self):
        return {"momentum": self.momentum}
