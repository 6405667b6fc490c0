"""Tests for training-data augmentation of the depth-denoising stream."""

import json

import numpy as np
import pytest

from spen_keras.denoising import KinectNoiseModel
from spen_keras.denoising import make_training_dataset
from spen_keras.denoising.augmentation import Augmentation
from spen_keras.denoising.augmentation import augment_crop

CROP = (8, 12)
SIDE = max(CROP)
NO_DROPOUT = KinectNoiseModel(dropout_rate=0.0)
# Geometry and depth untouched; noise x1.
PLAIN = dict(depth_scale=(1, 1), depth_offset=(0, 0), rotations=False,
             flips=False, noise_scale=(1, 1))


def synthetic_frames(height=24, width=32, count=3, holes=True):
    """Frames as `load_frames` returns them: a distinct linear ramp per
    frame (every value unique, so a crop's position can be recovered), with
    a few invalid pixels."""
    frames = []
    for k in range(count):
        ramp = np.arange(height * width, dtype=np.float64).reshape(
            height, width)
        depth = (0.2 + 0.1 * k + 1e-4 * ramp).astype(np.float32)
        mask = np.ones((height, width), bool)
        if holes:
            mask[3::5, 2::7] = False
        depth[~mask] = 0
        frames.append({"depth": depth, "mask": mask, "sequence": 1,
                       "frame": k})
    return frames


def constant_frames(value=0.4, height=24, width=32, count=2):
    return [{"depth": np.full((height, width), value, np.float32),
             "mask": np.ones((height, width), bool), "sequence": 1,
             "frame": k} for k in range(count)]


def take(dataset, batches):
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(batches)]


def stream(frames, augmentation=None, **kwargs):
    kwargs.setdefault("crop_size", CROP)
    kwargs.setdefault("batch_size", 4)
    kwargs.setdefault("crops_per_frame", 2)
    return make_training_dataset(
        frames, augmentation=augmentation or Augmentation(), **kwargs)


def crops(dataset, batches):
    """The (x, y) pairs of the first batches, one pair per element."""
    return [(xi[..., 0], yi[..., 0])
            for x, y in take(dataset, batches) for xi, yi in zip(x, y)]


def find_window(y, reference, factor=1.0):
    """The (top, left) of every crop-size window of `reference` that,
    multiplied by `factor`, equals `y`."""
    height, width = y.shape
    return [
        (top, left)
        for top in range(reference.shape[0] - height + 1)
        for left in range(reference.shape[1] - width + 1)
        if np.array_equal(
            y, (reference[top:top + height, left:left + width]
                * np.float64(factor)).astype(np.float32))
    ]


def test_stream_is_deterministic_per_seed():
    frames = synthetic_frames()
    first = take(stream(frames, seed=3), 3)
    again = take(stream(frames, seed=3), 3)
    other = take(stream(frames, seed=4), 3)
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])
    assert not np.array_equal(first[0][1], other[0][1])
    # With one frame the pass order is moot: the seed must reach the draws
    # of every element (region, geometry, depth, noise).
    single = synthetic_frames(count=1)
    first = crops(stream(single, seed=3), 1)
    other = crops(stream(single, seed=4), 1)
    for (x1, y1), (x2, y2) in zip(first, other):
        assert not np.array_equal(x1, x2)
        assert not np.array_equal(y1, y2)
    # ... and differ between the elements of one stream.
    assert len({y.tobytes() for _, y in first}) == len(first)


def test_skip_resumes_the_stream_exactly():
    frames = synthetic_frames()
    whole = take(stream(frames, seed=5, batch_size=2), 4)
    skipped = take(stream(frames, seed=5, batch_size=2).skip(2), 2)
    for (x, y), (xs, ys) in zip(whole[2:], skipped):
        np.testing.assert_array_equal(x, xs)
        np.testing.assert_array_equal(y, ys)


def test_shapes_dtypes_filled_inputs_and_invalid_targets():
    frames = synthetic_frames()
    dataset = stream(frames, batch_size=4)
    assert tuple(dataset.element_spec[0].shape) == (4, *CROP, 1)
    assert tuple(dataset.element_spec[1].shape) == (4, *CROP, 1)
    invalid_seen = 0
    for x, y in take(dataset, 3):
        assert x.shape == y.shape == (4, *CROP, 1)
        assert x.dtype == y.dtype == np.float32
        assert np.all(x > 0), "x must be filled: no holes"
        assert np.all(y >= 0)
        invalid_seen += int(np.sum(y == 0))
    # The frames' holes reach the targets as exact zeros.
    assert invalid_seen > 0


