"""SoftConstraintEnergy's coordinate pairs and empty label, and
MLPGlobalEnergy's pooled mode: closed forms, invariances, gradients,
convexity and config round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras.core.energies.mlp_global_energy import MLPGlobalEnergy
from spen_keras.core.energies.soft_constraint_energy import SoftConstraintEnergy


def softplus(x, temperature=1.0):
    return np.logaddexp(0.0, temperature * np.asarray(x, np.float64)) / (
        temperature)


def round_trip(layer):
    return keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))


# --- SoftConstraintEnergy --------------------------------------------------

RNG = np.random.RandomState(3)
# y (2, 3, 4): two examples, a 3 x 4 grid of variables in [0, 1].
GRID = RNG.rand(2, 3, 4).astype(np.float32)
# Per-example coordinate pairs (2, 3, 2, 2); -1 rows are padding.
COORDS = np.array([
    [[[0, 1], [2, 3]], [[1, 0], [1, 1]], [[-1, -1], [-1, -1]]],
    [[[2, 2], [0, 0]], [[-1, 2], [-1, 3]], [[-1, -1], [-1, -1]]],
], np.int32)


def closed_form(values, coords, alpha, temperature=1.0):
    """alpha * sum over the non-padding pairs of SoftPlus_t(a + b - 1)."""
    out = []
    for v, pairs in zip(values, coords):
        total = 0.0
        for first, second in pairs:
            if first[0] < 0:
                continue
            total += softplus(v[tuple(first)] + v[tuple(second)] - 1.0,
                              temperature)
        out.append(alpha * total)
    return np.array(out)


def test_coordinate_pairs_give_the_closed_form_and_skip_padding():
    layer = SoftConstraintEnergy(initial_alpha=1.7, temperature=2.0)
    energy = layer(tf.constant(GRID), tf.constant(COORDS)).numpy()
    expected = closed_form(GRID, COORDS, 1.7, temperature=2.0)
    np.testing.assert_allclose(energy, expected, rtol=1e-5)
    # The padding rows really are skipped: without them, the same energy.
    assert energy[1] == pytest.approx(
        1.7 * softplus(GRID[1, 2, 2] + GRID[1, 0, 0] - 1.0, 2.0), rel=1e-5)


def test_coordinate_pairs_match_equivalent_flat_pairs():
    flat = np.where(COORDS[..., 0] >= 0,
                    COORDS[..., 0] * 4 + COORDS[..., 1], -1).astype(np.int32)
    # Flat padding: the first index -1 (the second is ignored).
    flat[1, 1] = [-1, 3]
    layer = SoftConstraintEnergy(initial_alpha=0.6)
    by_coords = layer(tf.constant(GRID), tf.constant(COORDS)).numpy()
    by_flat = layer(tf.constant(GRID), tf.constant(flat)).numpy()
    np.testing.assert_allclose(by_coords, by_flat, rtol=1e-6)
    # And the fixed-pairs mode of example 0 agrees too.
    fixed = SoftConstraintEnergy(pairs=[[1, 11], [4, 5]], initial_alpha=0.6)
    np.testing.assert_allclose(fixed(tf.constant(GRID[:1])).numpy(),
                               by_coords[:1], rtol=1e-6)


def test_padding_rows_are_ignored_whatever_their_other_indices():
    coords = COORDS.copy()
    coords[1, 1] = [[-1, 5], [-1, 7]]  # first index -1: padding
    layer = SoftConstraintEnergy(initial_alpha=1.7)
    energy = layer(tf.constant(GRID), tf.constant(coords)).numpy()
    np.testing.assert_allclose(energy, closed_form(GRID, coords, 1.7),
                               rtol=1e-5)


def distributions(shape, labels, rng):
    return rng.dirichlet(np.ones(labels), size=shape).astype(np.float32)


def test_empty_label_constrains_one_minus_the_empty_mass():
    rng = np.random.RandomState(5)
    y = distributions((2, 3, 4), 3, rng)  # (B, P, A, R), R = 3, empty = 1
    coords = COORDS
    layer = SoftConstraintEnergy(initial_alpha=2.5, empty_label=1)
    energy = layer(tf.constant(y), tf.constant(coords)).numpy()
    expected = closed_form(1.0 - y[..., 1], coords, 2.5)
    np.testing.assert_allclose(energy, expected, rtol=1e-5)
    # Flat pairs now address positions (P x A = 12), not entries of y.
    flat = SoftConstraintEnergy(pairs=[[1, 11], [4, 5]], initial_alpha=2.5,
                                empty_label=1)
    np.testing.assert_allclose(flat(tf.constant(y[:1])).numpy(),
                               expected[:1], rtol=1e-5)


def test_padding_y_one_hot_on_the_empty_label_changes_nothing():
    rng = np.random.RandomState(6)
    y = distributions((2, 3, 4), 3, rng)
    padded = np.zeros((2, 5, 7, 3), np.float32)
    padded[..., 0] = 1.0  # padded cells one-hot on the empty label 0
    padded[:, :3, :4] = y
    layer = SoftConstraintEnergy(initial_alpha=1.3, empty_label=0)
    small = layer(tf.constant(y), tf.constant(COORDS)).numpy()
    large = layer(tf.constant(padded), tf.constant(COORDS)).numpy()
    np.testing.assert_allclose(large, small, rtol=1e-6)
    assert np.all(small > 0)


def test_coordinates_of_the_wrong_length_are_refused():
    layer = SoftConstraintEnergy(empty_label=0)
    y = tf.constant(distributions((2, 3, 4), 3, np.random.RandomState(1)))
    three = np.zeros((2, 1, 2, 3), np.int32)  # positions have 2 axes
    with pytest.raises(ValueError, match=(
            r"pair coordinates have 3 entries but the constrained variables "
            r"have 2 non-batch axes")):
        layer(y, tf.constant(three))
    plain = SoftConstraintEnergy()
    with pytest.raises(ValueError, match=r"have 2 entries but the constrained "
                                         r"variables have 3 non-batch axes"):
        plain(y, tf.constant(COORDS))


def test_soft_constraint_config_round_trip_keeps_empty_label():
    rng = np.random.RandomState(7)
    y = tf.constant(distributions((2, 3, 4), 3, rng))
    layer = SoftConstraintEnergy(initial_alpha=0.4, temperature=3.0,
                                 learn_alpha=False, empty_label=2,
                                 features_key="pairs")
    features = {"pairs": tf.constant(COORDS)}
    expected = layer(y, features).numpy()
    config = layer.get_config()
    assert config["empty_label"] == 2 and config["pairs"] is None
    clone = round_trip(layer)
    assert clone.empty_label == 2 and clone.features_key == "pairs"
    assert clone.temperature == 3.0 and clone.learn_alpha is False
    np.testing.assert_allclose(clone(y, features).numpy(), expected,
                               rtol=1e-6)
    none = round_trip(SoftConstraintEnergy(pairs=[[0, 1]]))
    assert none.empty_label is None and none.pairs == [[0, 1]]


def test_negative_empty_label_is_refused():
    with pytest.raises(ValueError, match=r"`empty_label` must be >= 0; got -1"):
        SoftConstraintEnergy(empty_label=-1)


def finite_difference(fn, y, eps=1e-3):
    grad = np.zeros_like(y)
    for index in np.ndindex(*y.shape):
        up, down = y.copy(), y.copy()
        up[index] += eps
        down[index] -= eps
        grad[index] = (fn(up) - fn(down)) / (2 * eps)
    return grad


def test_soft_constraint_gradient_matches_finite_differences():
    rng = np.random.RandomState(8)
    y = distributions((1, 2, 3), 3, rng).astype(np.float64)
    coords = np.array([[[[0, 0], [0, 2]], [[1, 1], [0, 1]],
                        [[-1, -1], [-1, -1]]]], np.int32)
    layer = SoftConstraintEnergy(initial_alpha=1.9, temperature=1.5,
                                 empty_label=0, dtype="float64")

    def total(values):
        return float(tf.reduce_sum(layer(tf.constant(values),
                                         tf.constant(coords))))

    y_tensor = tf.constant(y)
    with tf.GradientTape() as tape:
        tape.watch(y_tensor)
        energy = tf.reduce_sum(layer(y_tensor, tf.constant(coords)))
    grad = tape.gradient(energy, y_tensor).numpy()
    np.testing.assert_allclose(grad, finite_difference(total, y), atol=1e-6)
    # Only the empty label carries gradient; the unused cell (1, 0) none.
    assert np.all(grad[..., 1:] == 0)
    assert np.all(grad[0, 1, 0] == 0)
    assert np.all(grad[0, 0, :, 0] < 0)


# --- MLPGlobalEnergy, pooled mode ------------------------------------------

def hand_pooled_energy(layer, y, features=None):
    """sum over positions of w^T g(... g(C_1 z + b_1) ...), z = [pooled y
    without exclude_label, features], g = SoftPlus_t (numpy, float64)."""
    kernels = [k.numpy().astype(np.float64) for k in layer.kernels]
    biases = [b.numpy().astype(np.float64) for b in layer.biases]
    pooled = np.asarray(y, np.float64).sum(axis=layer.pool_axis)
    if layer.exclude_label is not None:
        pooled = np.delete(pooled, layer.exclude_label, axis=-1)
    if features is not None:
        pooled = np.concatenate([pooled, features], axis=-1)
    hidden = pooled
    for kernel, bias in zip(kernels[:-1], biases):
        hidden = softplus(hidden @ kernel + bias, layer.temperature)
    out = (hidden @ kernels[-1])[..., 0]
    return out.reshape(out.shape[0], -1).sum(axis=1)


def randomise(layer, rng, non_negative_from=None):
    for i, kernel in enumerate(layer.kernels):
        values = rng.normal(size=kernel.shape)
        if non_negative_from is not None and i >= non_negative_from:
            values = np.abs(values)
        kernel.assign(values.astype(np.float32))
    for bias in layer.biases:
        bias.assign(rng.normal(size=bias.shape).astype(np.float32))


Y4 = distributions((2, 3, 5), 4, np.random.RandomState(10))  # (B, P, A, R)
PRED = np.random.RandomState(11).normal(size=(2, 3, 6)).astype(np.float32)


def test_pooled_energy_matches_a_hand_computation_with_features():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(5, 3), temperature=2.5, pool_axis=2,
                            exclude_label=0, features_key="predicate")
    features = {"predicate": tf.constant(PRED), "other": tf.zeros((2,))}
    layer(tf.constant(Y4), features)
    randomise(layer, np.random.RandomState(12))
    assert layer.kernels[0].shape == (3 + 6, 5)
    energy = layer(tf.constant(Y4), features).numpy()
    assert energy.shape == (2,)
    np.testing.assert_allclose(energy, hand_pooled_energy(layer, Y4, PRED),
                               rtol=1e-5, atol=1e-5)


def test_pooled_energy_without_exclusion_or_features():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(4,), pool_axis=1)
    layer(tf.constant(Y4))
    randomise(layer, np.random.RandomState(13))
    assert layer.kernels[0].shape == (4, 4)
    np.testing.assert_allclose(layer(tf.constant(Y4)).numpy(),
                               hand_pooled_energy(layer, Y4), rtol=1e-5,
                               atol=1e-5)
    # A pooled energy needs no fixed y size: any number of positions works.
    other = distributions((1, 7, 2), 4, np.random.RandomState(14))
    np.testing.assert_allclose(layer(tf.constant(other)).numpy(),
                               hand_pooled_energy(layer, other), rtol=1e-5,
                               atol=1e-5)


def test_padding_the_pooled_axis_with_the_excluded_label_changes_nothing():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(6,), pool_axis=2, exclude_label=0,
                            features_key="predicate")
    features = {"predicate": tf.constant(PRED)}
    small = layer(tf.constant(Y4), features).numpy()
    padded = np.zeros((2, 3, 9, 4), np.float32)
    padded[..., 0] = 1.0
    padded[:, :, :5] = Y4
    large = layer(tf.constant(padded), features).numpy()
    np.testing.assert_allclose(large, small, rtol=1e-5, atol=1e-6)
    # Padding on another label does change it (the test can fail).
    padded[:, :, 5:] = np.eye(4, dtype=np.float32)[2]
    assert not np.allclose(layer(tf.constant(padded), features).numpy(),
                           small, rtol=1e-3)


def test_permuting_the_pooled_axis_changes_nothing():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(6, 4), pool_axis=2, exclude_label=1)
    permuted = Y4[:, :, np.random.RandomState(15).permutation(5)]
    np.testing.assert_allclose(layer(tf.constant(permuted)).numpy(),
                               layer(tf.constant(Y4)).numpy(), rtol=1e-5,
                               atol=1e-6)
    # Permuting the positions (axis 1) with their features also changes
    # nothing: the position energies are summed.
    cond = MLPGlobalEnergy(hidden_units=(6,), pool_axis=2, exclude_label=0,
                           features_key="f")
    order = [2, 0, 1]
    np.testing.assert_allclose(
        cond(tf.constant(Y4[:, order]), {"f": tf.constant(PRED[:, order])}),
        cond(tf.constant(Y4), {"f": tf.constant(PRED)}), rtol=1e-5, atol=1e-6)


def test_input_convex_pooled_energy_is_convex_along_segments():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(8, 8), temperature=3.0,
                            input_convex=True, pool_axis=2, exclude_label=0,
                            features_key="predicate")
    features = {"predicate": tf.constant(PRED)}
    layer(tf.constant(Y4), features)
    # Random weights that respect the constraint (NonNeg after layer 0).
    randomise(layer, np.random.RandomState(16), non_negative_from=1)
    for i, kernel in enumerate(layer.kernels):
        assert (kernel.constraint is not None) == (i > 0)
    rng = np.random.RandomState(17)
    for _ in range(20):
        a = rng.normal(size=Y4.shape).astype(np.float32) * 2
        b = rng.normal(size=Y4.shape).astype(np.float32) * 2
        ends = layer(tf.constant(np.stack([a, b])[:, 0]), {
            "predicate": tf.constant(PRED[:1].repeat(2, 0))}).numpy()
        mid = layer(tf.constant((a[:1] + b[:1]) / 2),
                    {"predicate": tf.constant(PRED[:1])}).numpy()[0]
        assert mid <= ends.mean() + 1e-4
    # Without the constraint, the same check finds a non-convex segment.
    free = MLPGlobalEnergy(hidden_units=(8, 8), temperature=3.0, pool_axis=2)
    free(tf.constant(Y4))
    randomise(free, np.random.RandomState(18))
    found = False
    for _ in range(200):
        a = rng.normal(size=(1,) + Y4.shape[1:]).astype(np.float32) * 2
        b = rng.normal(size=(1,) + Y4.shape[1:]).astype(np.float32) * 2
        e = free(tf.constant(np.concatenate([a, b, (a + b) / 2]))).numpy()
        found |= e[2] > (e[0] + e[1]) / 2 + 1e-4
    assert found


def test_pooled_config_round_trip():
    keras.utils.set_random_seed(0)
    layer = MLPGlobalEnergy(hidden_units=(5,), temperature=1.5,
                            input_convex=True, pool_axis=2, exclude_label=3,
                            features_key="predicate")
    features = {"predicate": tf.constant(PRED)}
    expected = layer(tf.constant(Y4), features).numpy()
    config = layer.get_config()
    assert (config["pool_axis"], config["exclude_label"]) == (2, 3)
    clone = round_trip(layer)
    assert (clone.pool_axis, clone.exclude_label) == (2, 3)
    assert clone.features_key == "predicate" and clone.requires_features
    clone(tf.constant(Y4), features)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(tf.constant(Y4), features).numpy(),
                               expected, rtol=1e-6)
    plain = round_trip(MLPGlobalEnergy(hidden_units=(3,)))
    assert plain.pool_axis is None and plain.exclude_label is None


def test_pool_axis_on_the_last_axis_or_the_batch_is_refused():
    layer = MLPGlobalEnergy(hidden_units=(3,), pool_axis=3)
    with pytest.raises(ValueError, match=(
            r"MLPGlobalEnergy pool_axis 3 must be a non-batch axis other than "
            r"the last of y")):
        layer(tf.constant(Y4))
    with pytest.raises(ValueError, match=r"`pool_axis` must be a non-batch "
                                         r"axis >= 1; got 0"):
        MLPGlobalEnergy(pool_axis=0)


def test_pooled_features_missing_key_is_reported():
    layer = MLPGlobalEnergy(hidden_units=(3,), pool_axis=2,
                            features_key="predicate")
    with pytest.raises(ValueError, match=r"reads features\['predicate'\]"):
        layer(tf.constant(Y4), {"arcs": tf.constant(PRED)})


def test_negative_exclude_label_is_refused():
    with pytest.raises(ValueError, match=r"exclude_label"):
        MLPGlobalEnergy(hidden_units=(3,), pool_axis=1, exclude_label=-1)


def test_exclude_label_out_of_range_is_refused():
    layer = MLPGlobalEnergy(hidden_units=(3,), pool_axis=1, exclude_label=4)
    with pytest.raises(ValueError, match=r"exclude_label"):
        layer(tf.constant(Y4))
