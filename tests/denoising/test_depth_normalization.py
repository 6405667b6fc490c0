"""Tests for depth normalisation, validity masks and hole filling."""

import numpy as np
import pytest

from spen_keras.denoising import DEPTH_SCALE_MM
from spen_keras.denoising import INVALID_DEPTH_VALUES
from spen_keras.denoising import denormalize_depth
from spen_keras.denoising import embedded_frames_dir
from spen_keras.denoising import fill_invalid
from spen_keras.denoising import normalize_depth
from spen_keras.denoising import read_depth_png
from spen_keras.denoising import valid_mask


@pytest.fixture(scope="module")
def real_raw():
    path = embedded_frames_dir() / "seq-02" / "frame-000000.depth.png"
    return read_depth_png(path)


def test_constants():
    assert DEPTH_SCALE_MM == 5000.0
    assert INVALID_DEPTH_VALUES == (0, 65535)


def test_normalize_values_and_invalid_pixels_are_zero():
    raw = np.array([[0, 2500, 5000], [65535, 1, 65534]], np.uint16)
    depth = normalize_depth(raw)
    assert depth.dtype == np.float32
    expected = np.array([[0.0, 0.5, 1.0], [0.0, 0.0002, 13.1068]], np.float32)
    np.testing.assert_allclose(depth, expected, rtol=1e-6)
    assert depth[0, 0] == 0.0 and depth[1, 0] == 0.0
    np.testing.assert_array_equal(
        valid_mask(raw), [[False, True, True], [False, True, True]]
    )


def test_normalize_rejects_float_input():
    with pytest.raises(TypeError, match="uint16"):
        normalize_depth(np.ones((2, 2), np.float32))


def test_real_frame_valid_depth_positive_invalid_zero(real_raw):
    mask = valid_mask(real_raw)
    depth = normalize_depth(real_raw)
    # This frame has both kinds of invalid code.
    assert (real_raw == 0).any() and (real_raw == 65535).any()
    assert np.all(depth[mask] > 0)
    assert np.all(depth[~mask] == 0.0)
    np.testing.assert_allclose(depth[mask], real_raw[mask] / 5000.0, rtol=1e-6)


def test_denormalize_round_trip_on_real_frame(real_raw):
    mask = valid_mask(real_raw)
    restored = denormalize_depth(normalize_depth(real_raw), mask)
    assert restored.dtype == np.uint16
    np.testing.assert_array_equal(restored, np.where(mask, real_raw, 0))


def test_denormalize_rounds_and_clips_valid_pixels():
    y = np.array([0.0, 0.50011, 20.0, -1.0, 0.3], np.float32)
    mask = np.array([True, True, True, True, False])
    np.testing.assert_array_equal(
        denormalize_depth(y, mask), [1, 2501, 65534, 1, 0]
    )


def test_fill_invalid_closed_form_row():
    depth = np.array([[0.3, 0.0, 0.0, 0.7]], np.float32)
    mask = depth > 0
    np.testing.assert_array_equal(
        fill_invalid(depth, mask),
        np.array([[0.3, 0.3, 0.7, 0.7]], np.float32),
    )


def test_fill_invalid_closed_form_grid():
    # Two valid pixels; each hole takes the one at the smaller Euclidean
    # distance (no ties in this layout).
    depth = np.zeros((3, 4), np.float32)
    depth[0, 0], depth[2, 3] = 0.1, 0.9
    expected = np.array(
        [[0.1, 0.1, 0.1, 0.9], [0.1, 0.1, 0.9, 0.9], [0.1, 0.9, 0.9, 0.9]],
        np.float32,
    )
    filled = fill_invalid(depth, depth > 0)
    assert filled.dtype == np.float32
    np.testing.assert_array_equal(filled, expected)


def test_fill_invalid_keeps_channel_axis():
    depth = np.zeros((3, 4, 1), np.float32)
    depth[0, 0, 0], depth[2, 3, 0] = 0.1, 0.9
    for mask in (depth > 0, depth[..., 0] > 0):
        filled = fill_invalid(depth, mask)
        assert filled.shape == (3, 4, 1)
        assert filled[2, 0, 0] == pytest.approx(0.1)
        assert filled[1, 3, 0] == pytest.approx(0.9)


def test_fill_invalid_real_frame_keeps_valid_pixels(real_raw):
    mask = valid_mask(real_raw)
    depth = normalize_depth(real_raw)
    filled = fill_invalid(depth, mask)
    np.testing.assert_array_equal(filled[mask], depth[mask])
    assert np.all(filled > 0)
    assert set(np.unique(filled)) <= set(np.unique(depth[mask]))


def test_fill_invalid_all_invalid_raises():
    with pytest.raises(ValueError, match="no valid pixel"):
        fill_invalid(np.zeros((4, 4), np.float32), np.zeros((4, 4), bool))


def test_fill_invalid_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        fill_invalid(np.ones((4, 4), np.float32), np.ones((4, 5), bool))
    with pytest.raises(ValueError, match="shape"):
        fill_invalid(np.ones((4, 4, 3), np.float32), np.ones((4, 4), bool))
