"""The conll2005 builder: real counts, shipped files, errors (fast)."""

import gzip
import pathlib
import re
import shutil

import pytest
import tensorflow_datasets as tfds

from spen_keras.datasets.conll2005 import conll2005_dataset_builder as cb
from spen_keras.datasets.conll2005 import conll2005_layers as layers_io

HERE = pathlib.Path(cb.__file__).parent
PUBLIC = HERE / "public"
DUMMY = HERE / "dummy_data"
RELEASE = pathlib.Path("/work/shared/data/conll05st-release")
# The CoNLL-2005 overview paper's counts: (sentences, predicates).
COUNTS = {"train": (39832, 90750), "devel": (1346, 3248),
          "test_wsj": (2416, 5267), "test_brown": (426, 804)}


def test_shipped_layers_give_the_official_counts():
    # Plain-Python pass over every layer of every split (~6 s): checks
    # alignment, column counts and every Start-End column too.
    for split, (sentences, predicates) in COUNTS.items():
        names = cb._layers(split, with_words=False)
        got_sentences = got_predicates = 0
        for sentence in layers_io.read_split(PUBLIC, split, names):
            _, found = layers_io.parse_props(
                sentence["props"], sentence["lines"]["props"],
                sentence["paths"]["props"])
            got_sentences += 1
            got_predicates += len(found)
            for layer, column in (("ne", 0), ("synt.cha", 1),
                                  ("synt.col2", 1)):
                layers_io.parse_start_end(
                    [row[column] for row in sentence[layer]],
                    f"{sentence['paths'][layer]}:{sentence['lines'][layer]}")
        assert (got_sentences, got_predicates) == (sentences, predicates), split


def test_public_copy_is_the_release_unchanged_and_has_no_words():
    shipped = sorted(p.relative_to(PUBLIC) for p in PUBLIC.rglob("*")
                     if p.is_file())
    assert pathlib.Path("README") in shipped
    assert pathlib.Path("CHANGES") in shipped
    assert not any("words" in part for path in shipped for part in path.parts)
    expected = {path.relative_to(PUBLIC) for split in layers_io.SPLITS
                for path in cb._required_paths(PUBLIC, split, False)}
    assert expected <= set(shipped)
    assert sum((PUBLIC / p).stat().st_size for p in shipped) < 10 * 2**20
    if RELEASE.is_dir():
        for path in shipped:
            assert (PUBLIC / path).read_bytes() == (
                RELEASE / path).read_bytes(), path


def test_dummy_words_are_invented():
    files = list(DUMMY.glob("*/words/*.words.gz"))
    assert len(files) == 20 + 3
    for path in files:
        with gzip.open(path, "rt") as text:
            tokens = text.read().split()
        assert tokens and all(re.fullmatch(r"tok\d+", t) for t in tokens)


def test_example_features_of_the_first_devel_sentence():
    sentence = next(layers_io.read_split(
        PUBLIC, "devel", cb._layers("devel", False)))
    example = cb._example(sentence)
    assert example["id"] == "devel.24/00000"
    assert example["predicate_index"] == [6]
    assert example["predicate_lemmas"][6] == "take"
    assert len(example["arguments"]) == 1 and len(example["arguments"][0]) == 25
    spans = example["argument_spans"]
    assert list(zip(spans["start"], spans["end"], spans["label"]))[:3] == [
        (0, 3, "A1"), (4, 4, "AM-MOD"), (6, 6, "V")]
    assert set(spans["predicate"]) == {0}
    assert example["pos"][:3] == ["DT", "NN", "POS"]
    assert example["senses"][6] == "01"


def _build(tmp_path, config, manual_dir):
    builder = cb.Builder(config=config, data_dir=str(tmp_path / "out"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir)))
    return builder


