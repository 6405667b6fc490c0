"""Euclidean projected gradient descent onto a box (Eq. 6)."""

import keras

from spen_keras.core.step_rules.box_projection import BoxProjection
from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.identity_parametrization import (
    IdentityParametrization,
)
from spen_keras.core.step_rules.plain_direction import PlainDirection


@keras.saving.register_keras_serializable(package="spen_keras")
class ProjectedGradientStep(ChainedStep):
    """y_{t+1} = clip(y_t - eta_t dE/dy, lower, upper).

    Offered for comparison only: clipping has zero derivative outside the
    box, so coordinates that hit a bound stop passing gradient back to the
    energy (the paper's argument for logit-space updates, Sec. 4.1). The
    chain (`IdentityParametrization`, `PlainDirection`,
    `BoxProjection(lower, upper)`); y0 is clipped too.

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
        super().__init__(IdentityParametrization(), PlainDirection(),
                         BoxProjection(lower, upper))

    @property
    def lower(self):
        """The lower bound."""
        return self.projection.lower

    @property
    def upper(self):
        """The upper bound."""
        return self.projection.upper

    def get_config(self):
        return {"lower": self.lower, "upper": self.upper}
