"""Tests for the seeded Kinect-like noise model."""

import numpy as np
import pytest
import tensorflow as tf

from spen_keras.denoising import KinectNoiseModel
from spen_keras.denoising import fill_invalid
from spen_keras.denoising import load_frames


def nguyen_sigma_normalised(z_metres, scale):
    """Nguyen et al. (2012) axial sigma, metres -> normalised (mm / 5000)."""
    return scale * (0.0012 + 0.0019 * (z_metres - 0.4) ** 2) / 5.0


def constant_image(z_metres, shape=(256, 256)):
    clean = np.full(shape, z_metres / 5.0, np.float32)
    return clean, np.ones(shape, bool)


def sample(noise, clean, mask, seed, backend):
    if backend == "numpy":
        return noise.apply_numpy(clean, mask, seed)
    noisy, noisy_mask = noise.apply_tf(clean, mask, [seed, 7])
    return noisy.numpy(), noisy_mask.numpy()


def test_defaults():
    noise = KinectNoiseModel()
    assert noise.scale == 27.5
    assert noise.dropout_rate == 0.02
    assert noise.get_config()["scale"] == 27.5


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_same_seed_same_noise_different_seed_different(backend):
    noise = KinectNoiseModel()
    clean, mask = constant_image(2.0, (64, 64))
    a, mask_a = sample(noise, clean, mask, 3, backend)
    b, mask_b = sample(noise, clean, mask, 3, backend)
    c, _ = sample(noise, clean, mask, 4, backend)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert np.mean(a != c) > 0.9


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_noise_std_follows_sigma_of_depth(backend):
    noise = KinectNoiseModel()
    stds = []
    for z in (1.0, 2.0, 3.0, 4.0):
        clean, mask = constant_image(z)
        noisy, noisy_mask = sample(noise, clean, mask, 11, backend)
        error = (noisy - clean)[noisy_mask]
        expected = nguyen_sigma_normalised(z, noise.scale)
        # 64k samples: the std estimate is within ~0.3% of the truth.
        assert np.std(error) == pytest.approx(expected, rel=0.03)
        assert abs(np.mean(error)) < 0.02 * expected
        stds.append(np.std(error))
    assert np.all(np.diff(stds) > 0)
    # sigma(4 m) / sigma(1 m) = (0.0012 + 0.0019 * 3.6**2)
    #                         / (0.0012 + 0.0019 * 0.6**2) = 13.71
    assert stds[-1] / stds[0] == pytest.approx(13.71, rel=0.03)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_dropout_rate_is_the_fraction_of_valid_pixels_lost(backend):
    noise = KinectNoiseModel(dropout_rate=0.3)
    clean, mask = constant_image(1.5)
    mask[:, :128] = False
    clean[~mask] = 0.0
    _, noisy_mask = sample(noise, clean, mask, 5, backend)
    lost = np.mean(~noisy_mask[mask])
    assert lost == pytest.approx(0.3, abs=0.01)


@pytest.mark.parametrize("backend", ["numpy", "tf"])
def test_invalid_pixels_stay_zero_and_valid_stay_positive(backend):
    noise = KinectNoiseModel(scale=200.0)
    rng = np.random.default_rng(1)
    clean = rng.uniform(0.1, 0.8, (96, 128)).astype(np.float32)
    mask = rng.random((96, 128)) > 0.3
    clean[~mask] = 0.0
    noisy, noisy_mask = sample(noise, clean, mask, 2, backend)
    assert noisy.dtype == np.float32 and noisy_mask.dtype == bool
    assert not np.any(noisy_mask & ~mask)
    assert np.all(noisy[~noisy_mask] == 0.0)
    assert np.all(noisy[noisy_mask] > 0.0)


def test_zero_scale_and_dropout_is_identity():
    noise = KinectNoiseModel(scale=0.0, dropout_rate=0.0)
    clean, mask = constant_image(2.5, (8, 8))
    noisy, noisy_mask = noise.apply_numpy(clean, mask, 0)
    np.testing.assert_array_equal(noisy, clean)
    assert noisy_mask.all()


def test_apply_tf_inside_dataset_map_matches_eager():
    noise = KinectNoiseModel()
    clean, mask = constant_image(2.0, (16, 16))
    seeds = tf.constant([[1, 2], [3, 4]], tf.int64)
    dataset = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: noise.apply_tf(clean, mask, seed)
    )
    for (noisy, noisy_mask), seed in zip(dataset, seeds):
        eager, eager_mask = noise.apply_tf(clean, mask, seed)
        np.testing.assert_array_equal(noisy.numpy(), eager.numpy())
        np.testing.assert_array_equal(noisy_mask.numpy(), eager_mask.numpy())


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="scale"):
        KinectNoiseModel(scale=-1.0)
    with pytest.raises(ValueError, match="dropout_rate"):
        KinectNoiseModel(dropout_rate=1.0)
    with pytest.raises(ValueError, match="shape"):
        KinectNoiseModel().apply_numpy(
            np.ones((4, 4)), np.ones((4, 5), bool), seed=0
        )


def test_noisy_psnr_on_shipped_test_frames_is_near_29_db():
    noise = KinectNoiseModel()
    frames = load_frames("test")
    assert [f["sequence"] for f in frames] == [1, 1, 1, 4, 4, 4]
    psnrs = []
    for seed, frame in enumerate(frames):
        clean, mask = frame["depth"], frame["mask"]
        noisy, noisy_mask = noise.apply_numpy(clean, mask, seed)
        filled = fill_invalid(noisy, noisy_mask).astype(np.float64)
        rmse = np.sqrt(np.mean((filled[mask] - clean[mask]) ** 2))
        psnrs.append(20 * np.log10(1.0 / rmse))
    assert 28.0 <= np.mean(psnrs) <= 30.0
    assert np.mean(psnrs) == pytest.approx(29.03, abs=0.1)


def test_noise_profile_reproduces_sigma_and_drives_the_data_term():
    from spen_keras.core.energies import QuadraticDataEnergy

    model = KinectNoiseModel()
    a, b, c = model.noise_profile()
    depth = np.linspace(0.05, 1.0, 20)
    np.testing.assert_allclose(a + b * (depth - c) ** 2, model.sigma(depth),
                               rtol=1e-12)
    # With sigma^2 = sigma(c)^2 the data term's per-pixel variance is the
    # noise model's variance at the observed depth.
    energy = QuadraticDataEnergy(initial_variance=a ** 2,
                                 noise_profile=(a, b, c))
    x = tf.constant(depth[None, :, None], tf.float32)
    np.testing.assert_allclose(energy.pixel_variance(x).numpy()[0, :, 0],
                               model.sigma(depth) ** 2, rtol=1e-4)
