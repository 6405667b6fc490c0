"""Tests for 7-Scenes frame loading and the denoising tf.data pipeline."""

import shutil
import zipfile

import numpy as np
import pytest

from spen_keras.datasets.seven_scenes import make_dummy_data
from spen_keras.denoising import KinectNoiseModel
from spen_keras.denoising import embedded_frames_dir
from spen_keras.denoising import load_frames
from spen_keras.denoising import make_evaluation_arrays
from spen_keras.denoising import make_training_dataset
from spen_keras.denoising import normalize_depth
from spen_keras.denoising import read_depth_png
from spen_keras.denoising import read_split
from spen_keras.denoising import valid_mask
from spen_keras.denoising.psnr import psnr


@pytest.fixture(scope="module")
def train_frames():
    return load_frames("train")


@pytest.fixture(scope="module")
def test_frames():
    return load_frames("test")


@pytest.fixture(scope="module")
def eval_arrays(test_frames):
    return make_evaluation_arrays(test_frames)


def take(dataset, batches):
    return [(x.numpy(), y.numpy()) for x, y in dataset.take(batches)]


def test_load_frames_follows_split_files(train_frames, test_frames):
    assert [(f["sequence"], f["frame"]) for f in train_frames] == [
        (s, k) for s in (2, 3) for k in range(3)
    ]
    assert sorted({f["sequence"] for f in test_frames}) == [1, 4]
    frame = train_frames[0]
    path = embedded_frames_dir() / "seq-02" / "frame-000000.depth.png"
    np.testing.assert_array_equal(frame["raw"], read_depth_png(path))
    depth = frame["depth"]
    np.testing.assert_array_equal(depth, normalize_depth(frame["raw"]))
    assert depth.dtype == np.float32 and depth.shape == (480, 640)
    assert frame["mask"].dtype == bool
    assert np.all(frame["depth"][~frame["mask"]] == 0)
    assert frame["pose"].dtype == np.float64 and frame["pose"].shape == (4, 4)
    np.testing.assert_allclose(frame["pose"][3], [0, 0, 0, 1])
    assert frame["pose"][0, 0] == pytest.approx(
        float(np.loadtxt(path.parent / "frame-000000.pose.txt")[0, 0])
    )


FRAME_KEYS = ["raw", "depth", "mask", "sequence", "frame", "pose"]
DUMMY_STAIRS_ZIP = make_dummy_data.HERE / "dummy_data" / "stairs.zip"


def test_load_frames_equal_the_embedded_files(train_frames, test_frames):
    for frames, sequences in ((train_frames, (2, 3)), (test_frames, (1, 4))):
        assert [(f["sequence"], f["frame"]) for f in frames] == [
            (s, k) for s in sequences for k in range(3)
        ]
        for frame in frames:
            assert list(frame) == FRAME_KEYS
            assert type(frame["sequence"]) is int
            assert type(frame["frame"]) is int
            stem = (embedded_frames_dir() / f"seq-{frame['sequence']:02d}"
                    / f"frame-{frame['frame']:06d}")
            raw = read_depth_png(f"{stem}.depth.png")
            assert frame["raw"].dtype == np.uint16
            np.testing.assert_array_equal(frame["raw"], raw)
            assert frame["depth"].dtype == np.float32
            np.testing.assert_array_equal(frame["depth"], normalize_depth(raw))
            assert frame["mask"].dtype == bool
            np.testing.assert_array_equal(frame["mask"], valid_mask(raw))
            assert frame["pose"].dtype == np.float64
            np.testing.assert_array_equal(
                frame["pose"], np.loadtxt(f"{stem}.pose.txt"))


def scene_folder_of_sequence_zips(tmp_path):
    with zipfile.ZipFile(DUMMY_STAIRS_ZIP) as archive:
        archive.extractall(tmp_path)
    return tmp_path / "stairs"


@pytest.mark.parametrize(
    "scene",
    [lambda tmp_path: DUMMY_STAIRS_ZIP, lambda tmp_path: str(DUMMY_STAIRS_ZIP),
     scene_folder_of_sequence_zips],
    ids=["stairs.zip", "str", "folder-of-seq-zips"],
)
def test_load_frames_reads_the_scene_archive_like_the_folder(
    tmp_path, train_frames, test_frames, scene
):
    root = scene(tmp_path)
    assert read_split("train", root) == [2, 3]
    assert read_split("test", root=root) == [1, 4]
    for split, expected in (("train", train_frames), ("test", test_frames)):
        frames = load_frames(split, root=root)
        assert len(frames) == len(expected) == 6
        for got, want in zip(frames, expected):
            assert list(got) == FRAME_KEYS
            for key in FRAME_KEYS:
                value, expected_value = got[key], want[key]
                assert type(value) is type(expected_value)
                assert (np.asarray(value).dtype
                        == np.asarray(expected_value).dtype)
                np.testing.assert_array_equal(value, expected_value)


