"""Gradients of the unrolled loss against central finite differences (float64).

The loss L = sum((y_T - target)^2) depends on the energy's weights, the learned
step sizes and the input x through T unrolled momentum steps, so its gradient
needs second derivatives of the energy. Each mode must match finite
differences of L itself, and the modes must agree with each other.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    DeepPriorEnergy,
    FieldOfExpertsEnergy,
    MomentumStep,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
)

X = np.random.RandomState(0).rand(2, 9, 8, 1)
TARGET = np.random.RandomState(1).rand(2, 9, 8, 1)


def make_minimizer(prior="deep_prior", **options):
    keras.utils.set_random_seed(3)
    if prior == "deep_prior":
        prior_layer = DeepPriorEnergy((3, 2), (3, 3), temperature=4.0,
                                      padding="reflect", dtype="float64")
    else:
        prior_layer = FieldOfExpertsEnergy(3, 3, temperature=4.0,
                                           dtype="float64")
    energy = SumEnergy([QuadraticDataEnergy(0.7, dtype="float64"),
                        prior_layer], dtype="float64")
    return UnrolledMinimizer(energy, num_steps=3, step_rule=MomentumStep(0.25),
                             step_size=0.2, learn_step_sizes=True,
                             dtype="float64", **options)


def loss_fn(minimizer, x):
    y = minimizer(x, x)
    return tf.reduce_sum(tf.square(y - TARGET))


def analytic_gradients(minimizer, x, use_function=False):
    def compute():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(minimizer, x)
        return tape.gradient(loss, minimizer.trainable_variables + [x])

    if use_function:
        return [g.numpy() for g in tf.function(compute)()]
    return [g.numpy() for g in compute()]


def central_differences(minimizer, x, h=1e-6, entries=3):
    """(L(theta + h e_i) - L(theta - h e_i)) / 2h for a few entries i of each
    variable and of x; returns [(variable index, flat index, value)]."""
    rng = np.random.RandomState(4)
    results = []
    for k, variable in enumerate(minimizer.trainable_variables):
        base = variable.numpy().copy()
        for i in rng.choice(base.size, min(entries, base.size), replace=False):
            values = []
            for sign in (1, -1):
                shifted = base.copy().reshape(-1)
                shifted[i] += sign * h
                variable.assign(shifted.reshape(base.shape))
                values.append(float(loss_fn(minimizer, x)))
            variable.assign(base)
            results.append((k, i, (values[0] - values[1]) / (2 * h)))
    base_x = x.numpy()
    for i in rng.choice(base_x.size, entries, replace=False):
        values = []
        for sign in (1, -1):
            shifted = base_x.copy().reshape(-1)
            shifted[i] += sign * h
            values.append(float(loss_fn(minimizer,
                                        tf.constant(shifted.reshape(X.shape)))))
        results.append((len(minimizer.trainable_variables), i,
                        (values[0] - values[1]) / (2 * h)))
    return results


@pytest.mark.parametrize(
    "options, rtol",
    [
        ({}, 1e-6),
        ({"hvp": "finite_difference", "fd_radius": 1e-5}, 1e-4),
        ({"checkpoint": True}, 1e-6),
        ({"hvp": "finite_difference", "fd_radius": 1e-5, "checkpoint": True},
         1e-4),
    ],
    ids=["exact", "finite_difference_hvp", "checkpointed",
         "checkpointed_finite_difference_hvp"],
)
@pytest.mark.parametrize("prior", ["deep_prior", "field_of_experts"])
def test_gradients_match_central_differences(options, rtol, prior):
    minimizer = make_minimizer(prior, **options)
    x = tf.constant(X)
    grads = analytic_gradients(minimizer, x)
    checked = central_differences(minimizer, x)
    names = [v.path for v in minimizer.trainable_variables] + ["x"]
    assert "raw_step_sizes" in " ".join(names)
    for k, i, numeric in checked:
        analytic = grads[k].reshape(-1)[i]
        assert analytic == pytest.approx(numeric, rel=rtol, abs=1e-7), (
            f"{names[k]}[{i}]: analytic {analytic} vs numeric {numeric}"
        )


@pytest.mark.parametrize("use_function", [False, True], ids=["eager", "graph"])
@pytest.mark.parametrize(
    "options",
    [{"checkpoint": True}, {"hvp": "finite_difference", "fd_radius": 1e-5},
     {"hvp": "finite_difference", "fd_radius": 1e-5, "checkpoint": True}],
    ids=["checkpointed", "finite_difference_hvp", "both"],
)
def test_modes_agree_with_exact_plain_gradients(options, use_function):
    x = tf.constant(X)
    reference = analytic_gradients(make_minimizer(), x, use_function)
    other = analytic_gradients(make_minimizer(**options), x, use_function)
    tolerance = 1e-12 if "hvp" not in options else 1e-6
    for a, b in zip(reference, other):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


def test_energy_weights_learn_only_through_second_order_terms():
    """With dE/dy cut from the tape the energy weights get no gradient at
    all: everything the checks above verify flows through Hessian terms."""
    minimizer = make_minimizer()
    x = tf.constant(X)
    assert np.abs(analytic_gradients(minimizer, x)[1]).max() > 1e-6

    original = minimizer.energy_gradient
    minimizer.energy_gradient = lambda y, f=None, e=None: tf.stop_gradient(
        original(y, f, e))
    with tf.GradientTape() as tape:
        loss = loss_fn(minimizer, x)
    grads = tape.gradient(loss, minimizer.trainable_variables)
    names = [v.path for v in minimizer.trainable_variables]
    for name, grad in zip(names, grads):
        if "raw_step_sizes" not in name:
            assert grad is None, name
