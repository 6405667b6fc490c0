"""Entropic mirror descent on the probability simplex (Eq. 7)."""

import keras

from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.entropic_parametrization import (
    EntropicParametrization,
)
from spen_keras.core.step_rules.no_projection import NoProjection
from spen_keras.core.step_rules.plain_direction import PlainDirection


@keras.saving.register_keras_serializable(package="spen_keras")
class EntropicMirrorDescentStep(ChainedStep):
    """y_{t+1} = y_t * exp(-eta_t dE/dy) / Z (normalised over the last axis).

    Stays on the simplex without projection and is differentiable everywhere;
    computed as SoftMax(log y_t - eta_t g) for numerical stability. The chain
    (`EntropicParametrization(epsilon)`, `PlainDirection`, `NoProjection`);
    y0 is normalised over the last axis.

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
        super().__init__(EntropicParametrization(epsilon), PlainDirection(),
                         NoProjection())

    @property
    def epsilon(self):
        """The floor inside log y."""
        return self.parametrization.epsilon

    def get_config(self):
        return {"epsilon": self.epsilon}
