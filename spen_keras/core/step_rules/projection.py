"""Projections: where a `ChainedStep` puts each new point back."""

from spen_keras.core.step_rules.step_component import StepComponent


class Projection(StepComponent):
    """Maps a point of y-space onto the feasible set (applied to y0 and
    after every step). Only valid after `IdentityParametrization`."""

    def project(self, y):
        """Returns the projection of `y`."""
        raise NotImplementedError
