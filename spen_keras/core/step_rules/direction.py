"""Directions: how a `ChainedStep` turns a gradient into a step."""

from spen_keras.core.step_rules.step_component import StepComponent


class Direction(StepComponent):
    """Forms the step d_t from the gradient in the parametrisation's
    coordinates, with its own (possibly empty) tuple of state tensors.

    Subclasses override `update` and, if they keep state, `init`.
    """

    def init(self, coords):
        """Returns this direction's initial state (a tuple of tensors)."""
        return ()

    def update(self, grad, state, step_size):
        """Returns (d_t, next state) for gradient `grad` and size eta_t."""
        raise NotImplementedError
