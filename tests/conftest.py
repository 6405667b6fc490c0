"""Shared pytest set-up: quiet TensorFlow, the `large` marker and its flag,
and no writes to the user's home or cache.

Every cache a test run could fill goes to temporary folders, removed at the
end of the session:

- `SPEN_KERAS_CACHE_DIR` (built TFDS data of `--data-dir` evaluations,
  `spen_keras.denoising.evaluation_data`; read when used): set by the
  session fixture `isolated_cache_dir`;
- `TFDS_DATA_DIR` (TFDS's default data_dir, `~/tensorflow_datasets`),
  `KERAS_HOME` (Keras writes `~/.keras/keras.json` when it is imported) and
  `MPLCONFIGDIR` (matplotlib's font cache and config, `~/.cache/matplotlib`
  and `~/.config/matplotlib`): read when those libraries are imported, so
  set in `pytest_configure`, before any test module is collected.

Subprocesses started by tests inherit them.
"""

import os
import pathlib
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

# Read when TFDS / Keras / matplotlib are imported, i.e. at collection.
_IMPORT_TIME_DIRS = {"TFDS_DATA_DIR": "tensorflow_datasets",
                     "KERAS_HOME": "keras", "MPLCONFIGDIR": "matplotlib"}
_saved_environ = {}
_import_time_root = None


def pytest_addoption(parser):
    parser.addoption(
        "--run-large", action="store_true", default=False,
        help="also run tests marked `large` (training runs, big exports)",
    )


def _set_environ(name, value):
    _saved_environ.setdefault(name, os.environ.get(name))
    os.environ[name] = str(value)


def _restore_environ(names):
    for name in names:
        value = _saved_environ.pop(name, None)
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def pytest_configure(config):
    del config
    global _import_time_root
    _import_time_root = pathlib.Path(
        tempfile.mkdtemp(prefix="spen-keras-tests-"))
    for name, folder in _IMPORT_TIME_DIRS.items():
        path = _import_time_root / folder
        path.mkdir()
        _set_environ(name, path)


def pytest_unconfigure(config):
    del config
    _restore_environ(list(_IMPORT_TIME_DIRS))
    if _import_time_root is not None:
        shutil.rmtree(_import_time_root, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache_dir(tmp_path_factory):
    """Points spen-keras' cache (`SPEN_KERAS_CACHE_DIR`) at a temporary
    folder for the whole session; yields the folder."""
    folder = tmp_path_factory.mktemp("spen_keras_cache")
    _set_environ("SPEN_KERAS_CACHE_DIR", folder)
    yield folder
    _restore_environ(["SPEN_KERAS_CACHE_DIR"])


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip_large = pytest.mark.skip(reason="large test: pass --run-large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip_large)