def test_read_split_follows_the_embedded_split_files():
    assert read_split("train") == [2, 3]
    assert read_split("test") == [1, 4]


def copy_sequence(root, sequence, split_text, split_file="TrainSplit.txt"):
    source = embedded_frames_dir() / "seq-01"
    target = root / f"seq-{sequence:02d}"
    target.mkdir(parents=True)
    for name in ("frame-000000.depth.png", "frame-000000.pose.txt"):
        shutil.copy(source / name, target / name)
    (root / split_file).write_bytes(split_text)
    return target


@pytest.mark.parametrize(
    "text",
    [b"sequence7\r\n\r\n", b"sequence7\n", b"Sequence7", b" sequence7 \r\n"],
)
def test_split_parsing_tolerates_line_endings(tmp_path, text):
    copy_sequence(tmp_path, 7, text)
    frames = load_frames("train", root=tmp_path)
    assert [(f["sequence"], f["frame"]) for f in frames] == [(7, 0)]


def test_missing_files_name_the_expected_paths(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_frames("train", root=tmp_path)
    assert str(tmp_path / "TrainSplit.txt") in str(info.value)
    with pytest.raises(FileNotFoundError) as info:
        read_split("train", root=tmp_path)
    assert str(tmp_path / "TrainSplit.txt") in str(info.value)
    (tmp_path / "TestSplit.txt").write_bytes(b"sequence5\r\n")
    with pytest.raises(FileNotFoundError) as info:
        load_frames("test", root=tmp_path)
    for expected in (tmp_path / "seq-05" / "frame-000000.depth.png",
                     tmp_path / "seq-05" / "frame-000000.pose.txt",
                     tmp_path / "seq-05.zip"):
        assert str(expected) in str(info.value)
    target = copy_sequence(tmp_path / "other", 2, b"sequence2\r\n")
    (target / "frame-000000.pose.txt").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_frames("train", root=tmp_path / "other")
    assert str(target / "frame-000000.pose.txt") in str(info.value)
    assert str(target / "frame-000000.depth.png") in str(info.value)
    missing = tmp_path / "no-such-scene"
    with pytest.raises(FileNotFoundError) as info:
        load_frames("train", root=missing)
    assert str(missing) in str(info.value)


def test_missing_archive_members_name_the_expected_members(tmp_path):
    archive = tmp_path / "stairs.zip"
    with zipfile.ZipFile(DUMMY_STAIRS_ZIP) as src, zipfile.ZipFile(
        archive, "w"
    ) as dst:
        for name in src.namelist():
            if name not in ("stairs/seq-03.zip", "stairs/TestSplit.txt"):
                dst.writestr(name, src.read(name))
    with pytest.raises(FileNotFoundError) as info:
        load_frames("train", root=archive)
    assert f"{archive} has neither stairs/seq-03.zip" in str(info.value)
    with pytest.raises(FileNotFoundError) as info:
        read_split("test", root=archive)
    assert f"{archive} has no member stairs/TestSplit.txt" in str(info.value)


def test_bad_split_arguments_raise(tmp_path):
    valid = r"split must be one of \['test', 'train'\], got 'validation'"
    with pytest.raises(ValueError, match=valid):
        load_frames("validation")
    with pytest.raises(ValueError, match=valid):
        read_split("validation", root=DUMMY_STAIRS_ZIP)
    # The split name is checked before the scene is looked for.
    with pytest.raises(ValueError, match=valid):
        load_frames("validation", root=tmp_path / "no-such-scene")
    copy_sequence(tmp_path, 1, b"seq1\r\n")
    with pytest.raises(ValueError, match="sequenceN") as info:
        load_frames("train", root=tmp_path)
    assert str(tmp_path / "TrainSplit.txt") in str(info.value)


def test_training_batches_shapes_and_no_holes(train_frames):
    dataset = make_training_dataset(train_frames, batch_size=4)
    assert tuple(dataset.element_spec[0].shape) == (4, 96, 128, 1)
    for x, y in take(dataset, 3):
        assert x.shape == y.shape == (4, 96, 128, 1)
        assert x.dtype == y.dtype == np.float32
        assert np.all(x > 0), "x must be filled: no holes"
        assert np.all(y >= 0)


def full_frame_stream(frames, **kwargs):
    return make_training_dataset(frames, crop_size=(480, 640), **kwargs)


def test_targets_are_zero_exactly_where_raw_is_invalid(train_frames):
    dataset = full_frame_stream(
        train_frames, batch_size=6, flips=False, crops_per_frame=2
    )
    seen = []
    for x, y in take(dataset, 2):
        for xi, yi in zip(x[..., 0], y[..., 0]):
            matches = [
                i for i, f in enumerate(train_frames)
                if np.array_equal(yi, f["depth"])
            ]
            assert len(matches) == 1
            frame = train_frames[matches[0]]
            raw_invalid = (frame["raw"] == 0) | (frame["raw"] == 65535)
            np.testing.assert_array_equal(yi == 0, raw_invalid)
            assert np.all(xi > 0)
            assert not np.array_equal(xi[~raw_invalid], yi[~raw_invalid])
            seen.append(matches[0])
    # One pass visits each of the 6 frames crops_per_frame = 2 times.
    assert sorted(seen) == sorted(list(range(6)) * 2)


def test_flips_produce_flipped_frames(train_frames):
    frames = train_frames[:1]
    depth = frames[0]["depth"]
    variants = {
        "none": depth, "lr": depth[:, ::-1], "ud": depth[::-1],
        "both": depth[::-1, ::-1],
    }
    kinds = set()
    for _, y in take(full_frame_stream(frames, batch_size=4, seed=5), 4):
        for yi in y[..., 0]:
            kind = [k for k, v in variants.items() if np.array_equal(yi, v)]
            assert len(kind) == 1
            kinds.add(kind[0])
    assert len(kinds) >= 3


def test_training_stream_is_deterministic_per_seed(train_frames):
    first = take(make_training_dataset(train_frames, seed=3), 3)
    again = take(make_training_dataset(train_frames, seed=3), 3)
    other = take(make_training_dataset(train_frames, seed=4), 3)
    for (x1, y1), (x2, y2) in zip(first, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(first[0][0], other[0][0])


def test_a_shard_holds_its_rows_of_every_global_batch(train_frames):
    """What each worker of a distributed run builds: only its rows, the very
    crops of the unsharded stream."""
    whole = take(make_training_dataset(train_frames, batch_size=6, seed=2), 3)
    for first_row, rows in [(0, 3), (3, 3), (2, 2), (5, 1)]:
        shard = take(make_training_dataset(train_frames, batch_size=6, seed=2,
                                           shard=(first_row, rows)), 3)
        for (x, y), (xs, ys) in zip(whole, shard):
            assert xs.shape[0] == rows
            np.testing.assert_array_equal(xs, x[first_row:first_row + rows])
            np.testing.assert_array_equal(ys, y[first_row:first_row + rows])
    with pytest.raises(ValueError, match="not a .first_row, rows. range"):
        make_training_dataset(train_frames, batch_size=6, shard=(4, 3))


def test_invalid_crop_size_raises(train_frames):
    with pytest.raises(ValueError, match="crop_size"):
        make_training_dataset(train_frames, crop_size=(481, 128))


def test_evaluation_arrays(test_frames, eval_arrays):
    x, y = eval_arrays
    assert x.shape == y.shape == (6, 480, 640, 1)
    assert x.dtype == y.dtype == np.float32
    assert np.all(x > 0)
    for frame, yi in zip(test_frames, y[..., 0]):
        raw_invalid = (frame["raw"] == 0) | (frame["raw"] == 65535)
        np.testing.assert_array_equal(yi == 0, raw_invalid)
        valid = ~raw_invalid
        np.testing.assert_array_equal(yi[valid], frame["depth"][valid])
    noisy_psnr = np.asarray(psnr(y, x))
    assert 28.0 <= noisy_psnr.mean() <= 30.0
    assert noisy_psnr.mean() == pytest.approx(29.03, abs=0.05)


def test_evaluation_noise_depends_only_on_seed_and_frame(
    test_frames, eval_arrays
):
    x, _ = eval_arrays
    alone, _ = make_evaluation_arrays(test_frames[4:5])
    np.testing.assert_array_equal(alone[0], x[4])
    other_seed, _ = make_evaluation_arrays(test_frames[4:5], seed=1)
    assert not np.array_equal(other_seed[0], x[4])
    clean, _ = make_evaluation_arrays(
        test_frames[:1], noise=KinectNoiseModel(scale=0.0, dropout_rate=0.0)
    )
    frame = test_frames[0]
    mask = frame["mask"]
    np.testing.assert_array_equal(clean[0, ..., 0][mask], frame["depth"][mask])
