"""Receptive fields of energies, the small-input error, and exact tiled
inference (`spen_keras.core.tiled_inference`, `denoise_depth` on large frames)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras import SPEN, UnrolledMinimizer
from spen_keras.core.energies import (DeepPriorEnergy, FieldOfExpertsEnergy,
                                 MLPGlobalEnergy, QuadraticDataEnergy,
                                 SumEnergy)
from spen_keras.core.step_rules import MomentumStep
from spen_keras.core.tiled_inference import (DEFAULT_TILE_SIZE, TilingError,
                                        predict_tiled, receptive_margin,
                                        tile_windows)

PADDINGS = ("valid", "reflect", "zero")


@pytest.fixture(scope="module")
def dp_3():
    return SPEN.from_preset("dp_3")


@pytest.fixture(scope="module")
def foe_3():
    return SPEN.from_preset("foe_3")


@pytest.fixture(scope="module")
def frame():
    """A 200x260 input: needs 4 x 5 tiles of 128 with dp_3's margin 36."""
    rng = np.random.default_rng(0)
    return rng.uniform(0.2, 0.8, (1, 200, 260, 1)).astype(np.float32)


def small_spen(padding, num_steps=2):
    """Random DeepPrior SPEN with strong couplings: radius 2 + 4 = 6."""
    keras.utils.set_random_seed(0)
    energy = SumEnergy([
        QuadraticDataEnergy(initial_variance=1.0),
        DeepPriorEnergy(filters=(4, 4), kernel_sizes=(3, 5), padding=padding,
                        temperature=5.0)])
    return SPEN(UnrolledMinimizer(energy, num_steps=num_steps,
                                  step_rule=MomentumStep(0.5), step_size=0.5))


# --- receptive field API ----------------------------------------------------


@pytest.mark.parametrize("padding", PADDINGS)
def test_minimum_spatial_size_is_the_smallest_size_that_works(padding):
    for energy in (DeepPriorEnergy(filters=(2, 2), kernel_sizes=(3, 7),
                                   padding=padding),
                   FieldOfExpertsEnergy(num_filters=2, filter_size=6,
                                        padding=padding)):
        minimum = energy.minimum_spatial_size()
        expected = {"valid": sum(k - 1 for k in energy.conv_kernel_sizes())
                    + 1,
                    "reflect": 4, "zero": 1}[padding]
        assert minimum == expected
        energy(tf.zeros((1, minimum, minimum, 1)))  # builds and works
        if padding == "reflect":
            # One pixel less and the mirrored padding itself fails
            # (`energy.energy` bypasses the shape check).
            with pytest.raises(tf.errors.InvalidArgumentError):
                energy.energy(tf.zeros((1, minimum - 1, minimum + 5, 1)),
                              None)
        # ("valid": below the minimum, oneDNN's convolution does not always
        # fail; it may return a wrongly shaped result, hence the check.)
        if minimum > 1:
            with pytest.raises(ValueError, match=f"at least {minimum}x"):
                energy(tf.zeros((1, minimum + 5, minimum - 1, 1)))


def test_radius_and_minimum_size_of_each_kind_of_energy():
    deep = DeepPriorEnergy(filters=(32, 32), kernel_sizes=(7, 7))
    assert (deep.gradient_radius(), deep.minimum_spatial_size()) == (12, 13)
    foe = FieldOfExpertsEnergy(num_filters=4, filter_size=7)
    assert (foe.gradient_radius(), foe.minimum_spatial_size()) == (6, 7)
    data = QuadraticDataEnergy()
    assert (data.gradient_radius(), data.minimum_spatial_size()) == (0, 1)
    assert SumEnergy([data, foe, deep]).gradient_radius() == 12
    assert SumEnergy([data, foe, deep]).minimum_spatial_size() == 13
    glob = MLPGlobalEnergy(hidden_units=(4,))
    assert glob.gradient_radius() is None
    assert glob.minimum_spatial_size() is None
    assert SumEnergy([data, glob]).gradient_radius() is None
    assert SumEnergy([data, glob]).minimum_spatial_size() == 1


