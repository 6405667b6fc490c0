"""Parametrisations: which coordinates a `ChainedStep` takes its steps in."""

from spen_keras.core.step_rules.step_component import StepComponent


class Parametrization(StepComponent):
    """The coordinates the state holds, and how a step moves them.

    The state's first tensor holds coordinates c (y itself, logits, ...);
    `iterate` maps them to y; `coordinate_gradient` turns dE/dy into the
    gradient the direction works with; `step` moves c by a direction d
    (c - d for Euclidean coordinates).

    Subclasses override what differs from the identity.
    """

    def init(self, y0):
        """Returns the coordinates of the starting point `y0`."""
        return y0

    def iterate(self, coords):
        """Returns y at coordinates `coords`."""
        return coords

    def coordinate_gradient(self, grad, coords):
        """Returns the gradient in coordinates, given dE/dy at `coords`."""
        return grad

    def step(self, coords, direction):
        """Returns the coordinates after a step along -`direction`."""
        return coords - direction