def test_degenerate_ranges_give_twice_the_clean_crop():
    frames = synthetic_frames()
    augmentation = Augmentation(depth_scale=(2, 2), depth_offset=(0, 0),
                                rotations=False, flips=False,
                                noise_scale=(1e-6, 1e-6))
    dataset = stream(frames, augmentation, noise=NO_DROPOUT, batch_size=6)
    matched_frames = []
    for x, y in crops(dataset, 2):
        found = [(k, window) for k, f in enumerate(frames)
                 for window in find_window(y, f["depth"], 2.0)]
        assert len(found) == 1, "y must be 2x one window of one frame"
        k, (top, left) = found[0]
        mask = frames[k]["mask"][top:top + CROP[0], left:left + CROP[1]]
        np.testing.assert_array_equal(y == 0, ~mask)
        np.testing.assert_allclose(x[mask], y[mask], rtol=1e-4)
        assert np.all(x > 0)
        # Region of side max(crop) centre-cropped: rows offset by 2.
        assert top >= (SIDE - CROP[0]) // 2
        matched_frames.append(k)
    # Each pass (3 frames x crops_per_frame 2) visits each frame twice:
    # 12 crops are two passes.
    assert sorted(matched_frames) == [0] * 4 + [1] * 4 + [2] * 4


def test_depth_scale_and_offset_stay_in_their_ranges():
    frames = constant_frames(0.4)
    scaled = Augmentation(**{**PLAIN, "depth_scale": (0.6, 1.7)})
    factors = [y.mean() / 0.4 for _, y in
               crops(stream(frames, scaled, batch_size=8), 4)]
    assert 0.6 - 1e-6 <= min(factors) < 0.8
    assert 1.3 < max(factors) <= 1.7 + 1e-6
    shifted = Augmentation(**{**PLAIN, "depth_offset": (-0.02, 0.06)})
    offsets = [y.mean() - 0.4 for _, y in
               crops(stream(frames, shifted, batch_size=8), 4)]
    assert -0.02 - 1e-6 <= min(offsets) < 0.0
    assert 0.04 < max(offsets) <= 0.06 + 1e-6


def test_offsets_keep_valid_pixels_valid():
    frames = synthetic_frames()
    down = Augmentation(**{**PLAIN, "depth_offset": (-5.0, -5.0)})
    for x, y in crops(stream(frames, down), 2):
        valid = y > 0
        assert valid.any()
        np.testing.assert_allclose(y[valid], 1 / 5000)
        assert np.all(x > 0)


def residual_std(noise_scale):
    frames = constant_frames(0.4, height=48, width=48)
    augmentation = Augmentation(**{**PLAIN, "noise_scale": noise_scale})
    dataset = stream(frames, augmentation, noise=NO_DROPOUT,
                     crop_size=(32, 32), batch_size=8)
    residuals = [x - y for x, y in crops(dataset, 2)]
    return float(np.std(residuals))


def test_noise_level_augmentation_scales_the_residual():
    base, doubled = residual_std((1, 1)), residual_std((2, 2))
    expected = NO_DROPOUT.sigma(0.4)
    assert base == pytest.approx(expected, rel=0.05)
    assert doubled / base == pytest.approx(2.0, rel=0.05)


def geometry_variants(depth, crop_size=CROP):
    """Centre crops of the 8 rotations / flips of a square region."""
    top = (depth.shape[0] - crop_size[0]) // 2
    left = (depth.shape[1] - crop_size[1]) // 2
    window = (slice(top, top + crop_size[0]),
              slice(left, left + crop_size[1]))
    variants = {}
    for k in range(4):
        turned = np.rot90(depth, k)
        variants[f"rot{k}"] = turned[window]
        variants[f"rot{k}-lr"] = turned[:, ::-1][window]
    return variants


def geometry_kinds(augmentation, crop_size):
    frames = synthetic_frames(SIDE, SIDE, count=1, holes=False)
    variants = geometry_variants(frames[0]["depth"], crop_size)
    kinds = []
    dataset = stream(frames, augmentation, crop_size=crop_size, batch_size=8)
    for _, y in crops(dataset, 3):
        kind = [name for name, v in variants.items() if np.array_equal(y, v)]
        assert len(kind) == 1, "y must be one rotation/flip of the frame"
        kinds.append(kind[0])
    return set(kinds)


@pytest.mark.parametrize("crop_size", [(SIDE, SIDE), CROP])
def test_rotations_give_rotated_crops(crop_size):
    rotated = Augmentation(**{**PLAIN, "rotations": True})
    assert geometry_kinds(rotated, crop_size) == {"rot0", "rot1", "rot2",
                                                  "rot3"}
    assert geometry_kinds(Augmentation(**PLAIN), crop_size) == {"rot0"}