def chebyshev_reach(energy, y, pixel, bump=1.0):
    """Changed entries of dE/dy when y at `pixel` moves by `bump`, as their
    largest Chebyshev distance from it (float64, so rounding is ~1e-16)."""
    def gradient(values):
        values = tf.constant(values)
        with tf.GradientTape() as tape:
            tape.watch(values)
            total = tf.reduce_sum(energy(values, tf.zeros_like(values)))
        return tape.gradient(total, values).numpy()[0, ..., 0]

    moved = y.copy()
    moved[(0,) + pixel + (0,)] += bump
    changed = np.argwhere(np.abs(gradient(moved) - gradient(y)) > 1e-12)
    assert len(changed), "nothing changed"
    return int(np.abs(changed - np.array(pixel)).max())


@pytest.mark.parametrize("padding", PADDINGS)
def test_gradient_radius_numerically(padding):
    """Moving one pixel changes dE/dy exactly within gradient_radius of it:
    never farther (anywhere, borders included), and in the interior as far
    as that (the radius is tight)."""
    rng = np.random.default_rng(1)
    y = rng.uniform(0.0, 1.0, (1, 30, 32, 1))
    keras.utils.set_random_seed(1)
    energies = [
        FieldOfExpertsEnergy(num_filters=3, filter_size=5, padding=padding,
                             temperature=2.0, dtype="float64"),
        DeepPriorEnergy(filters=(3, 2), kernel_sizes=(3, 5), padding=padding,
                        temperature=2.0, dtype="float64"),
        SumEnergy([QuadraticDataEnergy(dtype="float64"),
                   DeepPriorEnergy(filters=(2, 2), kernel_sizes=(5, 4),
                                   padding=padding, temperature=2.0,
                                   dtype="float64")], dtype="float64"),
    ]
    for energy in energies:
        radius = energy.gradient_radius()
        assert chebyshev_reach(energy, y, (15, 16)) == radius
        for pixel in [(0, 0), (1, 2), (29, 5), (14, 31)]:
            assert chebyshev_reach(energy, y, pixel) <= radius


# --- the SPEN's small-input check -------------------------------------------


def test_too_small_input_is_a_one_line_value_error(dp_3):
    with pytest.raises(ValueError) as error:
        dp_3(np.zeros((1, 12, 12, 1), np.float32))
    message = str(error.value)
    assert "\n" not in message
    assert "at least 13 pixels" in message and "(1, 12, 12, 1)" in message
    with pytest.raises(ValueError, match=r"at least 13 .*\(1, 40, 12, 1\)"):
        dp_3.predict(np.zeros((1, 40, 12, 1), np.float32), verbose=0)
    assert dp_3(np.zeros((1, 13, 13, 1), np.float32)).shape == (1, 13, 13, 1)


