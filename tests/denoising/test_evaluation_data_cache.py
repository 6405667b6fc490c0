"""The cache of `zoo reproduce table1 --data-dir DIR`'s built data.

A cache is keyed by the folder and its content and written atomically, so
no folder ever evaluates another folder's (or an older version's) frames;
and tests keep it in a temporary folder, not the user's cache.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from spen_keras.datasets.seven_scenes import Builder
from spen_keras.datasets.seven_scenes import SevenScenesDataError
from spen_keras.datasets.seven_scenes import make_dummy_data
from spen_keras.datasets.seven_scenes import official_config
from spen_keras.datasets.seven_scenes import proximalnet_pairs
from spen_keras.denoising import evaluation_data
from spen_keras.denoising.evaluation_data import load_evaluation_data

DUMMY = make_dummy_data.HERE / "dummy_data"
VAL_NOISY = "proximalnet/noisy/stairs-seq-01-frame-000002.bin"


def _pairs_folder(folder, extra_val_pairs=0):
    """A ProximalNet folder copied from dummy_data; `extra_val_pairs` more
    validation pairs (copies of the training pairs) make it differ."""
    folder.mkdir(parents=True)
    for name in ("train.lst", "val.lst"):
        shutil.copy(DUMMY / name, folder / name)
    shutil.copytree(DUMMY / "proximalnet", folder / "proximalnet")
    train = (folder / "train.lst").read_text().splitlines()
    with open(folder / "val.lst", "a") as val:
        for line in train[:extra_val_pairs]:
            val.write(line + "\n")
    return folder


def _rewrite_noisy(folder, offset):
    """Changes the validation pair's noisy values (same size); returns the
    new file's decoded values."""
    path = folder / VAL_NOISY
    depth = proximalnet_pairs.decode_int16_depth(path.read_bytes(), "x")
    changed = np.where(depth > 0, depth + offset, 0).astype(np.int16)
    stat = path.stat()
    path.write_bytes(proximalnet_pairs.encode_int16_depth(changed))
    # A later mtime even where the clock is coarse.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    return changed


def _caches():
    root = evaluation_data.cache_dir() / "tfds"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.fixture
