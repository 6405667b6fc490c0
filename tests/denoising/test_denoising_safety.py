"""Denoisers do no harm: the noise-aware data term's step scale, the
plausibility guard of `denoise_frame`, the quiet-frame policy and the
training-noise records of the shipped presets."""

import json
import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import (
    DeepPriorEnergy,
    GradientDescentStep,
    MomentumStep,
    QuadraticDataEnergy,
    SumEnergy,
    UnrolledMinimizer,
)
from spen_keras import presets
from spen_keras.denoising import denoise as denoise_module
from spen_keras.denoising.denoise import (
    DenoisingError,
    QuietFrameWarning,
    denoise_file,
    denoise_frame,
    plausibility_limits,
)
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.noise_estimate import estimate_frame_noise_mm
from spen_keras.denoising.seven_scenes_frames import embedded_frames_dir
from spen_keras.denoising.training_noise import (
    preset_training_noise,
    spec_training_noise,
)

RAW_FRAME = embedded_frames_dir() / "seq-04" / "frame-000001.depth.png"


# === The step scale of the noise-aware data term ===


def aware_term(scale_steps_below=0.25, variance=0.5, dtype="float32"):
    return QuadraticDataEnergy(variance, trainable_variance=False,
                               noise_profile=(1.0, 0.0, 0.0),
                               noise_estimate=0.1,
                               scale_steps_below=scale_steps_below,
                               dtype=dtype)


@pytest.mark.parametrize("level, f_min", [
    (0.02, 0.25), (0.05, 0.25), (0.06, 0.25), (0.3, 0.25), (0.02, 1.0),
    (0.02, None)])
def test_one_step_of_the_noise_aware_data_term_in_closed_form(level, f_min):
    """y_1 - x = d (1 - eta min(1, f / f_min) / (sigma^2 f)) for
    y_0 = x + d, f = (level / s_ref)^2: a frame quieter than f_min takes the
    step of a frame at f_min; unscaled, the step grows as 1 / f (and
    overshoots: 1 - 0.2 / (0.5 * 0.04) = -9)."""
    term = aware_term(f_min)
    minimizer = UnrolledMinimizer(term, num_steps=1,
                                  step_rule=GradientDescentStep(),
                                  step_size=0.2)
    x = tf.constant(np.full((1, 4, 5, 1), 0.4, np.float32))
    d = np.linspace(-0.01, 0.01, 20, dtype=np.float32).reshape(1, 4, 5, 1)
    term(x, x)
    term.noise_override.assign(level)
    y1 = minimizer.minimize(x + d, x).y.numpy()
    f = (level / 0.1) ** 2
    scale = 1.0 if f_min is None else min(1.0, f / f_min)
    np.testing.assert_allclose(y1 - x.numpy(), d * (1 - 0.2 * scale
                                                    / (0.5 * f)),
                               rtol=1e-4, atol=1e-7)


def test_step_scale_is_none_without_a_noise_estimate_and_multiplies_in_sums():
    plain = QuadraticDataEnergy(0.5)
    x = tf.constant(np.full((2, 3, 3, 1), 0.4, np.float32))
    assert plain.step_scale(x) is None
    assert DeepPriorEnergy((2,), (3,)).step_scale(x) is None
    first, second = aware_term(), aware_term()
    first(x, x), second(x, x)
    first.noise_override.assign(0.025)  # f = 0.0625: scale 0.25
    second.noise_override.assign(0.02)  # f = 0.04: scale 0.16
    total = SumEnergy([first, DeepPriorEnergy((2,), (3,)), second])
    np.testing.assert_allclose(total.step_scale(x).numpy(), [0.04, 0.04],
                               rtol=1e-5)
    assert SumEnergy([plain]).step_scale(x) is None


def test_scale_steps_below_round_trips_and_old_configs_get_stable_steps():
    for value in (None, 0.5):
        config = aware_term(value).get_config()
        assert config["scale_steps_below"] == value
        assert QuadraticDataEnergy.from_config(
            config).scale_steps_below == value
    del config["scale_steps_below"]  # a config saved before the option
    assert QuadraticDataEnergy.from_config(config).scale_steps_below == 0.25
    with pytest.raises(ValueError, match="scale_steps_below"):
        aware_term(0.0)