def test_too_small_input_fails_at_run_time_in_a_relaxed_function(dp_3):
    forward = tf.function(
        dp_3, input_signature=[tf.TensorSpec((1, None, None, 1))])
    assert forward(tf.zeros((1, 13, 20, 1))).shape == (1, 13, 20, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 13"):
        forward(tf.zeros((1, 20, 12, 1)))


def test_denoise_depth_refuses_a_too_small_frame(dp_3):
    from spen_keras.denoising import DenoisingError, denoise_depth

    with pytest.raises(DenoisingError, match="12x30 pixels.*13x13"):
        denoise_depth(dp_3, np.full((12, 30), 2000, np.uint16))


# --- margins and windows ------------------------------------------------------


def test_margins_of_the_presets(dp_3, foe_3):
    assert receptive_margin(dp_3) == 3 * 12
    assert receptive_margin(foe_3) == 3 * 6


@pytest.mark.parametrize("length,tile,margin", [
    (200, 128, 36), (260, 128, 36), (1080, 512, 36), (1920, 512, 36),
    (100, 100, 40), (101, 100, 0), (7, 3, 1), (50, 21, 10)])
def test_tile_windows_cover_the_axis_with_full_margins(length, tile, margin):
    windows = tile_windows(length, tile, margin)
    cores = [(a, b) for _, _, a, b in windows]
    assert cores[0][0] == 0 and cores[-1][1] == length
    assert all(b1 == a2 for (_, b1), (a2, _) in zip(cores, cores[1:]))
    for start, stop, core_start, core_stop in windows:
        assert core_stop > core_start
        assert stop - start <= tile
        assert start == max(0, core_start - margin)
        assert stop == min(length, core_stop + margin)
    assert len(windows) == (1 if length <= tile
                            else -(-length // (tile - 2 * margin)))


def test_tile_too_small_for_the_margin_is_refused(dp_3, frame):
    with pytest.raises(TilingError, match="at least 73"):
        predict_tiled(dp_3, frame, tile_size=72)


def test_models_that_cannot_be_tiled_exactly_are_refused(frame):
    early = SPEN(UnrolledMinimizer(
        SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(2, 3)]),
        num_steps=3, step_size=0.1, tolerance=1e-3))
    with pytest.raises(TilingError, match="tolerance"):
        predict_tiled(early, frame, tile_size=64)
    with pytest.raises(TilingError, match="tolerance"):
        predict_tiled(early, frame, tile_size=64, margin=50)
    flat = SPEN(UnrolledMinimizer(
        SumEnergy([QuadraticDataEnergy(), MLPGlobalEnergy((4,))]),
        num_steps=2, step_size=0.1))
    with pytest.raises(TilingError, match="MLPGlobalEnergy has no gradient"):
        receptive_margin(flat)


class ShiftFreeFeatures(keras.layers.Layer):
    """An identity feature network that reports a receptive radius."""

    def __init__(self, radius=None, **kwargs):
        super().__init__(**kwargs)
        self.radius = radius

    def call(self, x):
        return x

    def receptive_radius(self):
        return self.radius


def test_feature_network_radius_is_added_or_required():
    def spen(features):
        return SPEN(UnrolledMinimizer(
            SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(2, 5)]),
            num_steps=3, step_size=0.1), feature_network=features)

    assert receptive_margin(spen(ShiftFreeFeatures(radius=2))) == 3 * 4 + 2
    with pytest.raises(TilingError, match="receptive_radius"):
        receptive_margin(spen(ShiftFreeFeatures(radius=None)))
    with pytest.raises(TilingError, match="feature network Identity"):
        receptive_margin(spen(keras.layers.Identity()))


# --- exactness -----------------------------------------------------------------


@pytest.mark.parametrize("preset", ["dp_3", "foe_3"])
def test_tiled_equals_whole_frame_for_presets(preset, frame, request):
    model = request.getfixturevalue(preset)
    margin = receptive_margin(model)
    assert len(tile_windows(200, 128, margin)) > 1
    assert len(tile_windows(260, 128, margin)) > 1
    whole = model(frame).numpy()
    tiled = predict_tiled(model, frame, tile_size=128)
    assert tiled.shape == whole.shape
    assert np.abs(tiled - whole).max() <= 1e-5


def test_foe_margin_one_pixel_short_is_visibly_wrong(foe_3, frame):
    whole = foe_3(frame).numpy()
    short = predict_tiled(foe_3, frame, tile_size=128,
                          margin=receptive_margin(foe_3) - 1)
    # Measured 3.6e-6 with the equal-effort foe_3, 60x float32 rounding at
    # these depths (~6e-8).
    assert np.abs(short - whole).max() > 1e-6


def as_float64(model):
    """The same SPEN, weights included, computing in float64."""
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(
        model)).replace('"float32"', '"float64"'))
    copy = keras.saving.deserialize_keras_object(config)
    copy.build((None, None, None, 1))
    copy.set_weights([w.astype(np.float64) for w in model.get_weights()])
    return copy


def test_dp_3_margin_is_tight_in_float64(dp_3):
    """The trained dp_3 couples pixels 36 apart only weakly: a margin of 35
    is off by ~4e-15 (the equal-effort preset; 3e-11 before), far below
    float32 rounding, so in float32 it passes the 1e-5 test too. Tightness
    is therefore shown in float64, where rounding is ~1e-16."""
    model = as_float64(dp_3)
    x = np.random.default_rng(0).uniform(0.2, 0.8, (1, 80, 150, 1))
    whole = model(x).numpy()
    margin = receptive_margin(model)
    assert len(tile_windows(150, 130, margin)) == 3
    exact = predict_tiled(model, x, tile_size=(80, 130), margin=margin)
    short = predict_tiled(model, x, tile_size=(80, 130), margin=margin - 1)
    exact_error = np.abs(exact - whole).max()
    assert exact_error < 1e-14  # measured 1.1e-16
    # measured 4.4e-15: 40x the exact tiling's rounding
    assert np.abs(short - whole).max() > max(1e-15, 10 * exact_error)


