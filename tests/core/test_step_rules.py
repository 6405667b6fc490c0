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


# --- The five rules are chains now: same numbers, same configs ------------

def _old_logit_init(activation, epsilon):
    def init(y0):
        y0 = tf.clip_by_value(y0, epsilon, 1.0 - epsilon)
        if activation == "softmax":
            return (tf.math.log(y0),)
        return (tf.math.log(y0) - tf.math.log1p(-y0),)
    return init


def _old_logit_iterate(activation):
    def iterate(state):
        if activation == "softmax":
            return tf.nn.softmax(state[0], axis=-1)
        return tf.sigmoid(state[0])
    return iterate


def _old_logit_update(activation):
    def update(grad, state, step_size):
        y = _old_logit_iterate(activation)(state)
        if activation == "softmax":
            logit_grad = y * (grad - tf.reduce_sum(y * grad, -1, keepdims=True))
        else:
            logit_grad = y * (1.0 - y) * grad
        return (state[0] - step_size * logit_grad,)
    return update


def _first(state):
    return state[0]


# The formulas of the five rules before they became chains, written out:
# (rule, init, iterate, update).
OLD_FORMULAS = {
    "gradient_descent": (
        GradientDescentStep(), lambda y0: (y0,), _first,
        lambda g, s, eta: (s[0] - eta * g,),
    ),
    "momentum": (
        MomentumStep(0.25), lambda y0: (y0, tf.zeros_like(y0)), _first,
        lambda g, s, eta: (s[0] - (0.25 * s[1] + eta * g),
                           0.25 * s[1] + eta * g),
    ),
    "projected": (
        ProjectedGradientStep(-0.3, 0.8),
        lambda y0: (tf.clip_by_value(y0, -0.3, 0.8),), _first,
        lambda g, s, eta: (tf.clip_by_value(s[0] - eta * g, -0.3, 0.8),),
    ),
    "mirror_descent": (
        EntropicMirrorDescentStep(1e-12),
        lambda y0: (y0 / tf.reduce_sum(y0, axis=-1, keepdims=True),), _first,
        lambda g, s, eta: (tf.nn.softmax(
            tf.math.log(tf.maximum(s[0], 1e-12)) - eta * g, axis=-1),),
    ),
    "logits_softmax": (
        LogitStep("softmax", 1e-6), _old_logit_init("softmax", 1e-6),
        _old_logit_iterate("softmax"), _old_logit_update("softmax"),
    ),
    "logits_sigmoid": (
        LogitStep("sigmoid", 1e-3), _old_logit_init("sigmoid", 1e-3),
        _old_logit_iterate("sigmoid"), _old_logit_update("sigmoid"),
    ),
}


@pytest.mark.parametrize("key", sorted(OLD_FORMULAS))
def test_ready_made_chains_repeat_the_old_formulas(key):
    rule, init, iterate, update = OLD_FORMULAS[key]
    rng = np.random.RandomState(7)
    y0 = tf.constant(rng.uniform(0.0, 1.0, (3, 4, 5)))  # some below epsilon
    y0 = tf.tensor_scatter_nd_update(y0, [[0, 0, 0]], tf.constant([0.0],
                                                                  tf.float64))
    new, old = rule.init(y0), init(y0)
    for t in range(6):
        assert len(new) == len(old)
        for a, b in zip(new, old):
            assert a.dtype == tf.float64
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0,
                                       atol=1e-12)
        np.testing.assert_allclose(rule.iterate(new).numpy(),
                                   iterate(old).numpy(), rtol=0, atol=1e-12)
        grad = tf.constant(rng.normal(size=(3, 4, 5)))
        eta = tf.constant(0.3 + 0.2 * t, tf.float64)
        new, old = rule.update(grad, new, eta), update(grad, old, eta)


# Configs as `keras.saving.serialize_keras_object` wrote them before the
# rules became chains (e.g. in zoo/presets/*/config.json).
LEGACY_CONFIGS = [
    ({"module": "spen_keras.core.step_rules.gradient_descent_step",
      "class_name": "GradientDescentStep", "config": {},
      "registered_name": "spen_keras>GradientDescentStep"},
     GradientDescentStep()),
    ({"module": "spen_keras.core.step_rules.momentum_step",
      "class_name": "MomentumStep", "config": {"momentum": 0.25},
      "registered_name": "spen_keras>MomentumStep"},
     MomentumStep(0.25)),
    ({"module": "spen_keras.core.step_rules.projected_gradient_step",
      "class_name": "ProjectedGradientStep",
      "config": {"lower": -1.0, "upper": 2.0},
      "registered_name": "spen_keras>ProjectedGradientStep"},
     ProjectedGradientStep(-1.0, 2.0)),
    ({"module": "spen_keras.core.step_rules.entropic_mirror_descent_step",
      "class_name": "EntropicMirrorDescentStep",
      "config": {"epsilon": 1e-12},
      "registered_name": "spen_keras>EntropicMirrorDescentStep"},
     EntropicMirrorDescentStep()),
    ({"module": "spen_keras.core.step_rules.logit_step",
      "class_name": "LogitStep",
      "config": {"activation": "sigmoid", "epsilon": 1e-06},
      "registered_name": "spen_keras>LogitStep"},
     LogitStep("sigmoid")),
]


@pytest.mark.parametrize("config, expected", LEGACY_CONFIGS,
                         ids=lambda v: getattr(v, "name", None))
def test_legacy_serialised_configs_still_load(config, expected):
    import copy

    import keras

    rule = get_step_rule(copy.deepcopy(config))
    assert type(rule) is type(expected)
    assert rule == expected
    assert rule.get_config() == config["config"]
    # ... and the rule still serialises to exactly the same dict.
    assert keras.saving.serialize_keras_object(rule) == config
    # Same numbers as the freshly built rule.
    y0 = tf.constant(np.random.RandomState(1).uniform(0.1, 0.9, (2, 3)))
    grad = tf.constant(np.random.RandomState(2).normal(size=(2, 3)))
    a, b = rule.init(y0), expected.init(y0)
    a, b = rule.update(grad, a, 0.5), expected.update(grad, b, 0.5)
    np.testing.assert_array_equal(rule.iterate(a).numpy(),
                                  expected.iterate(b).numpy())


def test_ready_made_rules_are_chains_of_their_components():
    from spen_keras import (
        BoxProjection,
        ChainedStep,
        EntropicParametrization,
        IdentityParametrization,
        LogitParametrization,
        MomentumDirection,
        NoProjection,
        PlainDirection,
    )

    assert MomentumStep(0.25) == ChainedStep(
        IdentityParametrization(), MomentumDirection(0.25), NoProjection())
    assert MomentumStep(0.25) != MomentumStep(0.75)
    assert GradientDescentStep() == ChainedStep()
    assert ProjectedGradientStep(-1, 2) == ChainedStep(
        "identity", PlainDirection(), BoxProjection(-1.0, 2.0))
    assert EntropicMirrorDescentStep() == ChainedStep(
        EntropicParametrization(), "plain")
    assert LogitStep("sigmoid") == ChainedStep("sigmoid")
    assert LogitStep() == ChainedStep(LogitParametrization("softmax", 1e-6))
    # The old attributes are still there.
    assert MomentumStep(0.25).momentum == 0.25
    assert (ProjectedGradientStep(-1, 2).lower,
            ProjectedGradientStep(-1, 2).upper) == (-1.0, 2.0)
    assert LogitStep("sigmoid").activation == "sigmoid"
    assert EntropicMirrorDescentStep(1e-9).epsilon == 1e-9
    assert repr(MomentumStep(0.25)) == "MomentumStep(momentum=0.25)"