def test_unrolled_gradients_with_a_scaled_step_match_central_differences():
    """Second-order terms through steps shortened by the step scale (fixed
    level f = 0.04 through the override, scale 0.16): float64 finite
    differences of the
    unrolled loss in the prior's weights, the step sizes and x."""
    keras.utils.set_random_seed(5)
    term = aware_term(variance=0.7, dtype="float64")
    prior = DeepPriorEnergy((3, 2), (3, 3), temperature=4.0,
                            padding="reflect", dtype="float64")
    minimizer = UnrolledMinimizer(
        SumEnergy([term, prior], dtype="float64"), num_steps=3,
        step_rule=MomentumStep(0.25), step_size=0.2, learn_step_sizes=True,
        dtype="float64")
    rng = np.random.RandomState(0)
    x = tf.constant(rng.rand(2, 9, 8, 1))
    target = rng.rand(2, 9, 8, 1)
    minimizer(x, x)
    term.noise_override.assign(0.02)
    assert float(minimizer.energy.step_scale(x)[0]) == pytest.approx(0.16)

    def loss(x):
        return tf.reduce_sum(tf.square(minimizer(x, x) - target))

    with tf.GradientTape() as tape:
        tape.watch(x)
        value = loss(x)
    variables = minimizer.trainable_variables
    grads = tape.gradient(value, variables + [x])
    h = 1e-6
    for k, variable in enumerate(variables + [x]):
        base = variable.numpy().copy()
        for i in rng.choice(base.size, 2, replace=False):
            values = []
            for sign in (1, -1):
                shifted = base.copy().reshape(-1)
                shifted[i] += sign * h
                if k < len(variables):
                    variable.assign(shifted.reshape(base.shape))
                    values.append(float(loss(x)))
                else:
                    values.append(float(loss(tf.constant(
                        shifted.reshape(base.shape)))))
            if k < len(variables):
                variable.assign(base)
            numeric = (values[0] - values[1]) / (2 * h)
            analytic = grads[k].numpy().reshape(-1)[i]
            assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-8)


# === The plausibility guard ===


class OffsetDenoiser:
    """A deliberately broken numpy 'denoiser': adds `offset` (normalised)."""

    def __init__(self, offset):
        self.offset = offset

    def __call__(self, x):
        return x + self.offset


def test_the_plausibility_limits_are_the_stated_rule():
    assert plausibility_limits(10.0) == (3 * 10 + 10, 10 * 10 + 50)
    assert plausibility_limits(math.nan) == (10.0, 50.0)


def test_a_broken_model_is_refused_in_one_line_and_nothing_is_written(
        tmp_path):
    raw = read_depth_png(RAW_FRAME)
    broken = OffsetDenoiser(0.1)  # +500 mm everywhere
    with pytest.raises(DenoisingError, match="implausible") as caught:
        denoise_frame(broken, raw)
    message = str(caught.value)
    assert "\n" not in message and "--allow-implausible" in message
    assert "median of 500 mm" in message
    depth, _, report = denoise_frame(broken, raw, allow_implausible=True)
    assert not report.plausible and report.median_change_mm == 500
    mask = valid_mask(raw)
    np.testing.assert_array_equal(depth[mask], raw[mask] + 500)


def test_denoise_file_writes_nothing_for_an_implausible_output(tmp_path,
                                                               monkeypatch):
    monkeypatch.setattr(presets, "load_preset",
                        lambda name: OffsetDenoiser(-0.05))
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    write_depth_png(source, read_depth_png(RAW_FRAME))
    with pytest.raises(DenoisingError, match="implausible"):
        denoise_file(source, target, preset="broken")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]  # no temporary file left


def test_a_small_change_passes_the_guard():
    raw = read_depth_png(RAW_FRAME)
    noise = estimate_frame_noise_mm(raw)
    limit, _ = plausibility_limits(noise)
    small = (limit - 2) / 5000.0
    _, _, report = denoise_frame(OffsetDenoiser(small), raw)
    assert report.plausible and report.action == "denoised"
    assert report.median_change_mm == pytest.approx(limit - 2, abs=1)


# === Quiet frames ===


def test_shipped_denoising_presets_record_the_noise_they_were_trained_for():
    for name in presets.list_presets():
        spec = presets.get_spec(name)
        if spec.family != "denoising":
            continue
        recorded = presets.read_metadata(name).get("training_noise")
        assert recorded == spec_training_noise(spec), name
    assert preset_training_noise("dp_3") == pytest.approx(144.7)
    # The geometric mean of its 0.5x-2x range: its 1x level.
    assert preset_training_noise("dp_3_augmented") == pytest.approx(
        math.sqrt(72.3 * 288.3))
    assert preset_training_noise("bm3d_estimated") is None
    assert preset_training_noise("srl_local_h") is None


def test_a_quiet_frame_is_passed_through_with_a_warning():
    """A raw Kinect frame (about 15 mm of noise) given to dp_3 (trained on
    145 mm): one warning, the input comes back unchanged; always_denoise
    runs the model (and changes the frame)."""
    raw = read_depth_png(RAW_FRAME)
    model = presets.load_preset("dp_3")
    with pytest.warns(QuietFrameWarning, match="passing it through") as caught:
        depth, _, report = denoise_frame(
            model, raw, training_noise_mm=preset_training_noise("dp_3"))
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert report.quiet and report.action == "passed through"
    np.testing.assert_array_equal(depth, raw)
    with pytest.warns(QuietFrameWarning, match="anyway"):
        forced, _, report = denoise_frame(
            model, raw, training_noise_mm=preset_training_noise("dp_3"),
            always_denoise=True)
    assert report.action == "denoised" and report.plausible
    assert np.abs(forced.astype(int) - raw).max() > 50


