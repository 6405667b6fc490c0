"""The denoising training stream without TensorFlow (an `IndexedStream`):
what `make_training_dataset` returns when TensorFlow is not installed (here
forced by patching `tensorflow_installed`), and `fit_resumably` consuming
such a stream batch after batch across epochs, as it consumes `tf.data`
streams."""

import keras
import numpy as np
import pytest

from spen_keras.denoising import denoising_pipeline
from spen_keras.denoising import load_frames
from spen_keras.denoising.augmentation import Augmentation
from spen_keras.presets.training import fit_resumably


@pytest.fixture
def without_tensorflow(monkeypatch):
    monkeypatch.setattr(denoising_pipeline, "tensorflow_installed",
                        lambda: False)


@pytest.fixture(scope="module")
def frames():
    return load_frames("train")[:3]


def stream(frames, **options):
    return denoising_pipeline.make_training_dataset(
        frames, crop_size=(32, 48), **{"batch_size": 4, "seed": 3,
                                       **options})


def windows_of(frame, crop, flips):
    """The windows of the frame's clean target that equal the crop, flipped
    as the stream may flip it (a window flipped equals the crop when the
    window equals the crop flipped back): candidates are the positions of
    the crop's corner pixel."""
    clean = np.where(frame["mask"], frame["depth"], 0.0).astype(np.float32)
    h, w = crop.shape[:2]
    corners = clean[:clean.shape[0] - h + 1, :clean.shape[1] - w + 1]
    found = []
    for target in ((crop, crop[:, ::-1], crop[::-1], crop[::-1, ::-1])
                   if flips else (crop,)):
        for top, left in np.argwhere(corners == target[0, 0]):
            if np.array_equal(clean[top:top + h, left:left + w], target):
                found.append((int(top), int(left)))
    return found


def test_the_stream_is_numpy_deterministic_and_skips_exactly(
        without_tensorflow, frames):
    data = stream(frames)
    assert isinstance(data, denoising_pipeline.IndexedStream)
    x, y = data[0]
    assert x.shape == y.shape == (4, 32, 48, 1)
    assert x.dtype == y.dtype == np.float32
    assert (x > 0).all()  # noisy inputs are filled: no holes
    again = stream(frames)
    for k in (0, 5):
        assert all(np.array_equal(a, b) for a, b in zip(data[k], again[k]))
    skipped = data.skip(3)
    assert all(np.array_equal(a, b) for a, b in zip(skipped[2], data[5]))
    other_seed = stream(frames, seed=4)
    assert not np.array_equal(other_seed[0][1], y)
    # A shard is its rows of the very same global batches.
    shard = stream(frames, shard=(1, 2))
    assert np.array_equal(shard[2][1], data[2][1][1:3])


def test_every_crop_is_a_window_of_a_frame_and_passes_visit_frames_evenly(
        without_tensorflow, frames):
    data = stream(frames, crops_per_frame=4, flips=False)
    per_pass = len(frames) * 4  # 12 elements, 3 batches of 4
    visits = []
    for k in range(per_pass // 4):
        for crop in data[k][1]:
            owners = [i for i, frame in enumerate(frames)
                      if windows_of(frame, crop[..., 0], flips=False)]
            assert owners, "a crop that is no window of any frame"
            visits.append(owners[0])
    assert np.bincount(visits, minlength=len(frames)).tolist() == [4, 4, 4]


def test_flips_and_augmentation_run_in_numpy(without_tensorflow, frames):
    flipped = stream(frames, flips=True)
    crops = np.concatenate([flipped[k][1] for k in range(6)])
    assert all(any(windows_of(frame, crop[..., 0], flips=True)
                   for frame in frames) for crop in crops[:4])
    augmented = stream(frames, augmentation=Augmentation(), batch_size=2)
    x, y = augmented[0]
    assert x.shape == (2, 32, 48, 1) and np.isfinite(x).all()


class _Recording(denoising_pipeline.IndexedStream):
    seen = []

    def __getitem__(self, batch):
        self.seen.append(self.start + batch)
        return super().__getitem__(batch)


def test_fit_resumably_reads_the_numpy_stream_in_order_across_epochs(
        tmp_path):
    """Batch k of the run is batch k of the stream, across epochs (Keras
    keeps one iterator of an endless PyDataset), as with tf.data."""
    def crop_pair(index):
        value = np.full((4, 4, 1), float(index), np.float32)
        return value, value

    model = keras.Sequential([keras.Input((4, 4, 1)),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.0), loss="mse")
    _Recording.seen = []
    data = _Recording(crop_pair, 2)
    fit_resumably(model, lambda done: data.skip(done), 6, tmp_path / "b",
                  {"run": 1}, "test", steps_per_epoch=2, verbose=0)
    # Keras first peeks at the start of the stream (to build), then trains
    # on its batches in order, one epoch after another (and may read one
    # batch ahead).
    start = len(_Recording.seen) - 1 - _Recording.seen[::-1].index(0)
    assert _Recording.seen[start:start + 6] == [0, 1, 2, 3, 4, 5], (
        _Recording.seen)
