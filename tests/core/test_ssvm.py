"""Structured SVM mode: the hinge and loss-augmented inference in closed form.

The energy is the quadratic data term alone, E(y; x) = ||y - x||^2 / (2 s2),
and the margin is Delta(y, y*) = c ||y - y*||^2, so both the hinge
max(0, Delta(y^, y*) - E(y^) + E(y*)) and the minimiser of E(y) - Delta(y, y*)
have closed forms. Every check uses y^ != y*: with y^ = y* the margin and the
energy difference vanish whatever the sign convention.
"""

import numpy as np
import pytest
import tensorflow as tf

from spen_keras import SPEN, QuadraticDataEnergy, UnrolledMinimizer

RNG = np.random.RandomState(7)
X = RNG.uniform(0.2, 0.8, (3, 5, 6, 1))
Y_TRUE = X + RNG.normal(0.0, 0.1, X.shape)
VARIANCE, MARGIN_SCALE = 1.0, 0.25


def quadratic_ssvm(num_steps=40, step_size=1.0, **options):
    energy = QuadraticDataEnergy(VARIANCE, dtype="float64")
    minimizer = UnrolledMinimizer(energy, num_steps=num_steps,
                                  step_size=step_size, dtype="float64")
    model = SPEN(minimizer, training_mode="ssvm",
                 ssvm_margin_scale=MARGIN_SCALE, dtype="float64", **options)
    model(X[:1])
    return model


def energy(y, x):
    return ((y - x) ** 2).reshape(len(y), -1).sum(1) / (2 * VARIANCE)


def margin(y_hat, y_true, mask=None):
    diff = (y_hat - y_true) ** 2
    if mask is not None:
        diff = diff * mask
    return MARGIN_SCALE * diff.reshape(len(y_hat), -1).sum(1)


def test_margin_is_the_positive_scaled_squared_error():
    model = quadratic_ssvm()
    y_hat = X + 0.3
    np.testing.assert_allclose(model._margin(tf.constant(y_hat),
                                             tf.constant(Y_TRUE)).numpy(),
                               margin(y_hat, Y_TRUE))
    assert (model._margin(tf.constant(y_hat), tf.constant(Y_TRUE)).numpy()
            > 0).all()


@pytest.mark.parametrize("steps", [(0.5, 2.0, 6.0), (-0.5, -0.25, 0.25)],
                         ids=["away_from_target", "towards_target"])
def test_hinge_matches_the_closed_form_for_a_wrong_prediction(steps):
    """y^ = x + a (x - y*): with |n|^2 = ||x - y*||^2 the hinge is
    |n|^2 max(0, c (1 + a)^2 - a^2 / (2 s2) + 1 / (2 s2)), positive for small
    |a| and zero for a = 6, so the ReLU and every sign show in the mean."""
    model = quadratic_ssvm()
    a = np.array(steps).reshape(3, 1, 1, 1)
    y_hat = X + a * (X - Y_TRUE)
    expected = np.maximum(
        0.0, margin(y_hat, Y_TRUE) - energy(y_hat, X) + energy(Y_TRUE, X))
    assert expected.max() > 0.0
    got = float(model._ssvm_loss(X, tf.constant(Y_TRUE), tf.constant(y_hat),
                                 None))
    assert got == pytest.approx(expected.mean(), rel=1e-10)
    # The flipped margin gives another value, so the check above is a sign
    # check and not a tautology.
    flipped = np.maximum(
        0.0, -margin(y_hat, Y_TRUE) - energy(y_hat, X) + energy(Y_TRUE, X))
    assert abs(flipped.mean() - expected.mean()) > 1e-3


def test_hinge_with_masked_targets_uses_the_prediction_there():
    model = quadratic_ssvm(mask_invalid_targets=True)
    y_true = Y_TRUE.copy()
    y_true[:, :2] = 0.0  # invalid pixels
    mask = (y_true > 0).astype(float)
    y_hat = X + 0.2
    target = np.where(y_true > 0, y_true, y_hat)
    expected = np.maximum(0.0, margin(y_hat, y_true, mask)
                          - energy(y_hat, X) + energy(target, X))
    got = float(model._ssvm_loss(X, tf.constant(y_true), tf.constant(y_hat),
                                 None))
    assert got == pytest.approx(expected.mean(), rel=1e-10)


def test_loss_augmented_inference_moves_away_from_the_target():
    """argmin_y ||y - x||^2 / (2 s2) - c ||y - y*||^2 is
    y = (x / s2 - 2 c y*) / (1 / s2 - 2 c): beyond x, away from y*."""
    model = quadratic_ssvm()
    y_hat = model.loss_augmented_inference(X, Y_TRUE).numpy()
    expected = (X / VARIANCE - 2 * MARGIN_SCALE * Y_TRUE) / (
        1 / VARIANCE - 2 * MARGIN_SCALE)
    np.testing.assert_allclose(y_hat, expected, atol=1e-8)
    plain = model(X).numpy()  # inference without the margin: y = x
    np.testing.assert_allclose(plain, X, atol=1e-8)
    distance = lambda y: np.abs(y - Y_TRUE).reshape(3, -1).sum(1)  # noqa: E731
    assert (distance(y_hat) > distance(plain) + 1e-3).all()
    # The loss-augmented prediction violates the margin: positive hinge.
    assert float(model._ssvm_loss(X, tf.constant(Y_TRUE),
                                  tf.constant(y_hat), None)) > 0.0


def test_one_ssvm_step_reports_the_closed_form_hinge():
    """train_step's loss is the hinge at the loss-augmented prediction."""
    import keras

    model = quadratic_ssvm()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    history = model.fit(X, Y_TRUE, batch_size=3, epochs=1, shuffle=False,
                        verbose=0)
    y_hat = (X / VARIANCE - 2 * MARGIN_SCALE * Y_TRUE) / (
        1 / VARIANCE - 2 * MARGIN_SCALE)
    expected = np.maximum(
        0.0, margin(y_hat, Y_TRUE) - energy(y_hat, X) + energy(Y_TRUE, X))
    assert history.history["loss"][0] == pytest.approx(expected.mean(),
                                                       rel=1e-6)
