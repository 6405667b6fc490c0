"""Step rules of the unrolled minimiser, and `get_step_rule` by name.

A step rule is a chain of three components, in the style of optax:
a `Parametrization` (which coordinates the state holds:
`IdentityParametrization`, `LogitParametrization`,
`EntropicParametrization`), a `Direction`
(`PlainDirection`, `MomentumDirection`) and a `Projection` (`NoProjection`,
`BoxProjection`, `SimplexProjection`), put together by `ChainedStep`. The
five named rules are ready-made chains.
"""

from spen_keras.core.step_rules.box_projection import BoxProjection
from spen_keras.core.step_rules.chained_step import ChainedStep
from spen_keras.core.step_rules.direction import Direction
from spen_keras.core.step_rules.entropic_mirror_descent_step import (
    EntropicMirrorDescentStep,
)
from spen_keras.core.step_rules.entropic_parametrization import (
    EntropicParametrization,
)
from spen_keras.core.step_rules.gradient_descent_step import GradientDescentStep
from spen_keras.core.step_rules.identity_parametrization import (
    IdentityParametrization,
)
from spen_keras.core.step_rules.logit_parametrization import LogitParametrization
from spen_keras.core.step_rules.logit_step import LogitStep
from spen_keras.core.step_rules.momentum_direction import MomentumDirection
from spen_keras.core.step_rules.momentum_step import MomentumStep
from spen_keras.core.step_rules.no_projection import NoProjection
from spen_keras.core.step_rules.parametrization import Parametrization
from spen_keras.core.step_rules.plain_direction import PlainDirection
from spen_keras.core.step_rules.projected_gradient_step import ProjectedGradientStep
from spen_keras.core.step_rules.projection import Projection
from spen_keras.core.step_rules.simplex_projection import SimplexProjection
from spen_keras.core.step_rules.step_component import resolve_component
from spen_keras.core.step_rules.step_rule import StepRule

STEP_RULES = {
    rule.name: rule
    for rule in (
        GradientDescentStep,
        MomentumStep,
        ProjectedGradientStep,
        EntropicMirrorDescentStep,
        LogitStep,
        ChainedStep,
    )
}


def get_step_rule(identifier):
    """Returns a `StepRule` from an instance, a name or a serialised config.

    Args:
        identifier: a `StepRule`; one of the names in `STEP_RULES`
            ("gradient_descent", "momentum", "projected", "mirror_descent",
            "logits", and "chained", a default `ChainedStep`, i.e. plain
            gradient descent); or a dict from
            `keras.saving.serialize_keras_object`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    return resolve_component(identifier, "step rule", StepRule, STEP_RULES)


__all__ = [
    "BoxProjection",
    "ChainedStep",
    "Direction",
    "EntropicMirrorDescentStep",
    "EntropicParametrization",
    "GradientDescentStep",
    "IdentityParametrization",
    "LogitParametrization",
    "LogitStep",
    "MomentumDirection",
    "MomentumStep",
    "NoProjection",
    "Parametrization",
    "PlainDirection",
    "ProjectedGradientStep",
    "Projection",
    "STEP_RULES",
    "SimplexProjection",
    "StepRule",
    "get_step_rule",
]
