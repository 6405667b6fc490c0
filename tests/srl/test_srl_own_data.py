"""Training SRL presets on the user's own CoNLL column files (the format
`srl-label` reads, with gold argument columns): `spen-keras train --preset
srl_local_h --data-dir FOLDER` on a folder holding train.conll and
dev.conll."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

import spen_keras.srl  # noqa: F401  (registers the family)
from spen_keras import cli
from spen_keras import presets
from spen_keras.srl import srl_kind
from spen_keras.srl import srl_presets
from spen_keras.srl import srl_recipe
from spen_keras.srl import srl_training
from spen_keras.srl.user_files import SrlInputError
from spen_keras.srl.user_files import read_conll_file
from spen_keras.srl.user_files import release_column_lines
from spen_keras.srl.user_files import write_release_column_file


@pytest.fixture
def column_folder(tmp_path):
    folder = tmp_path / "my_srl"
    folder.mkdir()
    write_release_column_file("train", folder / "train.conll", limit=60)
    write_release_column_file("devel", folder / "dev.conll.gz", limit=20)
    yield folder
    srl_training._TRAINING_CACHE.clear()


def test_release_column_files_read_back_as_the_release(tmp_path):
    """The converter's lines are the format `read_conll_file` reads: the same
    sentences, arcs and gold spans as reading the release itself."""
    from spen_keras.srl.arc_features import read_sentences
    import itertools

    path = write_release_column_file("devel", tmp_path / "dev.conll",
                                     limit=15)
    from_file, has_gold = read_conll_file(path)
    from_release = list(itertools.islice(read_sentences("devel"), 15))
    assert has_gold and len(from_file) == 15
    for mine, theirs in zip(from_file, from_release):
        assert mine.gold == theirs.gold and mine.lemmas == theirs.lemmas
        assert [a.spans for a in mine.predicates] == [
            a.spans for a in theirs.predicates]
        assert [a.roles for a in mine.predicates] == [
            a.roles for a in theirs.predicates]
    # No words in the public layers: the WORD column is "-".
    first = next(release_column_lines("devel"))
    assert first.split()[0] == "-"
    with pytest.raises(SrlInputError, match="exists"):
        write_release_column_file("devel", path)


def test_train_local_and_spen_from_column_files(column_folder, tmp_path):
    out = tmp_path / "presets"
    assert cli.main(["train", "--preset", "srl_local_h", "--data-dir",
                     str(column_folder), "--steps", "4", "--output-dir",
                     str(out / "srl_local_h"), "--backup-dir",
                     str(tmp_path / "backup_local")]) == 0
    metadata = presets.read_metadata(out / "srl_local_h")
    assert metadata["training_data"] == (
        f"{column_folder / 'train.conll'} (CoNLL column file)")
    assert list(metadata["our_values"]) == ["dev WSJ"]
    assert metadata["evaluation"].startswith(
        f"{column_folder / 'dev.conll.gz'}")
    local = presets.load_preset(out / "srl_local_h")
    # The role inventory is the one of the training file.
    sentences, _ = read_conll_file(column_folder / "train.conll")
    roles = {role for s in sentences for arcs in s.predicates
             for role in arcs.roles}
    assert set(local.role_set.roles) <= roles | {"O"}
    # A SPEN trained next to it starts from it (the base beside the
    # output), not from the shipped local model.
    spen = presets.train_preset(
        "srl_spen_h", out / "srl_spen_h", tmp_path / "backup_spen",
        steps=2, verbose=0, data_dir=column_folder)
    assert spen["warm_start"] == "srl_local_h"
    labeler = presets.load_preset(out / "srl_spen_h")
    assert labeler.role_set.roles == local.role_set.roles
    assert labeler.vocabulary == local.vocabulary


def test_column_files_without_gold_arguments_are_refused(tmp_path, capsys):
    folder = tmp_path / "no_gold"
    folder.mkdir()
    lines = [" ".join(line.split()[:5]) if line else ""
             for line in release_column_lines("devel", limit=5)]
    (folder / "train.conll").write_text("\n".join(lines) + "\n")
    assert cli.main(["train", "--preset", "srl_local_h", "--data-dir",
                     str(folder), "--steps", "1", "--output-dir",
                     str(tmp_path / "out")]) != 0
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "no gold argument columns" in error[0]
    assert str(folder / "train.conll") in error[0]
    assert not (tmp_path / "out").exists()


def test_the_docs_example_runs_verbatim(tmp_path):
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "srl.md")
    section = doc.read_text().split("## Your own data", 1)[1]
    script, = re.findall(r"```bash\n(.*?)```", section.split("\n## ")[0],
                         re.S)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PATH=os.path.dirname(sys.executable) + os.pathsep
               + os.environ["PATH"])
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script],
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Labelled" in done.stdout and "F1" in done.stdout
    assert (tmp_path / "my_dev.props").stat().st_size > 0
    assert presets.read_metadata(tmp_path / "my_presets" / "srl_spen_h")[
        "warm_start"] == "srl_local_h"


def test_words_are_used_when_the_word_column_has_them(column_folder):
    assert not srl_training.has_words(column_folder, "train")
    lines = (column_folder / "train.conll").read_text().splitlines()
    lines[0] = "Ms." + lines[0][1:]  # one word in the WORD column
    (column_folder / "train.conll").write_text("\n".join(lines) + "\n")
    assert srl_training.has_words(column_folder, "train")
    vocabulary, _, _ = srl_training.training_sentences(1, column_folder)
    assert {"head_word", "predicate_word"} <= set(vocabulary.templates)
