"""Step rules of the unrolled minimiser, and `get_step_rule` by name."""

import keras

from spen_keras.step_rules.entropic_mirror_descent_step import (
    EntropicMirrorDescentStep,
)
from spen_keras.step_rules.gradient_descent_step import GradientDescentStep
from spen_keras.step_rules.logit_step import LogitStep
from spen_keras.step_rules.momentum_step import MomentumStep
from spen_keras.step_rules.projected_gradient_step import ProjectedGradientStep
from spen_keras.step_rules.step_rule import StepRule

STEP_RULES = {
    rule.name: rule
    for rule in (
        GradientDescentStep,
        MomentumStep,
        ProjectedGradientStep,
        EntropicMirrorDescentStep,
        LogitStep,
    )
}


def get_step_rule(identifier):
    """Returns a `StepRule` from an instance, a name or a serialised config.

    Args:
        identifier: a `StepRule`; one of the names in `STEP_RULES`
            ("gradient_descent", "momentum", "projected", "mirror_descent",
            "logits"); or a dict from `keras.saving.serialize_keras_object`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(identifier, StepRule):
        return identifier
    if isinstance(identifier, str):
        if identifier not in STEP_RULES:
            raise ValueError(
                f"Unknown step rule {identifier!r}; known step rules: "
                f"{sorted(STEP_RULES)}."
            )
        return STEP_RULES[identifier]()
    if isinstance(identifier, dict):
        rule = keras.saving.deserialize_keras_object(identifier)
        if isinstance(rule, StepRule):
            return rule
    raise ValueError(
        f"Cannot interpret {identifier!r} as a step rule; pass a StepRule, "
        f"one of {sorted(STEP_RULES)} or a serialised step rule."
    )


__all__ = [
    "EntropicMirrorDescentStep",
    "GradientDescentStep",
    "LogitStep",
    "MomentumStep",
    "ProjectedGradientStep",
    "STEP_RULES",
    "StepRule",
    "get_step_rule",
]