@pytest.mark.parametrize("padding", PADDINGS)
def test_tiling_is_exact_and_tight_for_every_padding(padding):
    """Tile edges inside the image pad differently from the whole image
    ("reflect", "zero"); the margin still absorbs it."""
    model = small_spen(padding)
    x = np.random.default_rng(1).uniform(0, 1, (2, 60, 70, 1)).astype(
        np.float32)
    whole = model(x).numpy()
    margin = receptive_margin(model)
    assert margin == 2 * 6
    exact = predict_tiled(model, x, tile_size=40)
    short = predict_tiled(model, x, tile_size=40, margin=margin - 1)
    assert np.abs(exact - whole).max() <= 1e-5
    assert np.abs(short - whole).max() > 1e-5


# --- denoise_depth -------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_frame():
    from spen_keras.denoising import load_frames

    return load_frames("test")[0]["raw"][100:300, 150:410].copy()  # 200x260


def test_denoise_depth_tiles_large_frames_exactly(dp_3, raw_frame,
                                                  monkeypatch):
    from spen_keras.denoising import denoise as denoise_module

    calls = []
    original = denoise_module.predict_tiled

    def spy(*args, **kwargs):
        calls.append(kwargs["tile_size"])
        return original(*args, **kwargs)

    monkeypatch.setattr(denoise_module, "predict_tiled", spy)
    whole = denoise_module.denoise_depth(dp_3, raw_frame,
                                         max_untiled_pixels=200 * 260)
    assert calls == []  # at the threshold: the whole-frame path
    tiled = denoise_module.denoise_depth(dp_3, raw_frame, tile_size=128,
                                         max_untiled_pixels=200 * 260 - 1)
    assert calls == [128]
    # 1e-5 on normalised depth is 0.05 mm: at most a rounding flip.
    assert np.abs(tiled.astype(int) - whole).max() <= 1
    assert (tiled == whole).mean() > 0.999
    monkeypatch.setattr(denoise_module, "predict_frames",
                        lambda *a, **k: pytest.fail("not tiled"))
    denoise_module.denoise_depth(dp_3, raw_frame[:, :100],
                                 max_untiled_pixels=0)
    assert calls == [128, DEFAULT_TILE_SIZE]


def test_denoise_depth_leaves_other_models_whole(raw_frame, monkeypatch):
    from spen_keras.denoising import denoise as denoise_module

    monkeypatch.setattr(denoise_module, "predict_tiled",
                        lambda *a, **k: pytest.fail("tiled"))
    identity = lambda x: x  # noqa: E731  (a numpy denoiser)
    out = denoise_module.denoise_depth(identity, raw_frame,
                                       max_untiled_pixels=0)
    assert out.shape == raw_frame.shape
    early = SPEN(UnrolledMinimizer(
        SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(2, 3)]),
        num_steps=2, step_size=1e-4, tolerance=1e-3))
    out = denoise_module.denoise_depth(early, raw_frame[:40, :40],
                                       max_untiled_pixels=0)
    assert out.shape == (40, 40)


# --- the compiled forward pass shared by tiles and whole frames ------------


def test_compiled_forward_traces_once_for_every_size_and_frees_the_model():
    """Tiles of several sizes and whole frames (`predict_frames`) share one
    trace per channel count and dtype, which does not keep the model
    alive."""
    import gc
    import weakref

    from spen_keras.core import tiled_inference
    from spen_keras.denoising.denoising_task import predict_frames

    model = small_spen("reflect")
    rng = np.random.default_rng(3)
    frames = rng.uniform(0.2, 0.8, (2, 40, 52, 1)).astype(np.float32)
    eager = model(frames).numpy()  # built outside the trace
    tiled = predict_tiled(model, frames, tile_size=32)  # margin 12
    whole, _ = predict_frames(model, frames)
    np.testing.assert_allclose(tiled, eager, atol=1e-5)
    np.testing.assert_allclose(whole, eager, atol=1e-5)
    traced = tiled_inference._COMPILED[model]
    assert list(traced) == [(False, 1, "float32")]
    assert traced[(False, 1, "float32")].experimental_get_tracing_count() == 1
    ref = weakref.ref(model)
    del model, traced
    gc.collect()
    assert ref() is None