def test_flips_come_from_the_augmentation_not_the_argument():
    flipped = Augmentation(**{**PLAIN, "flips": True})
    # lr = rot0-lr, ud = rot2-lr, both = rot2.
    assert geometry_kinds(flipped, CROP) == {"rot0", "rot0-lr", "rot2-lr",
                                             "rot2"}
    frames = synthetic_frames()
    with_flips = take(stream(frames, flipped, flips=True), 2)
    without = take(stream(frames, flipped, flips=False), 2)
    for (x1, y1), (x2, y2) in zip(with_flips, without):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_a_shard_holds_its_rows_of_every_global_batch():
    frames = synthetic_frames()
    whole = take(stream(frames, batch_size=6, seed=2), 3)
    for first_row, rows in [(0, 3), (3, 3), (2, 2), (5, 1)]:
        shard = take(stream(frames, batch_size=6, seed=2,
                            shard=(first_row, rows)), 3)
        for (x, y), (xs, ys) in zip(whole, shard):
            assert xs.shape[0] == rows
            np.testing.assert_array_equal(xs, x[first_row:first_row + rows])
            np.testing.assert_array_equal(ys, y[first_row:first_row + rows])


def test_frames_smaller_than_the_region_raise():
    frames = synthetic_frames(height=10, width=32)
    with pytest.raises(ValueError, match="max.crop_size. = 12"):
        stream(frames, crop_size=(8, 12))
    with pytest.raises(TypeError, match="Augmentation"):
        make_training_dataset(frames, crop_size=(8, 12),
                              augmentation={"flips": True})


def test_augment_crop_directly():
    frame = synthetic_frames(SIDE, SIDE, count=1)[0]
    rng = np.random.default_rng(0)
    x, y = augment_crop(frame["depth"], frame["mask"], rng,
                        KinectNoiseModel(), Augmentation(), CROP)
    assert x.shape == y.shape == CROP
    assert x.dtype == y.dtype == np.float32
    assert np.all(x > 0)
    again = augment_crop(frame["depth"], frame["mask"],
                         np.random.default_rng(0), KinectNoiseModel(),
                         Augmentation(), CROP)
    np.testing.assert_array_equal(again[0], x)
    np.testing.assert_array_equal(again[1], y)
    with pytest.raises(ValueError, match="square region"):
        augment_crop(frame["depth"][:, :-1], frame["mask"][:, :-1], rng,
                     KinectNoiseModel(), Augmentation(), CROP)
    with pytest.raises(ValueError, match="no valid pixel"):
        augment_crop(np.zeros((SIDE, SIDE), np.float32),
                     np.zeros((SIDE, SIDE), bool), rng, KinectNoiseModel(),
                     Augmentation(), CROP)


@pytest.mark.parametrize("field, value", [
    ("depth_scale", (0.0, 1.0)),
    ("depth_scale", (2.0, 1.0)),
    ("depth_scale", (-1.0, 1.0)),
    ("depth_scale", 1.5),
    ("depth_offset", (0.1, -0.1)),
    ("depth_offset", (0.0, float("nan"))),
    ("noise_scale", (0.0, 2.0)),
    ("noise_scale", (3.0, 2.0)),
    ("noise_scale", (1.0, 2.0, 3.0)),
    ("rotations", "yes"),
    ("flips", 1),
])
def test_invalid_arguments_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} "):
        Augmentation(**{field: value})


def test_valid_edge_arguments_are_accepted():
    Augmentation(depth_scale=(1, 1), depth_offset=(-0.5, -0.5),
                 noise_scale=(1e-6, 1e-6))


def test_config_round_trip_and_description():
    augmentation = Augmentation(depth_scale=(0.5, 2), depth_offset=(0, 0.1),
                                rotations=False, flips=True,
                                noise_scale=(1, 3))
    config = augmentation.get_config()
    assert json.loads(json.dumps(config)) == config
    assert Augmentation.from_config(config) == augmentation
    assert Augmentation.from_config(json.loads(json.dumps(config))) == (
        augmentation)
    assert Augmentation.from_config(Augmentation().get_config()) == (
        Augmentation())
    assert Augmentation().describe() == (
        "depth x[0.6, 1.7] log-uniform, offset [-0.02, 0.06], 90-degree "
        "rotations, flips, noise x[0.5, 2] log-uniform")
    assert augmentation.describe() == (
        "depth x[0.5, 2] log-uniform, offset [0, 0.1], no rotations, flips, "
        "noise x[1, 3] log-uniform")
    assert "\n" not in Augmentation(**PLAIN).describe()