def test_full_without_words_fails_at_once_naming_the_path(tmp_path):
    manual = tmp_path / "manual"
    shutil.copytree(DUMMY, manual)
    shutil.rmtree(manual / "devel" / "words")
    with pytest.raises(cb.Conll2005DataMissingError) as error:
        _build(tmp_path, "full", manual)
    message = str(error.value)
    assert "\n" not in message
    assert str(manual / "devel" / "words" / "devel.24.words.gz") in message
    assert "wsj-to-se.pl" in message and "Penn Treebank" in message


def test_full_without_manual_dir_fails_at_once(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(cb.Conll2005DataMissingError) as error:
        _build(tmp_path, "full", missing)
    message = str(error.value)
    assert "\n" not in message and str(missing) in message
    assert "words" in message and "wsj-to-se.pl" in message


def _corrupt_copy(tmp_path, relative, content):
    root = tmp_path / "manual"
    shutil.copytree(DUMMY, root)
    target = root / relative
    target.write_bytes(content(target.read_bytes()))
    return root, target


def _gz(text):
    return gzip.compress(text.encode())


@pytest.mark.parametrize("relative,content,pattern", [
    # Not gzip at all.
    ("devel/ne/devel.24.ne.gz", lambda data: b"garbage",
     r"devel\.24\.ne\.gz: not a readable gzipped"),
    # Truncated gzip.
    ("devel/ne/devel.24.ne.gz", lambda data: data[:len(data) // 2],
     r"devel\.24\.ne\.gz: not a readable gzipped"),
    # A token line with an extra column (line 2).
    ("devel/synt.cha/devel.24.synt.cha.gz",
     lambda data: _gz(gzip.decompress(data).decode().replace(
         "\n", " extra\n", 2).replace(" extra\n", "\n", 1)),
     r"devel\.24\.synt\.cha\.gz:2: 3 columns, expected 2"),
    # A sentence one token short (its last token line removed).
    ("devel/ne/devel.24.ne.gz",
     lambda data: _gz(gzip.decompress(data).decode().replace(
         "  *   \n\n", "\n", 1)),
     r"devel\.24\.ne\.gz:1: sentence 0 has 24 tokens"),
    # An argument bracket never closed (line 4 is "*)" of (A1*).
    ("devel/props/devel.24.props.gz",
     lambda data: _gz("\n".join(
         line.replace("*)", "* ") if number == 3 else line
         for number, line in enumerate(
             gzip.decompress(data).decode().split("\n")))),
     r"devel\.24\.props\.gz:\d+: "),
])
def test_malformed_file_is_one_line_naming_file_and_line(
        tmp_path, relative, content, pattern):
    root, target = _corrupt_copy(tmp_path, relative, content)
    with pytest.raises(layers_io.Conll2005DataError) as error:
        for sentence in layers_io.read_split(root, "devel",
                                             cb._layers("devel", True)):
            cb._example(sentence)
    message = str(error.value)
    assert "\n" not in message and str(target) in message
    assert re.search(pattern, message), message


def test_malformed_file_fails_the_tfds_build(tmp_path):
    root, target = _corrupt_copy(
        tmp_path, "test.brown/props/test.brown.props.gz",
        lambda data: _gz(gzip.decompress(data).decode().replace(
            "(V*)", "(V*x", 1)))
    with pytest.raises(layers_io.Conll2005DataError,
                       match=re.escape(str(target)) + r":\d+: column \d+: "
                       "malformed Start-End tag"):
        _build(tmp_path, "full", root)


def test_start_end_parsing():
    assert layers_io.parse_start_end(
        ["(S(NP*", "*)", "(VP*", "*))"]) == [
            (0, 3, "S"), (0, 1, "NP"), (2, 3, "VP")]
    with pytest.raises(layers_io.Conll2005DataError, match="closes no open"):
        layers_io.parse_start_end(["*)"])


@pytest.mark.large
def test_public_config_builds_with_the_official_split_sizes(tmp_path):
    builder = cb.Builder(config="public", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert {name: split.num_examples
            for name, split in builder.info.splits.items()} == {
                split: counts[0] for split, counts in COUNTS.items()}
