"""Every step rule reaches the closed-form minimiser of a convex energy."""

import numpy as np
import pytest
import tensorflow as tf

from energy_helpers import LinearTestEnergy
from spen_keras import (
    EntropicMirrorDescentStep,
    EntropyEnergy,
    GradientDescentStep,
    LogitStep,
    MomentumStep,
    ProjectedGradientStep,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
    get_step_rule,
)

RNG = np.random.RandomState(0)


def two_quadratics():
    """E = ||y-a||^2/(2*0.5) + ||y-b||^2/(2*2), minimised at (4a + b)/5."""
    energy = SumEnergy([
        QuadraticDataEnergy(0.5, features_key="a", dtype="float64"),
        QuadraticDataEnergy(2.0, features_key="b", dtype="float64"),
    ], dtype="float64")
    a = RNG.uniform(-1.0, 2.0, (3, 4, 5, 1))
    b = RNG.uniform(-1.0, 2.0, (3, 4, 5, 1))
    return energy, {"a": tf.constant(a), "b": tf.constant(b)}, (4 * a + b) / 5


@pytest.mark.parametrize(
    "rule", [GradientDescentStep(), MomentumStep(0.5), MomentumStep(0.9)],
    ids=["gd", "momentum0.5", "momentum0.9"],
)
def test_euclidean_rules_reach_quadratic_minimum(rule):
    energy, features, minimum = two_quadratics()
    minimizer = UnrolledMinimizer(energy, num_steps=300, step_rule=rule,
                                  step_size=0.1, dtype="float64")
    y = minimizer(tf.zeros_like(features["a"]), features)
    np.testing.assert_allclose(y.numpy(), minimum, atol=1e-8)


def test_projected_rule_reaches_box_constrained_minimum():
    energy, features, minimum = two_quadratics()
    minimizer = UnrolledMinimizer(energy, num_steps=300,
                                  step_rule=ProjectedGradientStep(0.0, 1.0),
                                  step_size=0.1, dtype="float64")
    y = minimizer(tf.fill(features["a"].shape, tf.constant(0.5, tf.float64)),
                  features)
    # A separable quadratic: the box minimiser is the clipped one.
    np.testing.assert_allclose(y.numpy(), np.clip(minimum, 0, 1), atol=1e-8)
    assert (minimum < 0).any() and (minimum > 1).any()


def entropy_regularised_linear(mode, temperature=0.5):
    """E = -<y, s> + tau sum(y log y [+ (1-y) log(1-y)])."""
    return SumEnergy([
        LinearTestEnergy(dtype="float64"),
        EntropyEnergy(temperature, mode=mode, dtype="float64"),
    ], dtype="float64")


@pytest.mark.parametrize(
    "rule", [EntropicMirrorDescentStep(), LogitStep("softmax")],
    ids=["mirror_descent", "logits_softmax"],
)
def test_simplex_rules_reach_softmax_minimum(rule):
    scores = 0.5 * RNG.normal(size=(2, 3, 4))
    minimizer = UnrolledMinimizer(entropy_regularised_linear("simplex"),
                                  num_steps=600, step_rule=rule,
                                  step_size=1.0, dtype="float64")
    y = minimizer(tf.fill((2, 3, 4), tf.constant(0.25, tf.float64)),
                  tf.constant(scores))
    expected = np.exp(scores / 0.5) / np.exp(scores / 0.5).sum(-1, keepdims=True)
    np.testing.assert_allclose(y.numpy(), expected, atol=1e-7)


def test_sigmoid_logit_rule_reaches_sigmoid_minimum():
    scores = 0.5 * RNG.normal(size=(2, 6))
    minimizer = UnrolledMinimizer(entropy_regularised_linear("bernoulli"),
                                  num_steps=600, step_rule=LogitStep("sigmoid"),
                                  step_size=4.0, dtype="float64")
    y = minimizer(tf.fill((2, 6), tf.constant(0.5, tf.float64)),
                  tf.constant(scores))
    np.testing.assert_allclose(y.numpy(), 1 / (1 + np.exp(-scores / 0.5)),
                               atol=1e-7)


def test_momentum_state_carries_velocity():
    rule = MomentumStep(0.5)
    state = rule.init(tf.zeros(1))
    for _ in range(2):
        state = rule.update(tf.ones(1), state, 1.0)
    np.testing.assert_allclose(rule.iterate(state).numpy(), [-2.5])


def test_projected_rule_kills_gradient_outside_the_box():
    rule = ProjectedGradientStep()
    y = tf.constant([0.5, 0.5])
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = rule.iterate(rule.update(tf.constant([10.0, 0.1]), (y,), 1.0))
    np.testing.assert_allclose(tape.gradient(out, y).numpy(), [0.0, 1.0])


@pytest.mark.parametrize("name", ["gradient_descent", "momentum", "projected",
                                  "mirror_descent", "logits"])
def test_get_step_rule_by_name_and_config_round_trip(name):
    import keras

    rule = get_step_rule(name)
    restored = get_step_rule(keras.saving.serialize_keras_object(rule))
    assert type(restored) is type(rule)
    assert restored.get_config() == rule.get_config()


def test_unknown_step_rule_lists_known_ones():
    with pytest.raises(ValueError, match="Unknown step rule 'adamw'.*momentum"):
        get_step_rule("adamw")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MomentumStep(1.0), "momentum"),
        (lambda: ProjectedGradientStep(1.0, 0.0), "lower"),
        (lambda: LogitStep("tanh"), "Unknown activation"),
    ],
)
def test_bad_step_rule_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
