"""Energy layers: closed-form values, config round-trips, shape errors, ICNN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    DeepPriorEnergy,
    EntropyEnergy,
    FieldOfExpertsEnergy,
    LocalLinearEnergy,
    MLPGlobalEnergy,
    QuadraticDataEnergy,
    SoftConstraintEnergy,
    SumEnergy,
    UnrolledMinimizer,
    soft_abs,
)

RNG = np.random.RandomState(0)
IMAGE = tf.constant(RNG.rand(2, 10, 9, 1), tf.float32)
LABELS = tf.constant(RNG.dirichlet(np.ones(3), size=(2, 4)), tf.float32)
FEATURES = tf.constant(RNG.normal(size=(2, 4, 5)), tf.float32)

# (factory, y, features): every public energy, built on its natural input.
ENERGIES = {
    "quadratic": (lambda: QuadraticDataEnergy(0.3), IMAGE, IMAGE * 0.5),
    "quadratic_profile": (
        lambda: QuadraticDataEnergy(0.3, noise_profile=(0.2, 1.5, 0.1)),
        IMAGE, IMAGE * 0.5),
    "quadratic_noise_aware": (
        lambda: QuadraticDataEnergy(0.3, noise_profile=(0.2, 1.5, 0.1),
                                    noise_estimate=0.05),
        IMAGE, IMAGE * 0.5),
    "foe": (lambda: FieldOfExpertsEnergy(4, 3, padding="reflect"), IMAGE, None),
    "deep_prior": (lambda: DeepPriorEnergy((4, 3), (3, 3)), IMAGE, None),
    "deep_prior_convex": (
        lambda: DeepPriorEnergy((4, 3), (3, 3), input_convex=True,
                                padding="zero"), IMAGE, None),
    "local": (lambda: LocalLinearEnergy(3), LABELS, FEATURES),
    "global": (lambda: MLPGlobalEnergy((6, 5)), LABELS, None),
    "global_convex": (lambda: MLPGlobalEnergy((6,), input_convex=True),
                      LABELS, None),
    "constraint": (lambda: SoftConstraintEnergy([[0, 4], [1, 5]], 2.0),
                   LABELS, None),
    "entropy": (lambda: EntropyEnergy(0.5), LABELS, None),
    "sum": (lambda: SumEnergy([LocalLinearEnergy(3, features_key="f"),
                               MLPGlobalEnergy((4,)), EntropyEnergy()]),
            LABELS, {"f": FEATURES}),
}


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_config_round_trip_gives_the_same_energy(name):
    factory, y, features = ENERGIES[name]
    keras.utils.set_random_seed(1)
    layer = factory()
    expected = layer(y, features)
    assert expected.shape == (2,)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer)
    clone(y, features)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(y, features).numpy(), expected.numpy(),
                               rtol=1e-6)
    from_config = type(layer).from_config(layer.get_config())
    assert from_config.get_config() == layer.get_config()


@pytest.mark.parametrize("name", sorted(ENERGIES))
def test_energies_have_second_derivatives(name):
    """The minimiser needs d/dtheta of dE/dy: every energy must supply it."""
    factory, y, features = ENERGIES[name]
    layer = factory()
    layer(y, features)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            inner.watch(y)
            energy = tf.reduce_sum(layer(y, features))
        grad = inner.gradient(energy, y)
        objective = tf.reduce_sum(grad * tf.sin(3.0 * y))
    second = outer.gradient(objective, layer.trainable_variables)
    if name == "entropy":
        assert second == []
    elif name != "local":  # linear in y: dE/dy is free of y but not of W
        assert any(g is not None and float(tf.reduce_max(tf.abs(g))) > 0
                   for g in second)


def test_quadratic_data_energy_closed_form():
    energy = QuadraticDataEnergy(initial_variance=0.5)
    value = energy(tf.ones((2, 4, 4, 1)), tf.zeros((2, 4, 4, 1)))
    np.testing.assert_allclose(value.numpy(), [16.0, 16.0])
    np.testing.assert_allclose(float(energy.variance), 0.5, rtol=1e-6)


def test_quadratic_data_energy_with_a_noise_profile_closed_form():
    # r(x) = (a + b (x - c)^2) / a; E = sum (y - x)^2 / (2 sigma^2 r(x)^2).
    a, b, c = 0.5, 2.0, 0.25
    energy = QuadraticDataEnergy(initial_variance=0.5,
                                 noise_profile=(a, b, c))
    x = tf.constant([[0.25, 0.75, 1.25]])
    y = tf.constant([[1.25, 1.75, 0.25]])
    relative = (a + b * (x.numpy() - c) ** 2) / a  # 1, 2, 5
    expected = np.sum((y.numpy() - x.numpy()) ** 2 / (2 * 0.5 * relative ** 2))
    np.testing.assert_allclose(energy(y, x).numpy(), [expected], rtol=1e-6)
    np.testing.assert_allclose(energy.pixel_variance(x).numpy(),
                               0.5 * relative ** 2, rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(y)
        value = energy(y, x)
    np.testing.assert_allclose(
        tape.gradient(value, y).numpy(),
        (y.numpy() - x.numpy()) / (0.5 * relative ** 2), rtol=1e-6)
    # A flat profile (b = 0) is the paper's constant variance.
    flat = QuadraticDataEnergy(initial_variance=0.5, noise_profile=(a, 0, c))
    np.testing.assert_allclose(
        flat(y, x).numpy(), QuadraticDataEnergy(0.5)(y, x).numpy())


@pytest.mark.parametrize("profile", [(0, 1, 0), (1, -1, 0), (1, 1),
                                     "abc", (1, float("nan"), 0)])
def test_quadratic_data_energy_rejects_a_bad_noise_profile(profile):
    with pytest.raises(ValueError, match="noise_profile"):
        QuadraticDataEnergy(noise_profile=profile)


def test_quadratic_data_energy_noise_estimate_config_round_trip():
    plain = QuadraticDataEnergy(0.5, noise_profile=(1.0, 2.0, 0.3))
    assert plain.get_config()["noise_estimate"] is None
    aware = QuadraticDataEnergy(0.5, noise_profile=(1.0, 2.0, 0.3),
                                noise_estimate=0.02)
    config = aware.get_config()
    assert config["noise_estimate"] == 0.02
    clone = QuadraticDataEnergy.from_config(config)
    assert clone.noise_estimate == 0.02
    assert clone.get_config() == config
    # A preset saved before the option has no `noise_estimate` key.
    old = plain.get_config()
    del old["noise_estimate"]
    loaded = QuadraticDataEnergy.from_config(old)
    assert loaded.noise_estimate is None
    loaded(IMAGE, IMAGE)
    assert [w.name for w in loaded.weights] == ["log_variance"]
    aware(IMAGE, IMAGE)
    assert sorted(w.name for w in aware.weights) == ["log_variance",
                                                     "noise_override"]
    assert [w.name for w in aware.trainable_weights] == ["log_variance"]
    assert float(aware.noise_override.numpy()) == 0.0


@pytest.mark.parametrize("options, match", [
    ({"noise_estimate": 0.1}, "needs a `noise_profile`"),
    ({"noise_estimate": 0.0, "noise_profile": (1, 0, 0)}, "noise_estimate"),
    ({"noise_estimate": -0.1, "noise_profile": (1, 0, 0)}, "noise_estimate"),
    ({"noise_estimate": float("nan"), "noise_profile": (1, 0, 0)},
     "noise_estimate"),
    ({"noise_estimate": float("inf"), "noise_profile": (1, 0, 0)},
     "noise_estimate"),
    ({"noise_estimate": "abc", "noise_profile": (1, 0, 0)}, "noise_estimate"),
])
def test_quadratic_data_energy_rejects_a_bad_noise_estimate(options, match):
    with pytest.raises(ValueError, match=match) as error:
        QuadraticDataEnergy(**options)
    assert "\n" not in str(error.value)


def test_soft_abs_closed_form():
    # Eq. 14: 0.5 SoftPlus(x) + 0.5 SoftPlus(-x) -> |x| / 2 far from 0.
    x = tf.constant([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(soft_abs(x, 25.0).numpy(),
                               [1.5, np.log(2) / 25, 1.0], rtol=1e-5)


def test_field_of_experts_energy_closed_form_with_one_filter():
    energy = FieldOfExpertsEnergy(num_filters=1, filter_size=2,
                                  temperature=1000.0)
    y = tf.constant(RNG.rand(1, 5, 6, 1), tf.float32)
    energy(y)
    kernel = np.array([[1.0, -1.0], [0.0, 0.0]]).reshape(2, 2, 1, 1)
    energy.set_weights([kernel])
    horizontal = np.abs(np.diff(y.numpy()[0, :4, :, 0], axis=1)).sum()
    assert float(energy(y)[0]) == pytest.approx(horizontal / 2, rel=1e-3)


def test_soft_constraint_energy_closed_form_and_feature_pairs():
    y = tf.constant([[1.0, 1.0, 0.0]])
    fixed = SoftConstraintEnergy(pairs=[[0, 1]], initial_alpha=2.0)
    assert float(fixed(y)[0]) == pytest.approx(2 * np.log1p(np.e), rel=1e-6)
    from_features = SoftConstraintEnergy(initial_alpha=2.0)
    pairs = tf.constant([[[0, 1], [-1, -1]]])
    assert float(from_features(y, pairs)[0]) == pytest.approx(
        2 * np.log1p(np.e), rel=1e-6)


def test_entropy_energy_closed_form():
    uniform = tf.fill((1, 2, 4), 0.25)
    assert float(EntropyEnergy(1.0)(uniform)[0]) == pytest.approx(
        -2 * np.log(4), rel=1e-6)
    half = tf.fill((1, 3), 0.5)
    assert float(EntropyEnergy(2.0, mode="bernoulli")(half)[0]) == (
        pytest.approx(-2 * 3 * np.log(2), rel=1e-6))


@pytest.mark.parametrize("name", ["deep_prior_convex", "global_convex", "foe"])
def test_input_convex_energies_are_convex_in_y(name):
    factory, y, features = ENERGIES[name]
    keras.utils.set_random_seed(2)
    layer = factory()
    layer(y, features)
    for _ in range(20):
        a = tf.constant(RNG.normal(size=y.shape) * 3, tf.float32)
        b = tf.constant(RNG.normal(size=y.shape) * 3, tf.float32)
        mid = layer((a + b) / 2, features).numpy()
        chord = (layer(a, features) + layer(b, features)).numpy() / 2
        assert (mid <= chord + 1e-4 * np.abs(chord) + 1e-5).all()


def _train_against_the_data(prior):
    """`prior` after a few large SGD steps of a 2-step minimiser towards
    -x: training that pushes its constrained weights negative."""
    keras.utils.set_random_seed(0)
    minimizer = UnrolledMinimizer(SumEnergy([QuadraticDataEnergy(), prior]),
                                  num_steps=2)
    inputs = keras.Input((8, 8, 1))
    model = keras.Model(inputs, minimizer(inputs, inputs))
    model.compile(optimizer=keras.optimizers.SGD(10.0), loss="mse")
    model.fit(IMAGE[:, :8, :8], -IMAGE[:, :8, :8], epochs=3, verbose=0)
    return prior


def test_input_convex_weights_stay_non_negative_after_training():
    prior = _train_against_the_data(
        DeepPriorEnergy((3, 3), (3, 3), input_convex=True))
    constrained = prior.kernels[1:] + [prior.output_kernel]
    assert all(float(tf.reduce_min(k)) >= 0.0 for k in constrained)


def test_all_positive_deep_prior_is_the_papers_icnn():
    """`all_positive=True` (the paper's ICNN restriction): every kernel and
    bias stays non-negative through training, the first layer's included,
    so the energy is convex and non-decreasing in every pixel (its gradient
    in y is non-negative everywhere); the config round-trips."""
    prior = _train_against_the_data(
        DeepPriorEnergy((3, 3), (3, 3), all_positive=True))
    assert prior.input_convex
    weights = prior.kernels + prior.biases + [prior.output_kernel]
    assert all(float(tf.reduce_min(w)) >= 0.0 for w in weights)
    assert any(float(tf.reduce_max(w)) > 0.0 for w in weights)
    y = tf.constant(RNG.normal(size=(2, 8, 8, 1)) * 3, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(y)
        energy = tf.reduce_sum(prior(y))
    assert float(tf.reduce_min(tape.gradient(energy, y))) >= 0.0
    # Amos et al.'s restriction leaves the first layer free: not monotone.
    free = DeepPriorEnergy((3, 3), (3, 3), input_convex=True)
    free(y)
    assert not any(k.constraint for k in free.kernels[:1])
    assert not any(b.constraint for b in free.biases)
    config = prior.get_config()
    assert config["all_positive"] and config["input_convex"]
    assert DeepPriorEnergy.from_config(config).all_positive


@pytest.mark.parametrize("padding, reduction, channels", [
    ("valid", "sum", 1), ("reflect", "sum", 1), ("zero", "mean", 1),
    ("valid", "mean", 2)])
def test_deep_prior_equals_eq15_written_out(padding, reduction, channels):
    """The implementation (temperature folded into the kernels, a custom
    input gradient for a single-channel y, the 1x1 conv and the pooling
    merged) is Eq. 15 literally: conv, SoftPlus_t, conv, SoftPlus_t, 1x1
    conv, summed or averaged; and so are its first and second derivatives."""
    keras.utils.set_random_seed(3)
    prior = DeepPriorEnergy((4, 3), (3, 5), temperature=7.0, padding=padding,
                            reduction=reduction, channels=channels)
    image = tf.concat([IMAGE] * channels, axis=-1) * tf.range(
        1.0, channels + 1.0)
    prior(image)
    for bias in prior.biases:  # non-zero biases, so their scaling counts
        bias.assign(tf.random.normal(bias.shape, seed=4))

    def literal(y):
        hidden = y
        for kernel, bias in zip(prior.kernels, prior.biases):
            hidden = prior.convolve(hidden, kernel) + bias
            hidden = tf.nn.softplus(7.0 * hidden) / 7.0
        scores = tf.nn.conv2d(hidden, prior.output_kernel, 1, "VALID")
        pool = tf.reduce_sum if reduction == "sum" else tf.reduce_mean
        return pool(scores, axis=[1, 2, 3])

    v = tf.constant(np.random.RandomState(5).normal(size=image.shape),
                    tf.float32)

    def value_grad_hvp(fn):
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(image)
            with tf.GradientTape() as inner:
                inner.watch(image)
                energy = fn(image)
            grad = inner.gradient(energy, image)
            directional = tf.reduce_sum(grad * v)
        # Second derivatives in y (the HVP) and in the weights (what
        # training through the unrolled steps differentiates).
        return (energy, grad, outer.gradient(directional, image),
                *outer.gradient(directional, prior.trainable_weights))

    for ours, expected in zip(value_grad_hvp(prior), value_grad_hvp(literal)):
        np.testing.assert_allclose(ours, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    "layer, y, message",
    [
        (DeepPriorEnergy(), IMAGE[:, :, :, 0], r"rank 4 \(batch, height, width"),
        (FieldOfExpertsEnergy(), tf.concat([IMAGE] * 3, -1), "1 channel"),
        (LocalLinearEnergy(4), LABELS, "4 channel"),
    ],
    ids=["rank", "channels", "labels"],
)
def test_wrong_shape_raises_a_clear_error(layer, y, message):
    with pytest.raises(ValueError, match=message):
        layer(y, FEATURES)


def test_missing_features_and_wrong_feature_key():
    with pytest.raises(ValueError, match="needs features"):
        QuadraticDataEnergy()(IMAGE)
    with pytest.raises(ValueError, match=r"features\['f'\].*\['g'\]"):
        LocalLinearEnergy(3, features_key="f")(LABELS, {"g": FEATURES})
    with pytest.raises(ValueError, match="shape of y"):
        QuadraticDataEnergy()(IMAGE, IMAGE[:, :5])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: QuadraticDataEnergy(initial_variance=0), "initial_variance"),
        (lambda: FieldOfExpertsEnergy(temperature=-1), "temperature"),
        (lambda: DeepPriorEnergy((8,), (3, 3)), "equal length"),
        (lambda: DeepPriorEnergy(reduction="max"), "Unknown reduction"),
        (lambda: DeepPriorEnergy(padding="wrap"), "Unknown padding"),
        (lambda: SoftConstraintEnergy([[0, 1, 2]]), "pairs"),
        (lambda: EntropyEnergy(mode="gaussian"), "Unknown mode"),
        (lambda: SumEnergy([]), "at least one"),
    ],
)
def test_bad_constructor_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_soft_constraint_index_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        SoftConstraintEnergy([[0, 99]])(LABELS)