def own_cache(monkeypatch, tmp_path):
    """A cache of this test's own, so that its folders can be counted."""
    monkeypatch.setenv(evaluation_data.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def builds(monkeypatch):
    """Counts the builder's download_and_prepare calls (real builds)."""
    calls = []
    real = Builder.download_and_prepare

    def counted(self, **kwargs):
        calls.append(self.data_dir)
        return real(self, **kwargs)

    monkeypatch.setattr(Builder, "download_and_prepare", counted)
    return calls


def test_tests_use_a_temporary_cache(isolated_cache_dir):
    assert os.environ[evaluation_data.CACHE_DIR_ENV] == str(
        isolated_cache_dir)
    assert evaluation_data.cache_dir() == isolated_cache_dir
    home = pathlib.Path.home()
    for name in ("SPEN_KERAS_CACHE_DIR", "TFDS_DATA_DIR", "KERAS_HOME",
                 "MPLCONFIGDIR"):
        assert home not in pathlib.Path(os.environ[name]).parents, name
    import tensorflow_datasets as tfds
    from keras.src.backend import config as keras_config

    assert home not in pathlib.Path(keras_config.keras_home()).parents
    assert pathlib.Path(tfds.core.constants.DATA_DIR) == pathlib.Path(
        os.environ["TFDS_DATA_DIR"])


def test_default_cache_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv(evaluation_data.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert evaluation_data.cache_dir() == tmp_path / "xdg" / "spen_keras"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert evaluation_data.cache_dir() == (
        tmp_path / "home" / ".cache" / "spen_keras")


def test_another_folder_never_evaluates_a_cached_folder(tmp_path, builds,
                                                         own_cache):
    first = _pairs_folder(tmp_path / "first")
    x1, _, label1 = load_evaluation_data(first)
    assert x1.shape[0] == 1 and str(first) in label1
    # What was seen: n = 1 from the first folder's cache for a folder of 2.
    second = _pairs_folder(tmp_path / "second", extra_val_pairs=1)
    x2, _, label2 = load_evaluation_data(second)
    assert x2.shape[0] == 2 and str(second) in label2
    # A corrupt folder fails; it does not fall back on any cache.
    corrupt = _pairs_folder(tmp_path / "corrupt")
    (corrupt / VAL_NOISY).write_bytes(b"\0" * 7)
    with pytest.raises(SevenScenesDataError, match=VAL_NOISY):
        load_evaluation_data(corrupt)
    assert len(builds) == 3
    assert len(_caches()) == 2  # the failed build left nothing


def test_same_content_reuses_and_changed_content_rebuilds(tmp_path, builds):
    folder = _pairs_folder(tmp_path / "pairs")
    before, _, _ = load_evaluation_data(folder)
    again, _, _ = load_evaluation_data(folder)
    np.testing.assert_array_equal(before, again)
    assert len(builds) == 1
    changed = _rewrite_noisy(folder, 200)
    after, _, _ = load_evaluation_data(folder)
    assert len(builds) == 2
    assert not np.array_equal(before, after)
    np.testing.assert_allclose(after[0, ..., 0][changed > 0],
                               changed[changed > 0] / 5000, rtol=1e-6)


def test_key_covers_folder_content_builder_and_config(tmp_path, monkeypatch):
    folder = _pairs_folder(tmp_path / "pairs").resolve()
    pairs = Builder.builder_configs["proximalnet"]
    key = evaluation_data.cache_key(pairs, folder)
    assert key == evaluation_data.cache_key(pairs, folder)
    assert key.startswith("proximalnet-")
    copy = _pairs_folder(tmp_path / "copy").resolve()
    assert evaluation_data.cache_key(pairs, copy) != key
    (folder / "proximalnet" / "unrelated.txt").write_text("x")
    assert evaluation_data.cache_key(pairs, folder) == key  # not read
    (folder / "train.lst").write_text("_ a b\n")
    assert evaluation_data.cache_key(pairs, folder) != key
    scene = tmp_path / "scene"
    scene.mkdir()
    shutil.copy(DUMMY / "stairs.zip", scene)
    stairs = official_config(["stairs"])
    scene_key = evaluation_data.cache_key(stairs, scene)
    monkeypatch.setattr(Builder, "VERSION", "9.9.9")
    assert evaluation_data.cache_key(stairs, scene) != scene_key


def test_an_interrupted_build_is_never_reused(tmp_path, monkeypatch,
                                              own_cache):
    folder = _pairs_folder(tmp_path / "pairs")
    real = Builder.download_and_prepare

    def interrupted(self, **kwargs):
        real(self, **kwargs)  # the data is all there...
        raise KeyboardInterrupt  # ...but the cache was not completed

    monkeypatch.setattr(Builder, "download_and_prepare", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_evaluation_data(folder)
    assert _caches() == []
    monkeypatch.setattr(Builder, "download_and_prepare", real)
    # Leftovers of a killed build (its process is gone) and a folder at the
    # final name without a completion record: neither is used, both go.
    key = evaluation_data.cache_key(Builder.builder_configs["proximalnet"],
                                    folder.resolve())
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    root = evaluation_data.cache_dir() / "tfds"
    killed = root / (evaluation_data._partial_prefix(key).replace(
        f"@{os.getpid()}-", f"@{ended.pid}-") + "abc")
    killed.mkdir(parents=True)
    (root / key / "seven_scenes").mkdir(parents=True)
    x, y, _ = load_evaluation_data(folder)
    assert x.shape == y.shape == (1, 48, 64, 1)
    assert _caches() == [key]
    assert (root / key / evaluation_data._COMPLETE).is_file()


def test_a_folder_changed_during_the_build_is_not_cached(
        tmp_path, monkeypatch, own_cache):
    folder = _pairs_folder(tmp_path / "pairs")
    real = Builder.download_and_prepare

    def meanwhile(self, **kwargs):
        real(self, **kwargs)
        _rewrite_noisy(folder, 100)  # e.g. a copy still in progress

    monkeypatch.setattr(Builder, "download_and_prepare", meanwhile)
    with pytest.raises(SevenScenesDataError, match="changed while it was "
                       "being read") as info:
        load_evaluation_data(folder)
    assert str(folder.resolve()) in str(info.value)
    assert "\n" not in str(info.value)
    assert _caches() == []
