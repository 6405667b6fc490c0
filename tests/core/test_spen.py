"""SPEN: model.fit, Eq. 9 loss, SSVM mode, saving, SavedModel export, errors."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    SPEN,
    DeepPriorEnergy,
    FieldOfExpertsEnergy,
    MomentumStep,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
    iterate_weights,
)

RNG = np.random.RandomState(0)
CLEAN = np.clip(
    np.cumsum(RNG.normal(0, 0.05, (8, 12, 16, 1)), axis=2) + 0.5, 0.1, 1.0
).astype("float32")
NOISY = (CLEAN + RNG.normal(0, 0.05, CLEAN.shape)).astype("float32")


def denoiser(num_steps=3, **options):
    keras.utils.set_random_seed(0)
    energy = SumEnergy([QuadraticDataEnergy(0.5),
                        DeepPriorEnergy((4, 4), (3, 3), temperature=5.0)])
    minimizer = UnrolledMinimizer(
        energy, num_steps=num_steps, step_rule=MomentumStep(0.25),
        step_size=0.2, learn_step_sizes=True,
        checkpoint=options.pop("checkpoint", False),
    )
    return SPEN(minimizer, **options)


def test_iterate_weights_are_eq9():
    np.testing.assert_allclose(iterate_weights(3),
                               [1 / 9, 1 / 6, 1 / 3])


def test_fit_lowers_the_training_loss():
    model = denoiser()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = model.evaluate(NOISY, CLEAN, verbose=0)
    history = model.fit(NOISY, CLEAN, batch_size=4, epochs=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.evaluate(NOISY, CLEAN, verbose=0) < before


def test_fit_on_tf_data_with_metrics():
    model = denoiser()
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    dataset = tf.data.Dataset.from_tensor_slices((NOISY, CLEAN)).batch(4)
    history = model.fit(dataset, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "mae"}


def test_weighted_loss_is_eq9_over_the_iterates():
    model = denoiser()
    model.compile(optimizer="adam", loss="mse")
    iterates = model.predict_iterates(NOISY)
    expected = sum(
        w * np.mean((iterates[t].numpy() - CLEAN) ** 2)
        for t, w in enumerate(iterate_weights(3))
    )
    assert model.evaluate(NOISY, CLEAN, batch_size=8, verbose=0) == (
        pytest.approx(expected, rel=1e-5))

    final = denoiser(iterate_loss="final")
    final.compile(optimizer="adam", loss="mse")
    assert final.evaluate(NOISY, CLEAN, batch_size=8, verbose=0) == (
        pytest.approx(np.mean((iterates[-1].numpy() - CLEAN) ** 2), rel=1e-5))


def test_checkpointed_and_plain_training_give_the_same_weights():
    weights = []
    for checkpoint in (False, True):
        model = denoiser(checkpoint=checkpoint)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(NOISY, CLEAN, batch_size=4, epochs=1, shuffle=False,
                  verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_ssvm_mode_trains_and_predicts():
    model = denoiser(training_mode="ssvm", mask_invalid_targets=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(NOISY, CLEAN, batch_size=4, epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.predict(NOISY, verbose=0).shape == NOISY.shape


# SSVM hinge and margin signs, with y_hat != y*: tests/core/test_ssvm.py


def test_keras_save_and_load_round_trip(tmp_path):
    model = denoiser()
    model.compile(optimizer="adam", loss="mse")
    model.fit(NOISY, CLEAN, batch_size=4, epochs=1, verbose=0)
    expected = model.predict(NOISY, verbose=0)
    path = os.fspath(tmp_path / "spen.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, SPEN)
    np.testing.assert_array_equal(restored.predict(NOISY, verbose=0), expected)
    # JSON-normalised: Keras records build shapes as tuples, reloads lists.
    assert json.loads(json.dumps(restored.get_config())) == json.loads(
        json.dumps(model.get_config()))


def test_eager_function_and_saved_model_agree(tmp_path):
    model = denoiser(num_steps=4)
    model(NOISY[:1])
    eager = model(NOISY).numpy()
    graph = tf.function(lambda x: model(x))(tf.constant(NOISY)).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-5)

    export_dir = os.fspath(tmp_path / "saved_model")
    model.export(export_dir, verbose=False)
    served = tf.saved_model.load(export_dir)
    np.testing.assert_allclose(served.serve(tf.constant(NOISY)).numpy(),
                               eager, atol=1e-5)
    # The signature takes any image size, not just the one seen at build.
    bigger = np.pad(NOISY[:2], ((0, 0), (3, 5), (2, 4), (0, 0)), mode="edge")
    np.testing.assert_allclose(served.serve(tf.constant(bigger)).numpy(),
                               model(bigger).numpy(), atol=1e-5)


def test_saved_model_with_early_stop_and_checkpointing(tmp_path):
    keras.utils.set_random_seed(0)
    energy = SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(3, 3)])
    model = SPEN(UnrolledMinimizer(energy, num_steps=10, step_size=0.2,
                                   tolerance=1e-3, checkpoint=True))
    expected = model(NOISY).numpy()
    export_dir = os.fspath(tmp_path / "saved_model")
    model.export(export_dir, verbose=False)
    served = tf.saved_model.load(export_dir)  # keep it alive while serving
    np.testing.assert_allclose(served.serve(tf.constant(NOISY)).numpy(),
                               expected, atol=1e-5)


def _second_derivative(serve, x):
    """d/dx sum((d/dx sum(serve(x)^2))^2) and the first derivative."""
    x = tf.constant(x)
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            value = tf.reduce_sum(serve(x) ** 2)
        first = inner.gradient(value, x)
        total = tf.reduce_sum(first ** 2)
    return first.numpy(), outer.gradient(total, x).numpy()


@pytest.mark.parametrize("options", [{}, {"checkpoint": True},
                                     {"hvp": "finite_difference"}],
                         ids=["exact", "checkpoint", "finite_difference"])
def test_saved_model_keeps_every_custom_gradient(options, tmp_path, caplog):
    """DeepPrior's second derivatives, checkpointed steps and finite
    differences are custom gradients nested in custom gradients; a
    SavedModel saves one level only. The export keeps them all: loading
    logs no absl "unsaved custom gradients" warning, and the loaded model
    serves the same output and differentiates twice, as the exact model."""
    model = denoiser(num_steps=2, checkpoint=options.get("checkpoint", False))
    model.minimizer.hvp = options.get("hvp", "exact")
    x = NOISY[:2]
    expected = model(x).numpy()
    exact = denoiser(num_steps=2)
    exact(x)
    exact.set_weights(model.get_weights())
    export_dir = os.fspath(tmp_path / "saved_model")
    model.export(export_dir, verbose=False)
    with caplog.at_level("WARNING"):
        served = tf.saved_model.load(export_dir)
    assert not [r for r in caplog.records if "custom gradient" in r.message]
    np.testing.assert_allclose(served.serve(tf.constant(x)).numpy(),
                               expected, atol=1e-5)
    for got, want in zip(_second_derivative(served.serve, x),
                         _second_derivative(exact, x)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "bad_x, error, message",
    [
        (NOISY[:, :, :, 0], ValueError, "rank 4"),
        (np.repeat(NOISY, 3, axis=-1), ValueError, "1 channel"),
        (np.where(NOISY > 0.9, np.nan, NOISY), tf.errors.InvalidArgumentError,
         "NaN or Inf"),
        (np.where(NOISY > 0.9, np.inf, NOISY), tf.errors.InvalidArgumentError,
         "NaN or Inf"),
        (NOISY.astype("int32"), TypeError, "floating-point"),
    ],
    ids=["rank", "channels", "nan", "inf", "dtype"],
)
def test_bad_input_raises_a_clear_error(bad_x, error, message):
    model = denoiser()
    model(NOISY[:1])
    with pytest.raises(error, match=message):
        model(bad_x)


def test_fit_without_a_loss_says_so():
    model = denoiser()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="needs a loss"):
        model.fit(NOISY, CLEAN, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"iterate_loss": "mean"}, "Unknown iterate_loss"),
        ({"training_mode": "crf"}, "Unknown training_mode"),
        ({"ssvm_margin_scale": 0}, "ssvm_margin_scale"),
    ],
)
def test_bad_model_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        denoiser(**options)
