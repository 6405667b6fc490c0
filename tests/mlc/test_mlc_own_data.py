"""A user's own multi-label data (`spen_keras.mlc.own_data`, `spen-keras
train-labels`): a synthetic 14-label dataset with correlated labels written
by the test as dense ARFF, sparse ARFF and CSV reads the same from each;
recipes train from each path (a few steps) into user presets that
`load_preset`, `MultiLabelClassifier.from_preset` and `predict-labels` use;
bad files and arguments are one line naming the file; an existing preset
folder is refused without --force; docs/mlc.md's "Your own data" example
runs verbatim."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from spen_keras import cli
from spen_keras import presets
from spen_keras.mlc import mlc_training
from spen_keras.mlc.mlc_recipe import MlcRecipe
from spen_keras.mlc import own_data
from spen_keras.mlc import train_classifier
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.mlc.user_files import MlcInputError
from spen_keras.presets import PresetError

ROOT = pathlib.Path(__file__).resolve().parents[2]
NUM_LABELS = 14  # neither Bibtex's 159 nor Delicious's 983


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """200 rows, 12 features, 14 correlated labels (prefixed "tag_"),
    written as dense ARFF, sparse ARFF (+ a Mulan XML), CSV, labels-first
    CSV, and a 40-row test file."""
    folder = tmp_path_factory.mktemp("own_data")
    x, y, features, labels = own_data.synthetic_dataset(
        num_rows=240, num_features=12, num_labels=NUM_LABELS, seed=3)
    labels = tuple(f"tag_{name}" for name in labels)
    x_train, y_train = x[:200], y[:200]
    files = {
        "dense": own_data.write_arff(folder / "toy.arff", x_train, y_train,
                                     features, labels),
        "sparse": own_data.write_arff(folder / "toy-sparse.arff", x_train,
                                      y_train, features, labels,
                                      sparse=True),
        "csv": own_data.write_csv(folder / "toy.csv", x_train, y_train,
                                  features, labels),
        # Labels first (MEKA's layout).
        "first": own_data.write_csv(folder / "toy-first.csv", y_train,
                                    x_train, labels, features),
        "xml": own_data.write_label_xml(folder / "toy.xml", labels),
        "test": own_data.write_arff(folder / "toy-test.arff", x[200:],
                                    y[200:], features, labels),
    }
    return {"folder": folder, "files": files, "x": x, "y": y,
            "features": features, "labels": labels}


def _run_cli(argv, capsys):
    status = cli.main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


# === Reading ===


def test_the_synthetic_labels_are_correlated(toy):
    y = toy["y"]
    assert y.shape == (240, NUM_LABELS)
    # Each group of four is mutually exclusive: exactly one label is on.
    np.testing.assert_array_equal(y[:, 0:4].sum(axis=1), 1)
    np.testing.assert_array_equal(y[:, 4:8].sum(axis=1), 1)
    # A child is only on with its parent.
    for parent in range(8, NUM_LABELS, 2):
        assert (y[:, parent + 1] <= y[:, parent]).all()
        assert 0 < y[:, parent + 1].sum() < y[:, parent].sum()


@pytest.mark.parametrize("form, labels", [
    ("dense", 14), ("dense", "last:14"), ("sparse", "xml"),
    ("csv", "prefix:tag_"), ("first", "first:14")])
def test_every_format_and_label_rule_reads_the_same_data(toy, form, labels):
    if labels == "xml":
        labels = str(toy["files"]["xml"])
    data = own_data.load_files(toy["files"][form], labels)
    validation = own_data.validation_rows(200)  # rows i % 10 == 9
    np.testing.assert_allclose(data.fit[0], toy["x"][:200][~validation],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data.fit[1], toy["y"][:200][~validation])
    np.testing.assert_array_equal(data.validation[1],
                                  toy["y"][:200][validation])
    assert (data.label_names, data.feature_names) == (toy["labels"],
                                                      toy["features"])
    assert data.test is None and "i % 10 == 9" in data.source


def test_a_validation_file_and_a_test_file(toy):
    files = toy["files"]
    data = own_data.load_files(files["dense"], 14,
                               validation=files["test"], test=files["test"],
                               name="toy")
    assert len(data.fit[0]) == 200 and len(data.validation[0]) == 40
    np.testing.assert_array_equal(data.test[1], toy["y"][200:])
    assert data.name == "toy" and str(files["test"].resolve()) in data.source


def test_from_arrays_splits_every_tenth_row_and_checks_its_input(toy):
    x, y = toy["x"], toy["y"]
    data = own_data.from_arrays(x[:200], y[:200])
    assert len(data.validation[0]) == 20 and data.label_names[0] == "label_1"
    for bad, message in [
            ((x[:5], y[:5]), "too few"),
            ((x[:20], y[:19]), "same n"),
            ((x[:20], y[:20] * 2), "0 or 1"),
            ((np.full_like(x[:20], np.nan), y[:20]), "NaN"),
    ]:
        with pytest.raises(MlcInputError, match=message):
            own_data.from_arrays(*bad)
    with pytest.raises(MlcInputError, match="distinct label names"):
        own_data.from_arrays(x[:20], y[:20], label_names=["a"] * 14)


def _bad_file(folder, name, text):
    path = folder / name
    path.write_text(text)
    return path


def test_bad_files_are_one_line_errors_naming_the_file(toy, tmp_path,
                                                       capsys):
    files = toy["files"]
    header = ",".join(["a", "b", "c", "l1", "l2"])
    cases = [
        (tmp_path / "absent.arff", "3", "file not found"),
        (_bad_file(tmp_path, "rows.txt", "1,2\n"), "3", "unknown extension"),
        (_bad_file(tmp_path, "ragged.csv", header + "\n1,2,3,0,1\n1,2\n"),
         "2", "line 3: expected 5 columns"),
        (_bad_file(tmp_path, "word.csv", header + "\n1,x,3,0,1\n"), "2",
         "non-numeric value 'x' at line 2, column 2"),
        (_bad_file(tmp_path, "nan.csv", header + "\n1,nan,3,0,1\n"), "2",
         "not finite"),
        (_bad_file(tmp_path, "label.csv", header + "\n1,2,3,0,2\n" * 10),
         "2", "label 'l2' of data row 0 is 2, not 0 or 1"),
        (_bad_file(tmp_path, "few.csv", header + "\n1,2,3,0,1\n"), "2",
         "too few for the validation slice"),
        (_bad_file(tmp_path, "empty.csv", header + "\n"), "2",
         "no data rows"),
        (_bad_file(tmp_path, "broken.arff", "@relation r\n@attribute a\n"),
         "1", "not valid ARFF"),
        (files["dense"], "30", "asks for 30 label columns but the file has "
                               "26"),
        (files["dense"], "prefix:nope_", "no column name starts with"),
        (files["dense"], "prefix:", "expected one of"),
        (files["csv"], str(_bad_file(tmp_path, "other.xml",
                                     '<labels><label name="zzz"/></labels>')),
         "label 'zzz' of"),
        (files["csv"], str(_bad_file(tmp_path, "bad.xml", "<labels")),
         "not valid XML"),
    ]
    for path, labels, message in cases:
        status, _, err = _run_cli(
            ["train-labels", str(path), "--labels", labels, "--output-dir",
             str(tmp_path / "never")], capsys)
        assert status == 2, (path, err)
        assert err.startswith("spen-keras: error: ") and \
            err.count("\n") == 1, err
        assert message in err, (message, err)
        named = path if "expected one of" not in message else labels
        assert str(named) in err or message == "not valid XML", err
    assert not (tmp_path / "never").exists()
    # A validation file with other columns, an unknown recipe.
    other = own_data.write_arff(tmp_path / "other.arff", toy["x"][:20, :10],
                                toy["y"][:20], label_names=toy["labels"])
    status, _, err = _run_cli(
        ["train-labels", str(files["dense"]), "--labels", "14",
         "--validation", str(other)], capsys)
    assert status == 2 and str(other) in err and err.count("\n") == 1
    assert "its 10 feature columns are not the 12 of the training" in err
    status, _, err = _run_cli(
        ["train-labels", str(files["dense"]), "--labels", "14", "--recipe",
         "svm"], capsys)
    assert status == 2 and "Unknown multi-label recipe 'svm'" in err
    # The data's name becomes folder names: no path separators.
    status, _, err = _run_cli(
        ["train-labels", str(files["dense"]), "--labels", "14", "--name",
         "../escape", "--output-dir", str(tmp_path / "never")], capsys)
    assert status == 2 and err.count("\n") == 1
    assert "The data's name '../escape' names preset and backup folders" \
        in err
    assert not (tmp_path / "never").exists()


# === Training, the preset, predict-labels ===


@pytest.fixture(scope="module")
def cli_preset(toy, tmp_path_factory):
    """SPEN-E2E trained by `spen-keras train-labels` on the dense ARFF,
    2 optimizer steps per phase, with the test file scored."""
    folder = tmp_path_factory.mktemp("cli_preset") / "toy_spen"
    status = cli.main(["train-labels", str(toy["files"]["dense"]),
                       "--labels", "14", "--recipe", "spen_e2e", "--steps",
                       "2", "--test", str(toy["files"]["test"]),
                       "--output-dir", str(folder), "--backup-dir",
                       str(folder.parent / "backup")])
    assert status == 0
    return folder


def test_the_cli_preset_records_its_data_and_loads_every_way(cli_preset,
                                                            toy):
    config = json.loads((cli_preset / "config.json").read_text())
    metadata = json.loads((cli_preset / "metadata.json").read_text())
    assert config["label_names"] == list(toy["labels"])
    assert config["feature_names"] == list(toy["features"])
    assert config["num_features"] == 12 and config["dataset"] == "toy"
    assert 0 < config["threshold"] < 1
    assert str(toy["files"]["dense"].resolve()) in config["data_source"]
    assert metadata["data_source"] == config["data_source"]
    assert metadata["name"] == "toy_spen_e2e"
    assert metadata["recipe"]["model"] == "spen"
    assert metadata["our_value"] == metadata["test_scores"]["example_f1"]
    assert metadata["command"].startswith("spen-keras train-labels")
    loaded = presets.load_preset(cli_preset)
    again = MultiLabelClassifier.from_preset(cli_preset)
    assert isinstance(loaded, MultiLabelClassifier)
    assert loaded.model.__class__.__name__ == "MultiLabelSpen"
    assert loaded.label_names == toy["labels"]
    assert loaded.feature_names == toy["features"]
    np.testing.assert_allclose(loaded.probabilities(toy["x"][200:]),
                               again.probabilities(toy["x"][200:]),
                               atol=1e-6)
    loaded.model.fit(toy["x"][:8], toy["y"][:8], epochs=1, verbose=0)


def test_predict_labels_reads_the_presets_columns(cli_preset, toy, tmp_path,
                                                  capsys):
    classifier = presets.load_preset(cli_preset)
    rows = toy["x"][200:205]
    expected = classifier.label_sets(rows)
    with_labels = toy["files"]["test"]  # its label attributes are ignored
    plain = tmp_path / "rows.csv"
    plain.write_text("\n".join(",".join(f"{v:.9g}" for v in row)
                               for row in rows) + "\n")
    status, out, _ = _run_cli(["predict-labels", str(plain), "--preset",
                               str(cli_preset)], capsys)
    assert status == 0
    lines = out.strip().splitlines()
    assert [line.split("\t", 1)[1] for line in lines] == [
        " ".join(names) for names in expected]
    output = tmp_path / "labels.csv"
    status, out, _ = _run_cli(["predict-labels", str(with_labels),
                               str(output), "--preset", str(cli_preset)],
                              capsys)
    assert status == 0 and "Labelled 40 rows" in out
    assert len(output.read_text().splitlines()) == 41
    short = tmp_path / "short.csv"
    short.write_text("1,2,3\n")
    status, _, err = _run_cli(["predict-labels", str(short), "--preset",
                               str(cli_preset)], capsys)
    assert status == 2 and str(short) in err and err.count("\n") == 1
    assert "expected 12 feature columns" in err


def test_an_existing_preset_folder_needs_force(cli_preset, toy, tmp_path,
                                               capsys):
    argv = ["train-labels", str(toy["files"]["csv"]), "--labels",
            "prefix:tag_", "--recipe", "br", "--steps", "2", "--output-dir",
            str(cli_preset), "--backup-dir", str(tmp_path / "backup")]
    before = (cli_preset / "model.weights.h5").read_bytes()
    status, _, err = _run_cli(argv, capsys)
    assert status == 2 and "already exists" in err and "--force" in err
    assert err.count("\n") == 1
    assert (cli_preset / "model.weights.h5").read_bytes() == before
    copy = tmp_path / "copy"
    status, out, _ = _run_cli(argv[:-4] + ["--output-dir", str(copy),
                                           "--backup-dir",
                                           str(tmp_path / "b2")], capsys)
    assert status == 0 and "Preset written to" in out
    status, _, _ = _run_cli(argv[:-4] + ["--output-dir", str(copy),
                                         "--backup-dir",
                                         str(tmp_path / "b3"), "--force"],
                            capsys)
    assert status == 0
    assert presets.load_preset(copy).kind == "br"
    # Never inside the installed package.
    shipped = presets.shipped_preset_dir("mlc_bibtex_br").parent / "mine"
    status, _, err = _run_cli(argv[:-4] + ["--output-dir", str(shipped)],
                              capsys)
    assert status == 2 and "read-only" in err and not shipped.exists()


def test_python_training_from_a_sparse_arff_file(toy, tmp_path):
    data = own_data.load_files(toy["files"]["sparse"],
                               str(toy["files"]["xml"]),
                               test=toy["files"]["test"])
    metadata = own_data.train_preset(data, tmp_path / "mlp", recipe="mlp",
                                     steps=2, backup_dir=tmp_path / "b",
                                     verbose=0)
    assert metadata["num_labels"] == NUM_LABELS
    assert metadata["recipe"]["model"] == "mlp"
    classifier = presets.load_preset(tmp_path / "mlp")
    assert classifier.kind == "mlp" and classifier.dataset == "toy-sparse"
    with pytest.raises(PresetError, match="already exists"):
        own_data.train_preset(data, tmp_path / "mlp", recipe="mlp", steps=2)


def test_train_classifier_on_arrays_returns_a_classifier(toy, tmp_path):
    x, y = toy["x"], toy["y"]
    classifier = train_classifier(
        x[:160], y[:160], x[160:200], y[160:200], toy["labels"],
        recipe="mlc_delicious_spen_ssvm", x_test=x[200:], y_test=y[200:],
        steps=2, output_dir=tmp_path / "ssvm")
    assert classifier.model.training_mode == "ssvm"
    assert classifier.label_names == toy["labels"]
    assert classifier.metadata["recipe"]["dataset"] == "delicious"
    assert classifier.predict_labels(x[200:]).shape == (40, NUM_LABELS)
    assert (tmp_path / "ssvm" / "config.json").is_file()
    assert presets.load_preset(tmp_path / "ssvm").threshold == \
        classifier.threshold


def test_train_data_dir_points_at_train_labels(toy, tmp_path, capsys):
    status, _, err = _run_cli(
        ["train", "--preset", "mlc_bibtex_spen_e2e", "--data-dir",
         str(toy["files"]["dense"]), "--output-dir", str(tmp_path / "p")],
        capsys)
    assert status == 2 and err.count("\n") == 1
    assert "spen-keras train-labels" in err and "--recipe " \
        "mlc_bibtex_spen_e2e" in err and not (tmp_path / "p").exists()


def test_a_backup_is_resumed_only_on_the_same_data(toy):
    files = toy["files"]
    same = [mlc_training.data_fingerprint(own_data.load_files(f, labels))
            for f, labels in ((files["dense"], 14),
                              (files["csv"], "prefix:tag_"))]
    other = mlc_training.data_fingerprint(own_data.from_arrays(
        toy["x"][:200] + 1, toy["y"][:200], label_names=toy["labels"],
        feature_names=toy["features"]))
    assert same[0] == same[1] != other


def test_recipe_names():
    assert own_data.recipe_spec("spen_e2e_icnn").recipe.input_convex
    assert own_data.recipe_spec("br").name == "mlc_bibtex_br"
    recipe = MlcRecipe("delicious", "spen",
                                   training_mode="ssvm")
    assert own_data.recipe_spec(recipe).name == "mlc_delicious_spen_ssvm"
    with pytest.raises(MlcInputError, match="Unknown multi-label recipe"):
        own_data.recipe_spec("dp_3")


# === docs/mlc.md's example ===


def doc_section():
    text = (ROOT / "docs" / "mlc.md").read_text()
    return text.split("## Your own data", 1)[1].split("\n## ", 1)[0]


def test_the_docs_own_data_example_runs_verbatim(tmp_path):
    """The section's code blocks, in order, in one scratch folder: the
    Python ones in fresh processes, the shell ones by bash with the
    environment's `spen-keras` on the PATH."""
    blocks = re.findall(r"```(python|bash)\n(.*?)```", doc_section(), re.S)
    assert [kind for kind, _ in blocks].count("bash") >= 1
    assert [kind for kind, _ in blocks].count("python") >= 2
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PATH=os.pathsep.join([os.path.dirname(sys.executable),
                                     os.environ.get("PATH", "")]))
    for kind, code in blocks:
        command = ([sys.executable, "-c", code] if kind == "python"
                   else ["bash", "-euo", "pipefail", "-c", code])
        done = subprocess.run(command, cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, (code, done.stdout[-2000:]
                                      + done.stderr[-2000:])
    assert presets.load_preset(tmp_path / "toy_spen").num_labels == 14
