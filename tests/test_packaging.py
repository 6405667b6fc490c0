"""Packaging: every package folder installs, data ships, backend is checked."""

import configparser
import importlib.resources
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
MAPPING = {"spen_keras": "spen_keras", "datasets": "spen_keras.datasets",
           "zoo": "spen_keras.zoo"}


def test_setup_cfg_lists_every_package_folder():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = set()
    for folder, package in MAPPING.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package,) + relative))
    assert found == listed, f"setup.cfg packages differ: {found ^ listed}"
    assert "datasets" not in listed and "zoo" not in listed
    # The repository's benchmarks and experiments are packages too (run as
    # `python -m benchmarks.NAME`), never installed.
    assert (ROOT / "benchmarks" / "__init__.py").is_file()
    assert (ROOT / "experiments" / "__init__.py").is_file()
    assert not {p for p in listed if p.split(".")[0] in (
        "benchmarks", "experiments", "tests")}, listed


def test_embedded_frames_and_licence_ship_with_the_package():
    embedded = (importlib.resources.files("spen_keras.datasets.seven_scenes")
                / "embedded")
    assert (embedded / "LICENSE-MSR-LA-7-Scenes.rtf").is_file()
    assert (embedded / "stairs" / "seq-01" / "frame-000000.depth.png").is_file()


def test_a_backend_that_cannot_differentiate_is_refused_clearly():
    env = dict(os.environ, KERAS_BACKEND="numpy")
    result = subprocess.run(
        [sys.executable, "-c", "import spen_keras"], env=env,
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert "TensorFlow, JAX or PyTorch" in result.stderr
    assert "KERAS_BACKEND='numpy'" in result.stderr


def test_conll2005_public_layers_ship_with_the_package():
    package = importlib.resources.files("spen_keras.datasets.conll2005")
    assert (package / "public" / "README").is_file()
    assert (package / "public" / "train" / "props"
            / "train.21.props.gz").is_file()
    assert (package / "dummy_data" / "devel" / "words"
            / "devel.24.words.gz").is_file()


def test_mulan_arff_files_ship_with_the_package():
    package = importlib.resources.files("spen_keras.datasets.mulan")
    for name in ("bibtex", "delicious"):
        for suffix in ("-train.arff", "-test.arff", ".xml"):
            assert (package / name / f"{name}{suffix}").is_file()
        assert (package / name / "README.md").is_file()
        assert (package / "dummy_data" / name / f"{name}-train.arff").is_file()
    for extra in ("README.md", "CITATIONS.bib", "TAGS.txt", "checksums.tsv"):
        assert (package / extra).is_file()
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = config["options.package_data"]["spen_keras.datasets.mulan"]
    assert {"bibtex/*", "delicious/*", "dummy_data/**/*"} <= {
        pattern.strip() for pattern in patterns.split(",")}
    assert "liac-arff" in config["options"]["install_requires"]


# === Licences and metadata ===

# Each shipped data set: names NOTICE must mention, its licence or terms,
# and the file that states them (listed in setup.cfg's license_files).
DATA_LICENCES = {
    "7-Scenes": (("Microsoft Research License Agreement", "non-commercial"),
                 "datasets/seven_scenes/embedded/LICENSE-MSR-LA-7-Scenes.rtf"),
    "Mulan": (("Bibtex", "Delicious", "research use"),
              "datasets/mulan/README.md"),
    "CoNLL-2005": (("shared task", "research", "Penn Treebank",
                    "LDC licence", "not included"),
                   "datasets/conll2005/README.md"),
}


def _flat(text):
    return " ".join(text.split())


def test_notice_names_every_shipped_data_set_and_its_licence():
    notice = _flat((ROOT / "NOTICE").read_text())
    assert "Apache License, Version 2.0" in notice
    for dataset, (terms, terms_file) in DATA_LICENCES.items():
        assert dataset in notice, dataset
        for term in terms:
            assert term in notice, (dataset, term)
        assert (ROOT / terms_file).is_file(), terms_file
        assert terms_file in notice, terms_file


def test_installed_metadata_lists_the_licence_files_and_project_urls():
    import importlib.metadata

    metadata = importlib.metadata.metadata("spen-keras")
    licence_files = metadata.get_all("License-File") or []
    assert {"LICENSE", "NOTICE"} <= set(licence_files)
    licence = _flat(metadata["License"])
    for dataset, (_, terms_file) in DATA_LICENCES.items():
        assert terms_file in licence_files, (terms_file, "reinstall: "
                                             ".venv/bin/pip install -e .")
        assert dataset in licence, dataset
    assert "Microsoft Research License Agreement" in licence
    urls = dict(entry.split(", ", 1)
                for entry in metadata.get_all("Project-URL") or [])
    assert {"Documentation", "Source", "Tracker"} <= set(urls), urls
    assert all(url.startswith("https://") for url in urls.values())
    distribution = importlib.metadata.distribution("spen-keras")
    shipped = {str(f) for f in distribution.files or []}
    for name in licence_files:
        assert any(f.endswith(name) for f in shipped), name


def test_no_penn_treebank_words_ship():
    """The public CoNLL-2005 layers never include the LDC words: no words
    layer under public/, and the package data does not ask for one."""
    public = ROOT / "datasets" / "conll2005" / "public"
    assert not [p for p in public.rglob("*") if "words" in p.name]
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = config["options.package_data"]["spen_keras.datasets.conll2005"]
    assert "words" not in patterns
