"""Keras comparison systems of Table 1: ProximalNet and the feed-forward
convnet (config and saving round trips, the primal-dual algebra, training)."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras.denoising.baselines.feedforward_denoiser import FeedForwardDenoiser
from spen_keras.denoising.baselines.proximal_net import (
    ProximalNetDenoiser,
    convolve,
    convolve_adjoint,
    dct_filters,
)
from spen_keras.denoising.masked_loss import MaskedMeanSquaredError
from spen_keras.presets import get_spec, load_preset, save_to_preset

RNG = np.random.RandomState(0)
CLEAN = np.clip(
    np.cumsum(RNG.normal(0, 0.03, (4, 24, 32, 1)), axis=2) + 0.5, 0.1, 1.0
).astype("float32")
NOISY = (CLEAN + RNG.normal(0, 0.05, CLEAN.shape)).astype("float32")
CLEAN[:, :2, :3] = 0.0  # invalid target pixels, masked out of the loss
ODD = RNG.uniform(0.2, 0.8, (1, 37, 53, 1)).astype("float32")


def small_models():
    keras.utils.set_random_seed(0)
    return [
        ProximalNetDenoiser(num_iterations=2, num_filters=4, filter_size=3),
        FeedForwardDenoiser(filters=(4, 4), kernel_sizes=(3, 3),
                            temperature=5.0),
    ]


def perturbed(model, shape=(None, None, None, 1)):
    """The model built, with every weight moved off its (structured) init."""
    model.build(shape)
    rng = np.random.RandomState(1)
    for weight in model.weights:
        weight.assign(weight + 0.05 * rng.normal(size=weight.shape))
    return model


@pytest.mark.parametrize("model", small_models(), ids=lambda m: m.name)
def test_get_config_is_the_constructor_and_round_trips(model):
    model = perturbed(model)
    config = model.get_config()
    arguments = set(inspect.signature(type(model).__init__).parameters)
    assert set(config) - {"name", "trainable", "dtype"} == (
        arguments - {"self", "kwargs"})
    clone = type(model).from_config(config)
    clone.build((None, None, None, 1))
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(NOISY), model(NOISY), atol=1e-6)


@pytest.mark.parametrize("model", small_models(), ids=lambda m: m.name)
def test_keras_file_reloads_without_custom_objects(model, tmp_path):
    model = perturbed(model)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    np.testing.assert_allclose(reloaded(NOISY), model(NOISY), atol=1e-6)


@pytest.mark.parametrize("model", small_models(), ids=lambda m: m.name)
def test_fit_lowers_the_masked_mse(model):
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=MaskedMeanSquaredError())
    before = model.evaluate(NOISY, CLEAN, verbose=0)
    model.fit(NOISY, CLEAN, batch_size=2, epochs=5, verbose=0)
    assert model.evaluate(NOISY, CLEAN, verbose=0) < before


@pytest.mark.parametrize("model", [ProximalNetDenoiser(),
                                   FeedForwardDenoiser()],
                         ids=lambda m: m.name)
def test_any_image_size_in_graph_mode(model):
    model = perturbed(model)
    forward = tf.function(
        model, input_signature=[tf.TensorSpec((1, None, None, 1))])
    y = forward(ODD).numpy()
    assert y.shape == ODD.shape and np.isfinite(y).all()
    np.testing.assert_allclose(y, model(ODD), atol=1e-5)


def test_untrained_models_start_near_the_identity():
    # The feed-forward output layer starts at zero: y = x exactly.
    np.testing.assert_array_equal(FeedForwardDenoiser()(ODD), ODD)
    # ProximalNet starts as a few steps of a DCT-sparsity denoiser: on a
    # piecewise-planar depth image it removes noise, blurring only the edge.
    rows, cols = np.mgrid[0:48, 0:64] / 64.0
    clean = (0.3 + 0.2 * rows + 0.1 * cols + 0.3 * (cols > 0.5))
    clean = clean.reshape(1, 48, 64, 1).astype("float32")
    noisy = clean + np.random.RandomState(3).normal(
        0, 0.03, clean.shape).astype("float32")
    y = ProximalNetDenoiser()(noisy).numpy()
    noise = np.mean((noisy - clean) ** 2)
    assert np.mean((y - clean) ** 2) < 0.8 * noise
    away_from_edge = np.abs(np.arange(64) - 32.5) > 4
    assert np.mean((y - clean)[:, :, away_from_edge] ** 2) < 0.3 * noise


# === ProximalNet's primal-dual algebra ===


def test_transpose_convolution_is_the_exact_adjoint():
    rng = np.random.RandomState(2)
    y = tf.constant(rng.normal(size=(2, 13, 17, 2)))
    filters = tf.constant(rng.normal(size=(5, 4, 2, 3)))
    p = tf.constant(rng.normal(size=(2, 9, 14, 3)))
    k_y = convolve(y, filters)
    assert k_y.shape == p.shape
    left = tf.reduce_sum(k_y * p)
    right = tf.reduce_sum(y * convolve_adjoint(p, filters, tf.shape(y)))
    np.testing.assert_allclose(left, right, rtol=1e-10)


def test_dct_filters_are_orthonormal_and_zero_mean():
    filters = dct_filters(7, 48).reshape(49, 48)
    np.testing.assert_allclose(filters.T @ filters, np.eye(48), atol=1e-6)
    np.testing.assert_allclose(filters.sum(axis=0), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="at most"):
        dct_filters(3, 9)


def test_dual_variables_stay_in_the_box_and_reach_it():
    model = perturbed(ProximalNetDenoiser(num_iterations=3, num_filters=6,
                                          filter_size=5))
    y, duals = model(NOISY, return_dual=True)
    weights = model.expert_weights().numpy()
    assert len(duals) == 3 and y.shape == NOISY.shape
    for dual, w in zip(duals, weights):
        assert dual.shape == (4, 20, 28, 6)
        assert np.all(np.abs(dual.numpy()) <= w + 1e-7)
    assert np.any(np.isclose(np.abs(duals[-1].numpy()), weights[-1]))


def total_variation_solver(weight, data_weight=1.0, iterations=400):
    """ProximalNet with one horizontal-difference filter, fixed steps:
    min lambda/2 ||y - x||^2 + w sum |y[i, j+1] - y[i, j]| over rows 0..H-2
    (the 'valid' 2x2 window leaves the last row unregularised)."""
    model = ProximalNetDenoiser(num_iterations=iterations, num_filters=1,
                                filter_size=2, share_filters=True,
                                initial_data_weight=data_weight,
                                initial_expert_weight=weight,
                                initial_primal_step=0.5, step_product=0.9)
    model.build((None, None, None, 1))
    model.filters.assign(np.array([[-1.0, 1.0], [0.0, 0.0]],
                                  "float32").reshape(2, 2, 1, 1))
    return model


@pytest.mark.parametrize("weight", [0.05, 0.2])
def test_two_pixel_total_variation_closed_form(weight):
    x = np.array([[0.2, 0.5], [0.9, 0.1]], "float32").reshape(1, 2, 2, 1)
    y = total_variation_solver(weight)(x).numpy().reshape(2, 2)
    gap = 0.3
    if gap > 2 * weight:  # each pixel moves w / lambda towards the other
        expected = [0.2 + weight, 0.5 - weight]
    else:  # they meet at the mean
        expected = [0.35, 0.35]
    np.testing.assert_allclose(y[0], expected, atol=1e-4)
    np.testing.assert_allclose(y[1], [0.9, 0.1], atol=1e-6)


def test_step_edge_shrinks_by_the_total_variation_closed_form():
    # 1-D TV of a step with plateaus of n = 3 pixels: each plateau moves by
    # w / (lambda n) towards the other; a constant row stays constant; the
    # last row is outside every 2x2 window, so y = x there.
    row = np.array([0.2] * 3 + [0.8] * 3, "float32")
    last = np.array([0.3, 0.9, 0.1, 0.5, 0.7, 0.2], "float32")
    x = np.stack([row, np.full(6, 0.4, "float32"), last]).reshape(1, 3, 6, 1)
    y = total_variation_solver(0.03)(x).numpy().reshape(3, 6)
    np.testing.assert_allclose(y[0], [0.21] * 3 + [0.79] * 3, atol=1e-4)
    np.testing.assert_allclose(y[1], 0.4, atol=1e-6)
    np.testing.assert_allclose(y[2], last, atol=1e-6)
    # With a huge data weight the step is kept unchanged.
    y = total_variation_solver(0.03, data_weight=1e4)(x).numpy().reshape(3, 6)
    np.testing.assert_allclose(y[0], row, atol=1e-5)


# === Zoo rows ===


def test_zoo_rows_build_untrained_models_and_save_as_presets(tmp_path):
    specs = {name: get_spec(name)
             for name in ("proximalnet", "feedforward_convnet")}
    assert {name: (spec.row, spec.paper_value, spec.kind)
            for name, spec in specs.items()} == {
        "proximalnet": ("ProximalNet", 36.31, "keras"),
        "feedforward_convnet": ("Feed-forward convnet", 37.0, "keras")}
    for name, spec in specs.items():
        model = perturbed(spec.recipe.build(), spec.recipe.task.input_shape)
        save_to_preset(model, tmp_path / name, {"name": name})
        reloaded = load_preset(tmp_path / name)
        np.testing.assert_allclose(reloaded(ODD), model(ODD), atol=1e-5)
