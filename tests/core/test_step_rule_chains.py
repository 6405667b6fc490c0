"""Composed step rules: new combinations reach known minimisers, the simplex
projection matches a numpy reference, chains serialise, bad combinations and
parameters fail clearly, and gradients through a chain match finite
differences (float64)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from energy_helpers import LinearTestEnergy
from spen_keras import (
    BoxProjection,
    ChainedStep,
    EntropicParametrization,
    EntropyEnergy,
    IdentityParametrization,
    LogitParametrization,
    MomentumDirection,
    MomentumStep,
    NoProjection,
    PlainDirection,
    SimplexProjection,
    SumEnergy,
    UnrolledMinimizer,
    get_step_rule,
)
from spen_keras.core.energies import Energy
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes


class WeightedQuadraticEnergy(Energy):
    """E(y) = sum_i w_i (y_i - a_i)^2 / 2, features {"a": a, "w": w}."""

    requires_features = True

    def energy(self, y, features):
        return sum_over_non_batch_axes(
            0.5 * features["w"] * tf.square(y - features["a"]))


def weighted_quadratic(shape, seed):
    rng = np.random.RandomState(seed)
    a = rng.uniform(-0.5, 1.5, shape)
    w = rng.uniform(0.5, 2.0, shape)
    return (WeightedQuadraticEnergy(dtype="float64"),
            {"a": tf.constant(a), "w": tf.constant(w)}, a, w)


def simplex_minimiser_by_bisection(a, w, radius=1.0, iterations=200):
    """argmin sum w (y - a)^2 / 2 on {y >= 0, sum y = radius} (last axis).

    KKT: y_i = max(a_i - theta / w_i, 0) with theta such that the sum is
    `radius`; the sum decreases in theta, so bisect on it."""
    low = (w * (a - radius)).min(-1, keepdims=True)  # every term >= radius
    high = (w * a).max(-1, keepdims=True)  # every term 0
    for _ in range(iterations):
        theta = (low + high) / 2
        total = np.maximum(a - theta / w, 0).sum(-1, keepdims=True)
        low = np.where(total > radius, theta, low)
        high = np.where(total > radius, high, theta)
    return np.maximum(a - (low + high) / 2 / w, 0)


def entropy_regularised_linear(mode, temperature=0.5):
    """E = -<y, s> + tau sum(y log y [+ (1-y) log(1-y)])."""
    return SumEnergy([
        LinearTestEnergy(dtype="float64"),
        EntropyEnergy(temperature, mode=mode, dtype="float64"),
    ], dtype="float64")


def minimise(energy, rule, y0, features, num_steps, step_size):
    minimizer = UnrolledMinimizer(energy, num_steps=num_steps, step_rule=rule,
                                  step_size=step_size, dtype="float64")
    return minimizer(tf.constant(y0), features).numpy()


# --- the simplex projection ----------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 7, 20])
@pytest.mark.parametrize("radius", [1.0, 2.5])
def test_simplex_projection_matches_numpy_reference(size, radius):
    rng = np.random.RandomState(size)
    scale = rng.choice([0.01, 1.0, 10.0], size=(200, 1))
    y = scale * rng.normal(size=(200, size))
    y[:5] = radius / size  # already on the simplex
    y[5:10] = 0.0
    projected = SimplexProjection(radius).project(tf.constant(y)).numpy()
    expected = simplex_minimiser_by_bisection(y, np.ones_like(y), radius)
    np.testing.assert_allclose(projected, expected, atol=1e-12)
    np.testing.assert_allclose(projected.sum(-1), radius, rtol=1e-12)
    assert (projected >= 0).all()
    projected32 = SimplexProjection(radius).project(
        tf.constant(y, tf.float32)).numpy()
    assert (np.abs(projected32 - expected) <= 1e-6 * (scale + radius)).all()


def test_simplex_projection_works_on_any_rank_and_unknown_shapes():
    y = np.random.RandomState(0).normal(size=(2, 3, 4, 5))
    expected = simplex_minimiser_by_bisection(y, np.ones_like(y))
    project = tf.function(
        SimplexProjection().project,
        input_signature=[tf.TensorSpec(None, tf.float64)])
    np.testing.assert_allclose(project(tf.constant(y)).numpy(), expected,
                               atol=1e-12)


# --- new combinations reach known minimisers -------------------------------

@pytest.mark.parametrize("momentum", [0.0, 0.5], ids=["plain", "momentum"])
def test_projected_steps_reach_simplex_constrained_minimum(momentum):
    energy, features, a, w = weighted_quadratic((3, 4, 6), seed=1)
    direction = MomentumDirection(momentum) if momentum else "plain"
    rule = ChainedStep("identity", direction, SimplexProjection())
    y = minimise(energy, rule, np.full(a.shape, 1 / 6), features, 200, 0.4)
    expected = simplex_minimiser_by_bisection(a, w)
    assert (expected == 0).any()  # some constraints are active
    np.testing.assert_allclose(y, expected, atol=1e-8)


def test_projected_momentum_reaches_box_constrained_minimum():
    energy, features, a, w = weighted_quadratic((3, 4, 5, 1), seed=2)
    rule = ChainedStep("identity", MomentumDirection(0.5), BoxProjection())
    y = minimise(energy, rule, np.full(a.shape, 0.5), features, 200, 0.4)
    # A separable quadratic: the box minimiser is the clipped one.
    assert (a < 0).any() and (a > 1).any()
    np.testing.assert_allclose(y, np.clip(a, 0, 1), atol=1e-8)


@pytest.mark.parametrize(
    "parametrization, step_size",
    [("softmax", 2.0), (EntropicParametrization(), 1.0)],
    ids=["logits_softmax", "entropic"],
)
def test_momentum_on_the_simplex_reaches_softmax_minimum(parametrization,
                                                         step_size):
    scores = 0.5 * np.random.RandomState(3).normal(size=(2, 3, 4))
    rule = ChainedStep(parametrization, MomentumDirection(0.5))
    y = minimise(entropy_regularised_linear("simplex"), rule,
                 np.full((2, 3, 4), 0.25), tf.constant(scores), 300, step_size)
    expected = np.exp(scores / 0.5)
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(y, expected, atol=1e-7)


def test_momentum_in_sigmoid_logits_reaches_sigmoid_minimum():
    scores = 0.5 * np.random.RandomState(4).normal(size=(2, 6))
    rule = ChainedStep("sigmoid", MomentumDirection(0.5))
    y = minimise(entropy_regularised_linear("bernoulli"), rule,
                 np.full((2, 6), 0.5), tf.constant(scores), 300, 4.0)
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-scores / 0.5)), atol=1e-7)


def test_momentum_state_lives_in_the_parametrisation_coordinates():
    rule = ChainedStep("softmax", MomentumDirection(0.5))
    logits, velocity = rule.init(tf.constant([[0.5, 0.5]], tf.float64))
    grad = tf.constant([[1.0, 0.0]], tf.float64)
    state = rule.update(grad, (logits, velocity), 1.0)
    # dE/dl = y * (g - <y, g>) = [0.25, -0.25].
    np.testing.assert_allclose(state[1].numpy(), [[0.25, -0.25]])
    np.testing.assert_allclose(state[0].numpy(),
                               logits.numpy() - [[0.25, -0.25]])
    np.testing.assert_allclose(rule.iterate(state).numpy(),
                               tf.nn.softmax(state[0]).numpy())


def test_chain_runs_in_graph_mode_with_early_stop():
    scores = tf.constant(0.5 * np.random.RandomState(9).normal(size=(2, 3, 4)))
    minimizer = UnrolledMinimizer(
        entropy_regularised_linear("simplex"), num_steps=40,
        step_rule=ChainedStep("softmax", MomentumDirection(0.5)),
        step_size=2.0, tolerance=1e-4, dtype="float64")
    y0 = tf.fill((2, 3, 4), tf.constant(0.25, tf.float64))
    graph = tf.function(lambda: minimizer.minimize(y0, scores))()
    eager = minimizer.minimize(y0, scores)
    assert 0 < int(graph.num_steps) == int(eager.num_steps) < 40
    np.testing.assert_allclose(graph.y.numpy(), eager.y.numpy(), atol=1e-12)


# --- serialisation ---------------------------------------------------------

CHAINS = [
    ChainedStep(),
    ChainedStep("softmax", MomentumDirection(0.75)),
    ChainedStep(LogitParametrization("sigmoid", 1e-4), "momentum"),
    ChainedStep("identity", MomentumDirection(0.25), BoxProjection(-1, 2)),
    ChainedStep("identity", "plain", SimplexProjection(2.0)),
    ChainedStep(EntropicParametrization(1e-9), MomentumDirection(0.5)),
]


@pytest.mark.parametrize("rule", CHAINS, ids=repr)
def test_chains_round_trip_through_get_step_rule(rule):
    config = keras.saving.serialize_keras_object(rule)
    assert config["registered_name"] == "spen_keras>ChainedStep"
    restored = get_step_rule(config)
    assert type(restored) is ChainedStep
    assert restored == rule and restored.components == rule.components
    assert restored.get_config() == rule.get_config()
    # Inside an UnrolledMinimizer's config too.
    minimizer = UnrolledMinimizer(entropy_regularised_linear("simplex"),
                                  num_steps=2, step_rule=rule)
    clone = UnrolledMinimizer.from_config(minimizer.get_config())
    assert clone.step_rule == rule


def test_components_by_name_and_defaults():
    rule = ChainedStep("entropic", "momentum", None)
    assert rule.components == (EntropicParametrization(),
                               MomentumDirection(0.9), NoProjection())
    assert ChainedStep("logits").parametrization == LogitParametrization()
    assert ChainedStep(projection="box").projection == BoxProjection(0.0, 1.0)
    assert get_step_rule("chained") == ChainedStep(
        IdentityParametrization(), PlainDirection(), NoProjection())
    assert get_step_rule(ChainedStep("sigmoid")) == ChainedStep("sigmoid")
    assert "LogitParametrization(activation='sigmoid'" in repr(
        ChainedStep("sigmoid"))


# --- invalid combinations and parameters ----------------------------------

@pytest.mark.parametrize(
    "parametrization, projection, reason",
    [
        ("softmax", "simplex", "already lies in the probability simplex"),
        ("softmax", "box", "already lies in the probability simplex"),
        ("sigmoid", BoxProjection(0.0, 1.0), "already lies in the unit box"),
        ("sigmoid", "simplex", "already lies in the unit box"),
        ("entropic", "simplex", "redundant"),
        ("entropic", BoxProjection(-1.0, 1.0), "breaks the simplex"),
    ],
)
def test_projections_only_follow_the_identity(parametrization, projection,
                                              reason):
    with pytest.raises(ValueError, match=f"cannot follow .*{reason}") as info:
        ChainedStep(parametrization, "momentum", projection)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: MomentumDirection(1.0), r"`momentum` must be in \[0, 1\)"),
        (lambda: MomentumDirection(-0.1), r"`momentum` must be in \[0, 1\)"),
        (lambda: BoxProjection(1.0, 1.0), "`lower` must be below `upper`"),
        (lambda: BoxProjection(float("nan"), 1.0), "`lower` must be below"),
        (lambda: SimplexProjection(0.0), "`radius` must be a positive finite"),
        (lambda: SimplexProjection(float("inf")), "`radius` must be a posit"),
        (lambda: LogitParametrization("tanh"), "Unknown activation 'tanh'"),
        (lambda: LogitParametrization(epsilon=0.5), r"`epsilon` must be in"),
        (lambda: EntropicParametrization(0.0), "`epsilon` must be positive"),
        (lambda: ChainedStep("tanh"),
         r"Unknown parametrization 'tanh'; known parametrizations: \["),
        (lambda: ChainedStep(direction="adam"),
         "Unknown direction 'adam'; known directions: .*momentum"),
        (lambda: ChainedStep(projection="ball"),
         "Unknown projection 'ball'; known projections: .*simplex"),
        (lambda: ChainedStep(direction=BoxProjection()),
         "Cannot interpret BoxProjection.* as a direction"),
        (lambda: ChainedStep(MomentumStep(0.5)),
         "Cannot interpret .* as a parametrization"),
    ],
)
def test_bad_components(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- gradients through a chained rule --------------------------------------

SCORES = 0.5 * np.random.RandomState(5).normal(size=(2, 3, 4))
Y0 = np.random.RandomState(6).dirichlet(np.ones(4), size=(2, 3))
TARGET = np.random.RandomState(7).dirichlet(np.ones(4), size=(2, 3))


def unrolled_loss(rule, scores, y0, **options):
    minimizer = UnrolledMinimizer(entropy_regularised_linear("simplex"),
                                  num_steps=4, step_rule=rule, step_size=0.7,
                                  dtype="float64", **options)
    return tf.reduce_sum(tf.square(minimizer(y0, scores) - TARGET))


@pytest.mark.parametrize(
    "rule",
    [ChainedStep("softmax", MomentumDirection(0.5)),
     ChainedStep("sigmoid", MomentumDirection(0.5)),
     ChainedStep("entropic", MomentumDirection(0.5))],
    ids=["softmax_momentum", "sigmoid_momentum", "entropic_momentum"],
)
@pytest.mark.parametrize("options", [{}, {"checkpoint": True}],
                         ids=["exact", "checkpointed"])
def test_gradient_through_chain_matches_central_differences(rule, options):
    scores, y0 = tf.constant(SCORES), tf.constant(Y0)
    with tf.GradientTape() as tape:
        tape.watch([scores, y0])
        loss = unrolled_loss(rule, scores, y0, **options)
    analytic = [g.numpy() for g in tape.gradient(loss, [scores, y0])]
    # The scores reach y_T only through d^2E/dy ds: a second-order check.
    assert np.abs(analytic[0]).max() > 1e-3
    h, rng = 1e-6, np.random.RandomState(8)
    for which, base in enumerate((SCORES, Y0)):
        for i in rng.choice(base.size, 8, replace=False):
            values = []
            for sign in (1, -1):
                shifted = base.copy().reshape(-1)
                shifted[i] += sign * h
                inputs = [tf.constant(SCORES), tf.constant(Y0)]
                inputs[which] = tf.constant(shifted.reshape(base.shape))
                values.append(float(unrolled_loss(rule, *inputs, **options)))
            numeric = (values[0] - values[1]) / (2 * h)
            assert analytic[which].reshape(-1)[i] == pytest.approx(
                numeric, rel=1e-6, abs=1e-8), (which, i)
