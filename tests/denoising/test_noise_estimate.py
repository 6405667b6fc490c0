"""The noise-level-aware data term (`QuadraticDataEnergy(noise_estimate=)`),
its numpy reference (`spen_keras.denoising.noise_estimate`) and
`spen-keras denoise --noise-sigma`."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import spen_keras
from spen_keras import (
    SPEN,
    FieldOfExpertsEnergy,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
)
from spen_keras import cli
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.kinect_noise import KinectNoiseModel
from spen_keras.denoising.noise_estimate import (
    estimate_noise_sigma,
    find_data_term,
    noise_sigma_mm_to_reference,
    reference_to_noise_sigma_mm,
)

MAD = 0.6745 * math.sqrt(2.0)
PROFILE = KinectNoiseModel().noise_profile()


def checkerboard(shape, delta):
    return delta * (-1.0) ** np.add.outer(np.arange(shape[0]),
                                          np.arange(shape[1]))


def ramps(seed, batch=4, height=17, width=23):
    """Noisy depth ramps (normalised) with hole-filled runs."""
    rng = np.random.RandomState(seed)
    frames = []
    for n in range(batch):
        ramp = 0.3 + 0.02 * np.linspace(0, 1, width)[None, :] \
            + 0.1 * np.linspace(0, 1, height)[:, None]
        frame = ramp + rng.normal(0, 0.004 * (n + 1), ramp.shape)
        frame[2:5, 3:9] = frame[2, min(3, width - 1)]  # a filled hole
        frames.append(frame)
    return np.stack(frames)[..., None].astype(np.float32)


# === The TF estimate ===


def test_energy_closed_form_with_a_noise_estimate():
    a, b, c = 0.5, 2.0, 0.25
    s_ref, delta = 0.01, 0.003
    x = (c + 0.1 + checkerboard((6, 8), delta))[None, ..., None]
    x = x.astype(np.float32)
    y = (x + np.random.RandomState(1).normal(0, 0.1, x.shape)).astype(
        np.float32)
    energy = QuadraticDataEnergy(0.7, noise_profile=(a, b, c),
                                 noise_estimate=s_ref)
    # Every horizontal pair: |d| = 2 delta, mean c + 0.1.
    s_hat = 2 * delta / (1 + (b / a) * 0.1 ** 2) / MAD
    r = 1 + (b / a) * (x.astype(np.float64) - c) ** 2
    variance = 0.7 * (s_hat / s_ref) ** 2 * r ** 2
    expected = np.sum((y - x) ** 2 / (2 * variance))
    np.testing.assert_allclose(energy(y, x).numpy(), [expected], rtol=1e-5)
    np.testing.assert_allclose(energy.noise_level(x).numpy(), [s_hat],
                               rtol=1e-5)
    np.testing.assert_allclose(energy.pixel_variance(x).numpy(), variance,
                               rtol=1e-5)
    # The factor really applies: without the option the value differs.
    plain = QuadraticDataEnergy(0.7, noise_profile=(a, b, c))
    assert abs(float(plain(y, x)[0]) - expected) > 0.1 * expected


def test_tf_estimate_equals_the_numpy_reference():
    x = ramps(0)
    x[3] = 0.5  # no usable pair: falls back to s_ref
    s_ref = 0.02
    energy = QuadraticDataEnergy(noise_profile=PROFILE, noise_estimate=s_ref)
    energy(x, x)
    expected = [estimate_noise_sigma(frame, PROFILE, s_ref) for frame in x]
    assert expected[3] == s_ref
    np.testing.assert_allclose(energy.estimate_noise_level(x).numpy(),
                               expected, rtol=1e-5)
    # Graph mode with unknown batch, height and width; odd widths too.
    estimate = tf.function(
        energy.estimate_noise_level,
        input_signature=[tf.TensorSpec((None, None, None, 1), tf.float32)])
    for width in (23, 22, 2):
        frames = ramps(width, batch=3, width=width)
        np.testing.assert_allclose(
            estimate(frames).numpy(),
            [estimate_noise_sigma(f, PROFILE, s_ref) for f in frames],
            rtol=1e-5)
    # A width of 1: no pair at all.
    np.testing.assert_allclose(estimate(x[:, :, :1]).numpy(), [s_ref] * 4)


def test_estimate_skips_zeros_and_non_finite_differences():
    frame = np.full((5, 9), 0.4)
    frame[:, ::2] += 0.01  # |d| = 0.01 on every pair
    frame[:, 5:] = 0.6  # a run of exact zeros
    frame[0, 0] = np.nan
    frame[1, 1] = np.inf
    expected = 0.01 / MAD
    assert estimate_noise_sigma(frame, (1, 0, 0)) == pytest.approx(expected)
    energy = QuadraticDataEnergy(noise_profile=(1, 0, 0), noise_estimate=1.0)
    np.testing.assert_allclose(
        energy.noise_level(frame[None, ..., None].astype(np.float32)),
        [expected], rtol=1e-5)
    # The floor: a tiny noise never reaches 0.
    assert estimate_noise_sigma(np.full((3, 4), 0.4) + 1e-9 * np.arange(4),
                                (1, 0, 0), 1.0) == 1e-3


@pytest.mark.parametrize("sigma", [0.005, 0.02])
def test_estimate_recovers_a_known_gaussian_noise(sigma):
    rng = np.random.RandomState(3)
    # A gentle slope (5e-4 per pixel): first differences see it as a
    # bias of (slope / (sqrt(2) sigma))^2 / 2 at most 0.3% here.
    smooth = 0.4 + 0.05 * np.sin(np.linspace(0, 1, 96))[None, :] \
        + 0.1 * np.linspace(0, 1, 64)[:, None]
    noise = rng.normal(0, sigma, smooth.shape)
    x = np.stack([smooth + noise, smooth + 2 * noise])[..., None]
    energy = QuadraticDataEnergy(noise_profile=(1.0, 0.0, 0.0),
                                 noise_estimate=0.01)
    once, twice = energy.noise_level(x.astype(np.float32)).numpy()
    assert once == pytest.approx(sigma, rel=0.1)
    assert twice / once == pytest.approx(2.0, rel=0.05)


def test_gradients_flow_to_y_only_through_the_residual():
    x = tf.constant(ramps(5, batch=2), tf.float32)
    y = x + tf.constant(np.random.RandomState(2).normal(0, 0.05, x.shape),
                        tf.float32)
    energy = QuadraticDataEnergy(0.3, noise_profile=(1.0, 0.0, 0.0),
                                 noise_estimate=0.004)
    variance = energy.pixel_variance(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, y])
        value = tf.reduce_sum(energy(y, x))
    np.testing.assert_allclose(tape.gradient(value, y).numpy(),
                               ((y - x) / variance).numpy(), rtol=1e-5)
    # No gradient through s_hat: dE/dx is exactly -(y - x) / variance_i.
    np.testing.assert_allclose(tape.gradient(value, x).numpy(),
                               (-(y - x) / variance).numpy(), rtol=1e-5)
    # The two frames have different noise levels, hence variances.
    levels = energy.noise_level(x).numpy()
    assert levels[1] > 1.5 * levels[0]


def test_noise_override_replaces_the_estimate_without_a_retrace():
    x = tf.constant(ramps(7, batch=2))
    y = x + 0.05
    energy = QuadraticDataEnergy(0.3, noise_profile=PROFILE,
                                 noise_estimate=0.01)
    energy(y, x)  # creates the weights outside the traced function
    call = tf.function(lambda y, x: energy(y, x))
    automatic = call(y, x).numpy()
    assert energy.gradient_radius() is None  # per-frame: not tileable
    energy.noise_override.assign(0.02)
    np.testing.assert_allclose(energy.noise_level(x).numpy(), [0.02, 0.02],
                               rtol=1e-6)
    overridden = call(y, x).numpy()
    expected = energy.energy(y, x).numpy()
    plain = QuadraticDataEnergy(0.3, noise_profile=PROFILE)(y, x).numpy()
    np.testing.assert_allclose(overridden, plain / 4.0, rtol=1e-5)
    np.testing.assert_allclose(overridden, expected, rtol=1e-6)
    assert energy.gradient_radius() == 0
    energy.noise_override.assign(0.0)
    np.testing.assert_allclose(call(y, x).numpy(), automatic, rtol=1e-6)
    assert call.experimental_get_tracing_count() == 1


# === numpy helpers ===


def test_noise_sigma_mm_to_reference_closed_form():
    a, b, c = PROFILE
    x = np.zeros((6, 6))
    x[:, :3] = 0.2
    x[:, 3:] = 0.6
    x[0, :4] = 0.4  # median over x > 0 is 0.4 (the zeros are holes)
    x[5] = 0.0
    r = (a + b * (0.4 - c) ** 2) / a
    s = noise_sigma_mm_to_reference(12.0, x, PROFILE)
    assert s == pytest.approx(12.0 / 5000 / r)
    assert reference_to_noise_sigma_mm(s, x, PROFILE) == pytest.approx(12.0)
    # The Kinect model's own sigma at the median depth maps to its scale a.
    sigma_mm = KinectNoiseModel().sigma(0.4) * 5000
    assert noise_sigma_mm_to_reference(sigma_mm, x, PROFILE) == \
        pytest.approx(a)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number"):
            noise_sigma_mm_to_reference(bad, x, PROFILE)


def tiny_noise_aware_spen(s_ref=0.01):
    keras.utils.set_random_seed(0)
    energy = SumEnergy([
        QuadraticDataEnergy(0.5, noise_profile=PROFILE,
                            noise_estimate=s_ref),
        FieldOfExpertsEnergy(4, 3, padding="reflect")])
    model = SPEN(UnrolledMinimizer(energy, num_steps=5, step_size=0.02))
    model(np.full((1, 8, 8, 1), 0.4, np.float32))
    return model


def test_find_data_term():
    model = tiny_noise_aware_spen()
    term = find_data_term(model)
    assert isinstance(term, QuadraticDataEnergy)
    assert term.noise_estimate == 0.01
    assert find_data_term(lambda x: x) is None


# === spen-keras denoise --noise-sigma ===


FRAME = (spen_keras.datasets.__path__[0] + "/seven_scenes/embedded/stairs/"
         "seq-04/frame-000001.depth.png")


@pytest.fixture(scope="module")
def crop(tmp_path_factory):
    path = tmp_path_factory.mktemp("noise") / "crop.png"
    write_depth_png(path, read_depth_png(FRAME)[200:240, 300:348])
    return path


@pytest.fixture()
def no_model(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the model was loaded before the checks")

    monkeypatch.setattr(spen_keras.presets, "load_preset", forbidden)


def test_noise_sigma_needs_a_noise_aware_preset(crop, tmp_path, capsys):
    assert cli.main(["denoise", str(crop), str(tmp_path / "o.png"),
                     "--preset", "foe_3", "--noise-sigma", "5"]) == 2
    err = capsys.readouterr().err
    assert err == ("spen-keras: error: preset foe_3 does not estimate the "
                   "noise level; use a noise-aware preset such as "
                   "dp_3_noise_aware, or drop --noise-sigma.\n")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf"])
def test_noise_sigma_must_be_finite_and_positive(value, crop, tmp_path,
                                                 no_model, capsys):
    assert cli.main(["denoise", str(crop), str(tmp_path / "o.png"),
                     "--preset", "foe_3", f"--noise-sigma={value}"]) == 2
    err = capsys.readouterr().err
    assert "--noise-sigma must be a finite number of millimetres > 0" in err
    assert "foe_3" in err and err.count("\n") == 1


def test_denoise_with_a_noise_aware_user_preset(crop, tmp_path, capsys):
    from spen_keras.denoising import denoise as denoise_module
    from spen_keras.presets import load_preset, save_to_preset

    preset = tmp_path / "aware"
    save_to_preset(tiny_noise_aware_spen(), preset, {"name": "aware"},
                   input_shape=(None, None, None, 1))
    outputs = {}
    for sigma in (None, "20", "1000"):
        out = tmp_path / f"out_{sigma}.png"
        argv = ["denoise", str(crop), str(out), "--preset", str(preset)]
        if sigma is not None:
            argv += ["--noise-sigma", sigma]
        assert cli.main(argv) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2
        assert lines[0].startswith(f"Noise level of {crop}")
        if sigma is None:
            assert "(estimated)" in lines[0]
        else:
            assert f"(given): {float(sigma):.2f} mm at its median depth" \
                in lines[0]
        outputs[sigma] = read_depth_png(out).astype(np.int64)
    # A larger noise level weakens the data term: the output moves more.
    raw = read_depth_png(crop).astype(np.int64)
    valid = raw > 0
    assert np.abs(outputs["1000"] - raw)[valid].mean() > \
        1.1 * np.abs(outputs["20"] - raw)[valid].mean()
    # denoise_depth: the given level reaches the model, and is reset.
    model = load_preset(preset)
    term = find_data_term(model)
    levels = []
    raw16 = read_depth_png(crop)
    given = denoise_module.denoise_depth(
        model, raw16, noise_sigma_mm=7.0,
        on_noise_level=lambda *args: levels.append(args))
    assert float(term.noise_override.numpy()) == 0.0
    assert levels[0][0] == pytest.approx(7.0, rel=1e-5) and levels[0][2]
    x = raw16.astype(np.float32) / 5000
    mask = valid_mask(raw16)  # 0 and 65535 are holes
    term.noise_override.assign(noise_sigma_mm_to_reference(
        7.0, np.where(mask, x, 0), PROFILE))
    manual = denoise_module.denoise_depth(model, raw16)
    np.testing.assert_array_equal(given, manual)
    term.noise_override.assign(0.0)
    # Without a level, the model's own estimate is used and reported.
    automatic = denoise_module.denoise_depth(
        model, raw16, on_noise_level=lambda *args: levels.append(args))
    assert not levels[1][2]
    np.testing.assert_array_equal(automatic, outputs[None])


def test_denoise_depth_tiles_a_noise_aware_model_with_the_frames_level(
        crop, monkeypatch):
    from spen_keras.denoising import DenoisingError
    from spen_keras.denoising import denoise as denoise_module

    raw16 = read_depth_png(crop)
    with pytest.raises(DenoisingError, match="^this model does not estimate"):
        denoise_module.denoise_depth(lambda x: x, raw16, noise_sigma_mm=5.0)
    model = tiny_noise_aware_spen()
    whole = denoise_module.denoise_depth(model, raw16)
    calls = []
    original = denoise_module.predict_tiled

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(denoise_module, "predict_tiled", spy)
    tiled = denoise_module.denoise_depth(model, raw16, tile_size=24,
                                         max_untiled_pixels=100)
    assert len(calls) == 1  # tileable only while the level is fixed
    # Every tile uses the whole frame's level: the same result.
    np.testing.assert_allclose(tiled.astype(int), whole.astype(int), atol=1)
    assert float(find_data_term(model).noise_override.numpy()) == 0.0
