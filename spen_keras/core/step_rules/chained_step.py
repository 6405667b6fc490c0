"""A step rule composed of a parametrisation, a direction and a projection."""

import keras

from spen_keras.core.step_rules.box_projection import BoxProjection
from spen_keras.core.step_rules.direction import Direction
from spen_keras.core.step_rules.entropic_parametrization import (
    EntropicParametrization,
)
from spen_keras.core.step_rules.identity_parametrization import (
    IdentityParametrization,
)
from spen_keras.core.step_rules.logit_parametrization import LogitParametrization
from spen_keras.core.step_rules.momentum_direction import MomentumDirection
from spen_keras.core.step_rules.no_projection import NoProjection
from spen_keras.core.step_rules.parametrization import Parametrization
from spen_keras.core.step_rules.plain_direction import PlainDirection
from spen_keras.core.step_rules.projection import Projection
from spen_keras.core.step_rules.simplex_projection import SimplexProjection
from spen_keras.core.step_rules.step_component import resolve_component
from spen_keras.core.step_rules.step_rule import StepRule

#: Names accepted for each component, mapped to a default-built instance.
PARAMETRIZATIONS = {
    "identity": IdentityParametrization,
    "logits": LogitParametrization,
    "softmax": lambda: LogitParametrization("softmax"),
    "sigmoid": lambda: LogitParametrization("sigmoid"),
    "entropic": EntropicParametrization,
}
DIRECTIONS = {"plain": PlainDirection, "momentum": MomentumDirection}
PROJECTIONS = {"none": NoProjection, "box": BoxProjection,
               "simplex": SimplexProjection}



def _check_combination(parametrization, projection):
    if isinstance(projection, NoProjection) or isinstance(
        parametrization, IdentityParametrization
    ):
        return
    if isinstance(parametrization, LogitParametrization):
        space = ("the probability simplex"
                 if parametrization.activation == "softmax" else "the unit box")
        reason = (
            f"the state holds unconstrained logits and y = "
            f"{parametrization.activation}(logits) already lies in {space}, "
            f"so projecting the logits constrains the wrong coordinates"
        )
    elif isinstance(parametrization, EntropicParametrization):
        reason = (
            "entropic mirror descent keeps y on the probability simplex by "
            "construction, so a projection is redundant (simplex) or breaks "
            "the simplex (box)"
        )
    else:
        reason = ("projections act on y and this parametrisation's state "
                  "is not y")
    raise ValueError(
        f"{projection!r} cannot follow {parametrization!r}: {reason}; use "
        f"projection='none' (or the 'identity' parametrisation)."
    )


@keras.saving.register_keras_serializable(package="spen_keras")
class ChainedStep(StepRule):
    """One step = parametrisation, then direction, then projection.

    In the parametrisation's coordinates c (y, logits, or y on the simplex
    for entropic mirror descent), with g = dE/dy at y = iterate(c):

        g_c = parametrization.coordinate_gradient(g, c)
        d_t, s_{t+1} = direction.update(g_c, s_t, eta_t)
        c_{t+1} = projection.project(parametrization.step(c_t, d_t))

    The state is the flat tuple (c, *s). Every combination works except a
    projection after a non-identity parametrisation (logits already map into
    the simplex or the unit box, and entropic mirror descent stays on the
    simplex), which raises a ValueError. The ready-made rules
    (`GradientDescentStep`, `MomentumStep`, `ProjectedGradientStep`,
    `EntropicMirrorDescentStep`, `LogitStep`) are chains too, and a chain
    equals any rule with the same three components.

    Args:
        parametrization: a `Parametrization` or one of "identity", "logits"
            (SoftMax), "softmax", "sigmoid", "entropic"; or its serialised
            dict.
        direction: a `Direction` or one of "plain", "momentum" (m = 0.9); or
            its serialised dict.
        projection: a `Projection`, None, or one of "none", "box" ([0, 1]),
            "simplex"; or its serialised dict.

    Example:
    >>> rule = ChainedStep("sigmoid", MomentumDirection(0.5))
    >>> state = rule.init(tf.constant([0.5]))  # (logits, velocity)
    >>> state = rule.update(tf.constant([4.0]), state, 1.0)
    >>> [t.numpy().tolist() for t in state]  # dE/dl = 4 * 0.5 * 0.5
    [[-1.0], [1.0]]
    >>> ChainedStep("identity", MomentumDirection(0.25)) == MomentumStep(0.25)
    True
    """

    name = "chained"

    def __init__(self, parametrization="identity", direction="plain",
                 projection="none"):
        if projection is None:
            projection = "none"
        self.parametrization = resolve_component(
            parametrization, "parametrization", Parametrization,
            PARAMETRIZATIONS)
        self.direction = resolve_component(direction, "direction", Direction,
                                    DIRECTIONS)
        self.projection = resolve_component(projection, "projection", Projection,
                                     PROJECTIONS)
        _check_combination(self.parametrization, self.projection)

    @property
    def components(self):
        """(parametrization, direction, projection)."""
        return (self.parametrization, self.direction, self.projection)

    def init(self, y0):
        coords = self.projection.project(self.parametrization.init(y0))
        return (coords,) + tuple(self.direction.init(coords))

    def iterate(self, state):
        return self.parametrization.iterate(state[0])

    def update(self, grad, state, step_size):
        coords = state[0]
        coord_grad = self.parametrization.coordinate_gradient(grad, coords)
        step, direction_state = self.direction.update(
            coord_grad, tuple(state[1:]), step_size
        )
        coords = self.projection.project(
            self.parametrization.step(coords, step)
        )
        return (coords,) + tuple(direction_state)

    def get_config(self):
        return {
            "parametrization": keras.saving.serialize_keras_object(
                self.parametrization),
            "direction": keras.saving.serialize_keras_object(self.direction),
            "projection": keras.saving.serialize_keras_object(self.projection),
        }

    def __eq__(self, other):
        if not isinstance(other, ChainedStep):
            return NotImplemented
        return self.components == other.components

    def __hash__(self):
        return hash(self.components)

    def __repr__(self):
        if type(self) is not ChainedStep:
            return super().__repr__()
        return (f"ChainedStep({self.parametrization!r}, {self.direction!r}, "
                f"{self.projection!r})")
