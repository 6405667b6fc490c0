"""`import spen_keras.datasets` registers every dataset builder with TFDS."""

import pathlib
import subprocess
import sys

import spen_keras.datasets

DATASETS = pathlib.Path(spen_keras.datasets.__file__).parent


def test_importing_spen_keras_datasets_registers_seven_scenes(tmp_path):
    # A fresh interpreter: nothing else has imported the builder module.
    code = (
        "import sys, spen_keras.datasets, tensorflow_datasets as tfds\n"
        f"builder = tfds.builder('seven_scenes', data_dir={str(tmp_path)!r})\n"
        "assert type(builder).__module__ == ("
        "'spen_keras.datasets.seven_scenes.seven_scenes_dataset_builder')\n"
        "assert builder.builder_config.name == 'official'\n"
        "assert tfds.builder('seven_scenes/proximalnet', "
        f"data_dir={str(tmp_path)!r}).builder_config.kind == 'proximalnet'\n"
        "assert 'seven_scenes' in tfds.list_builders(with_community_datasets="
        "False)\n")
    result = subprocess.run([sys.executable, "-c", code], timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_builder_module_is_imported_by_the_package():
    found = {".".join(("spen_keras.datasets",
                       *path.relative_to(DATASETS).with_suffix("").parts))
             for path in DATASETS.rglob("*_dataset_builder.py")}
    imported = {module.__name__
                for module in spen_keras.datasets.BUILDER_MODULES}
    assert found and found == imported


def test_importing_spen_keras_datasets_registers_conll2005(tmp_path):
    code = (
        "import spen_keras.datasets, tensorflow_datasets as tfds\n"
        f"builder = tfds.builder('conll2005', data_dir={str(tmp_path)!r})\n"
        "assert type(builder).__module__ == ("
        "'spen_keras.datasets.conll2005.conll2005_dataset_builder')\n"
        "assert builder.builder_config.name == 'public'\n"
        "assert tfds.builder('conll2005/full', "
        f"data_dir={str(tmp_path)!r}).builder_config.with_words\n")
    result = subprocess.run([sys.executable, "-c", code], timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


def test_importing_spen_keras_datasets_registers_mulan(tmp_path):
    code = (
        "import spen_keras.datasets, tensorflow_datasets as tfds\n"
        f"builder = tfds.builder('mulan', data_dir={str(tmp_path)!r})\n"
        "assert type(builder).__module__ == ("
        "'spen_keras.datasets.mulan.mulan_dataset_builder')\n"
        "assert builder.builder_config.name == 'bibtex'\n"
        "assert builder.info.features['features'].shape == (1836,)\n"
        "delicious = tfds.builder('mulan/delicious', "
        f"data_dir={str(tmp_path)!r})\n"
        "assert delicious.info.features['labels'].shape == (983,)\n"
        "assert 'mulan' in tfds.list_builders(with_community_datasets="
        "False)\n")
    result = subprocess.run([sys.executable, "-c", code], timeout=120,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
