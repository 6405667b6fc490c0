"""Tests for the masked MSE loss and PSNR metric (valid pixels: y_true > 0)."""

import keras
import numpy as np
import pytest

from spen_keras.denoising.masked_loss import MaskedMeanSquaredError
from spen_keras.denoising.masked_loss import masked_mean_squared_error
from spen_keras.denoising.psnr import PSNR
from spen_keras.denoising.psnr import psnr


def random_batch(seed, shape=(3, 6, 5, 1), invalid_fraction=0.3):
    rng = np.random.default_rng(seed)
    y_true = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    y_true[rng.random(shape) < invalid_fraction] = 0.0
    y_pred = y_true + rng.normal(0, 0.05, shape).astype(np.float32)
    # Wild predictions on invalid pixels must not change anything.
    y_pred[y_true == 0] = 1e3
    return y_true, y_pred


def numpy_masked_mse(y_true, y_pred):
    out = []
    for t, p in zip(y_true, y_pred):
        valid = t > 0
        out.append(np.mean((p[valid].astype(np.float64) - t[valid]) ** 2))
    return np.array(out)


def test_masked_mse_ignores_invalid_pixels_and_matches_numpy():
    y_true, y_pred = random_batch(0)
    loss = np.asarray(masked_mean_squared_error(y_true, y_pred))
    assert loss.shape == (3,)
    expected = numpy_masked_mse(y_true, y_pred)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    assert np.all(loss < 0.01)  # the 1e3 errors on invalid pixels are ignored


def test_masked_mse_is_zero_and_finite_without_valid_pixels():
    y_true, y_pred = random_batch(1)
    y_true[1] = 0.0
    y_pred[1] = np.inf
    loss = np.asarray(masked_mean_squared_error(y_true, y_pred))
    assert loss[1] == 0.0
    assert np.all(np.isfinite(loss))


def test_loss_class_averages_per_example_losses():
    y_true, y_pred = random_batch(2)
    value = float(MaskedMeanSquaredError()(y_true, y_pred))
    expected = numpy_masked_mse(y_true, y_pred).mean()
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "error,max_value", [(0.01, 1.0), (0.1, 1.0), (0.05, 2.0)]
)
def test_psnr_closed_form_for_constant_error(error, max_value):
    y_true = np.full((2, 8, 8, 1), 0.5, np.float32)
    y_true[0, :2] = 0.0  # invalid pixels, with a large error below
    y_pred = y_true + np.float32(error)
    y_pred[0, :2] = 7.0
    expected = 20 * np.log10(max_value / error)
    values = np.asarray(psnr(y_true, y_pred, max_value=max_value))
    assert values.shape == (2,)
    np.testing.assert_allclose(values, [expected, expected], atol=1e-3)


def test_psnr_is_nan_for_an_image_without_valid_pixels():
    y_true = np.zeros((1, 4, 4, 1), np.float32)
    assert np.isnan(np.asarray(psnr(y_true, y_true + 0.1))[0])


def test_metric_averages_per_image_over_batches():
    metric = PSNR()
    y_true = np.full((2, 4, 4, 1), 0.5, np.float32)
    metric.update_state(y_true, y_true + 0.01)  # two images at 40 dB
    metric.update_state(y_true[:1], y_true[:1] + 0.1)  # one image at 20 dB
    # Mean over the 3 images, not over the 2 batches (which would be 30).
    assert float(metric.result()) == pytest.approx(100.0 / 3.0, abs=1e-3)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_metric_skips_images_without_valid_pixels_and_uses_weights():
    metric = PSNR()
    y_true = np.full((3, 4, 4, 1), 0.5, np.float32)
    y_true[2] = 0.0
    errors = np.array([0.01, 0.1, 0.3], np.float32)
    y_pred = y_true + errors[:, None, None, None]
    metric.update_state(y_true, y_pred)
    assert float(metric.result()) == pytest.approx(30.0, abs=1e-3)
    weighted = PSNR()
    weighted.update_state(y_true, y_pred, sample_weight=[3.0, 1.0, 5.0])
    assert float(weighted.result()) == pytest.approx(35.0, abs=1e-3)


def test_get_config_from_config_round_trip():
    loss = MaskedMeanSquaredError(name="depth_mse", reduction="sum")
    clone = MaskedMeanSquaredError.from_config(loss.get_config())
    assert clone.get_config() == loss.get_config()
    assert clone.name == "depth_mse" and clone.reduction == "sum"

    metric = PSNR(max_value=2.0, name="psnr2")
    metric_clone = PSNR.from_config(metric.get_config())
    assert metric_clone.get_config() == metric.get_config()
    assert metric_clone.max_value == 2.0 and metric_clone.name == "psnr2"


def test_keras_serialization_by_registered_name():
    assert (
        keras.saving.get_registered_name(MaskedMeanSquaredError)
        == "spen_keras>MaskedMeanSquaredError"
    )
    assert keras.saving.get_registered_name(PSNR) == "spen_keras>PSNR"
    assert (
        keras.saving.get_registered_object(
            "spen_keras>masked_mean_squared_error"
        )
        is masked_mean_squared_error
    )
    for obj in (MaskedMeanSquaredError(reduction="sum"), PSNR(max_value=3.0)):
        config = keras.saving.serialize_keras_object(obj)
        restored = keras.saving.deserialize_keras_object(config)
        assert type(restored) is type(obj)
        assert restored.get_config() == obj.get_config()
    config = keras.saving.serialize_keras_object(masked_mean_squared_error)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored is masked_mean_squared_error


def test_fit_evaluate_and_reload_without_custom_objects(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.2, 0.8, (4, 8, 8, 1)).astype(np.float32)
    y = x.copy()
    y[:, :2] = 0.0
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), keras.layers.Conv2D(1, 3, padding="same")]
    )
    model.compile(
        optimizer="sgd", loss=MaskedMeanSquaredError(), metrics=[PSNR()]
    )
    model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    results = model.evaluate(x, y, batch_size=2, return_dict=True, verbose=0)
    prediction = model.predict(x, verbose=0)
    mse = numpy_masked_mse(y, prediction)
    expected_psnr = np.mean(10 * np.log10(1.0 / mse))
    assert results["psnr"] == pytest.approx(expected_psnr, abs=1e-3)
    assert results["loss"] == pytest.approx(
        numpy_masked_mse(y, prediction).mean(), rel=1e-4
    )

    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.loss, MaskedMeanSquaredError)
    again = reloaded.evaluate(x, y, batch_size=2, return_dict=True, verbose=0)
    assert again["psnr"] == pytest.approx(results["psnr"], abs=1e-4)
