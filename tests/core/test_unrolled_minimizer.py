"""UnrolledMinimizer behaviour: iterates, early stop, errors, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    FieldOfExpertsEnergy,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
)

X = np.random.RandomState(0).rand(2, 6, 7, 1)


def quadratic_minimizer(**options):
    options.setdefault("num_steps", 30)
    options.setdefault("step_size", 0.5)
    return UnrolledMinimizer(QuadraticDataEnergy(1.0, dtype="float64"),
                             dtype="float64", **options)


def test_iterates_follow_closed_form_gradient_descent():
    # E = ||y - x||^2 / 2, eta = 0.5: y_t - x = 0.5^t (y_0 - x).
    minimizer = quadratic_minimizer(num_steps=4)
    y, iterates = minimizer(tf.zeros(X.shape, tf.float64), tf.constant(X),
                            return_iterates=True)
    assert iterates.shape == (4,) + X.shape
    for t in range(4):
        np.testing.assert_allclose(iterates[t].numpy(), X - 0.5 ** (t + 1) * X)
    np.testing.assert_array_equal(y.numpy(), iterates[-1].numpy())


@pytest.mark.parametrize("use_function", [False, True], ids=["eager", "graph"])
def test_early_stop_at_convergence(use_function):
    minimizer = quadratic_minimizer(tolerance=1e-3)
    y0 = tf.zeros(X.shape, tf.float64)

    def run():
        return minimizer.minimize(y0, tf.constant(X))

    result = tf.function(run)() if use_function else run()
    # RMS change at step t is 0.5^t * rms(x); stop at the first t <= 1e-3.
    rms = np.sqrt((X.reshape(2, -1) ** 2).mean(1)).max()
    expected = next(t for t in range(1, 31) if 0.5 ** t * rms <= 1e-3)
    assert int(result.num_steps) == expected
    np.testing.assert_allclose(result.iterates[-1].numpy(),
                               result.iterates[expected - 1].numpy())


def test_training_gradient_flows_from_the_converged_step():
    """With early stop, training gradients equal those of a minimiser that
    runs exactly the converged number of steps."""
    x = tf.constant(X)

    def gradients(num_steps, tolerance, use_function):
        keras.utils.set_random_seed(0)
        energy = SumEnergy([QuadraticDataEnergy(1.0, dtype="float64"),
                            FieldOfExpertsEnergy(2, 3, temperature=4.0,
                                                 dtype="float64")],
                           dtype="float64")
        minimizer = UnrolledMinimizer(energy, num_steps=num_steps,
                                      step_size=0.3, tolerance=tolerance,
                                      dtype="float64")

        def compute():
            with tf.GradientTape() as tape:
                result = minimizer.minimize(x, x, training=True)
                loss = tf.reduce_sum(result.y ** 2)
            return result.num_steps, tape.gradient(
                loss, minimizer.trainable_variables)

        return tf.function(compute)() if use_function else compute()

    for use_function in (False, True):
        taken, early = gradients(40, 1e-2, use_function)
        assert 1 < int(taken) < 40
        _, exact = gradients(int(taken), None, use_function)
        for a, b in zip(early, exact):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)


def test_no_early_stop_in_training_when_disabled():
    minimizer = quadratic_minimizer(tolerance=1e-3,
                                    early_stop_in_training=False)
    result = minimizer.minimize(tf.zeros(X.shape, tf.float64), tf.constant(X),
                                training=True)
    assert int(result.num_steps) == 30


def test_learned_step_sizes_start_at_step_size_and_stay_positive():
    minimizer = quadratic_minimizer(num_steps=5, learn_step_sizes=True)
    minimizer(tf.zeros(X.shape, tf.float64), tf.constant(X))
    np.testing.assert_allclose(minimizer.step_sizes().numpy(), [0.5] * 5)
    minimizer.raw_step_sizes.assign([-50.0] * 5)
    assert (minimizer.step_sizes().numpy() > 0).all()


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"num_steps": 0}, ValueError, r"num_steps.*at least 1"),
        ({"num_steps": 2.5}, ValueError, "integer"),
        ({"step_rule": "newton"}, ValueError, "Unknown step rule 'newton'"),
        ({"step_size": 0.0}, ValueError, "step_size.*positive"),
        ({"step_size": -1.0}, ValueError, "step_size.*positive"),
        ({"hvp": "bfgs"}, ValueError, "Unknown hvp mode"),
        ({"fd_radius": 0}, ValueError, "fd_radius"),
        ({"tolerance": -1.0}, ValueError, "tolerance"),
    ],
)
def test_bad_arguments_raise_clear_errors(options, error, message):
    with pytest.raises(error, match=message):
        quadratic_minimizer(**options)


def test_energy_must_be_a_layer():
    with pytest.raises(TypeError, match="Energy layer"):
        UnrolledMinimizer(lambda y: y, num_steps=3)


def test_non_finite_initial_point_is_rejected():
    minimizer = quadratic_minimizer()
    y0 = np.zeros(X.shape)
    y0[0, 1, 1, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or Inf"):
        minimizer(tf.constant(y0), tf.constant(X))


def test_config_round_trip_reproduces_outputs():
    keras.utils.set_random_seed(0)
    energy = SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(3, 3)])
    minimizer = UnrolledMinimizer(energy, num_steps=3, step_rule="momentum",
                                  learn_step_sizes=True, hvp="finite_difference",
                                  checkpoint=True, tolerance=1e-4)
    x = tf.constant(X, tf.float32)
    expected = minimizer(x, x)
    config = keras.saving.serialize_keras_object(minimizer)
    clone = keras.saving.deserialize_keras_object(config)
    clone(x, x)
    clone.set_weights(minimizer.get_weights())
    assert clone.get_config() == minimizer.get_config()
    np.testing.assert_allclose(clone(x, x).numpy(), expected.numpy())


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_learned_steps_train(policy):
    """Under a mixed policy the learned rates are float32 variables and the
    iterates half precision: a step must not mix the two (it raised
    `cannot compute Mul ... half tensor`)."""
    from spen_keras.denoising.denoising_models import deep_prior, denoiser

    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        model = denoiser(deep_prior(), num_steps=2, momentum=0.25)
        x = np.random.RandomState(1).uniform(0.3, 0.7, (2, 16, 16, 1))
        x = x.astype("float32")
        y = model(x)
        assert y.dtype.name == policy.split("_")[1]
        model.compile(optimizer="adam", loss="mse")
        loss = model.fit(x, x, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        assert model.minimizer.raw_step_sizes.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