def test_bm3d_and_the_filter_forest_count_fewer_frames_as_quiet():
    """BM3D and the Filter Forest hold up on quieter frames than the learned
    presets (validation): their records say quiet below 0.12 of the
    training noise, not 0.2; a frame between the two is denoised."""
    from spen_keras.denoising.training_noise import preset_quiet_ratio

    assert preset_quiet_ratio("bm3d") == 0.12
    assert preset_quiet_ratio("filter_forest") == 0.12
    assert preset_quiet_ratio("dp_3") == 0.2
    assert preset_quiet_ratio("srl_local_h") == 0.2  # no record: default
    raw = read_depth_png(RAW_FRAME)  # 14.7 mm of noise
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuietFrameWarning)
        _, _, report = denoise_frame(OffsetDenoiser(0.0), raw,
                                     training_noise_mm=100.0,
                                     quiet_ratio=0.12)
    assert not report.quiet and report.action == "denoised"
    with pytest.warns(QuietFrameWarning, match="passing it through"):
        _, _, report = denoise_frame(OffsetDenoiser(0.0), raw,
                                     training_noise_mm=100.0)
    assert report.quiet and report.action == "passed through"


def test_a_frame_at_the_training_noise_is_not_quiet():
    raw = read_depth_png(RAW_FRAME)
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuietFrameWarning)
        _, _, report = denoise_frame(OffsetDenoiser(0.0), raw,
                                     training_noise_mm=2.0)
    assert not report.quiet


def test_the_noise_aware_preset_is_stable_on_a_raw_frame():
    """The reproduction of the issue: `dp_3_noise_aware` on a raw embedded
    frame moved the median pixel by 1,877 mm (values 1-65,534 mm). With the
    step scale it barely moves the frame, and it is not passed through."""
    raw = read_depth_png(RAW_FRAME)
    model = presets.load_preset("dp_3_noise_aware")
    with pytest.warns(QuietFrameWarning, match="adapts"):
        depth, _, report = denoise_frame(
            model, raw,
            training_noise_mm=preset_training_noise("dp_3_noise_aware"))
    assert report.action == "denoised" and report.plausible
    mask = valid_mask(raw)
    change = np.abs(depth[mask].astype(int) - raw[mask])
    assert np.median(change) <= 2 and np.percentile(change, 99) <= 30


@pytest.mark.parametrize("sigma_mm", [5.0, 15.0, 30.0])
def test_the_noise_aware_preset_does_not_degrade_a_quiet_synthetic_frame(
        sigma_mm):
    """A smooth ramp with 5 mm noise, told its noise is 5, 15 or 30 mm: the
    output is never worse than the input (it was -19 to +19 dB against an
    input at 60 dB)."""
    rng = np.random.RandomState(0)
    clean = 1500.0 + 400.0 * np.linspace(0, 1, 160)[None, :] \
        + 300.0 * np.linspace(0, 1, 120)[:, None]
    noisy = np.round(clean + rng.normal(0, 5.0, clean.shape)).astype(
        np.uint16)
    model = presets.load_preset("dp_3_noise_aware")
    depth = denoise_module.denoise_depth(model, noisy,
                                         noise_sigma_mm=sigma_mm)

    def rmse(a):
        return np.sqrt(np.mean(np.square(a.astype(np.float64) - clean)))

    assert rmse(depth) <= rmse(noisy) * 1.01


def test_zoo_list_shows_the_training_noise(capsys):
    from spen_keras import cli

    assert cli.main(["zoo", "list", "--table", "table1"]) == 0
    out = capsys.readouterr().out
    assert "| suits |" in out.splitlines()[0]

    def line(name):
        return next(l for l in out.splitlines()
                    if l.startswith(f"| {name} |"))

    assert "| 145 mm noise |" in line("dp_3")
    assert "| 182 mm noise |" in line("bm3d")
    assert "| 72-288 mm noise |" in line("dp_3_augmented")
    assert "72-288 mm noise; any quieter (noise-aware)" in line(
        "dp_3_noise_aware")
    assert "any noise (estimates it per frame)" in line("bm3d_estimated")
    assert "For a sensor of unknown noise use dp_3_noise_aware" in out
    assert cli.main(["zoo", "list", "--table", "mlc"]) == 0
    out = capsys.readouterr().out
    assert "dp_3_noise_aware" not in out and "| - |" in out
