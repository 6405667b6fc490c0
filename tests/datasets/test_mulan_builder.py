"""The Mulan reader and builder: real counts, shipped files, errors (fast)."""

import hashlib
import pathlib
import shutil
import time

import numpy as np
import pytest

from spen_keras.datasets.mulan import mulan_arff
from spen_keras.datasets.mulan import mulan_dataset_builder as mb

HERE = pathlib.Path(mb.__file__).parent
DUMMY = HERE / "dummy_data"
RELEASE = pathlib.Path("/work/shared/data/mulan")
# Pinned: the shipped files are the Mulan release files, unchanged.
SHA256 = {
    "bibtex/README.md":
        "796eaaa1cb7239ec95d71731f47dff19c12afe8e82ea2e10256e22663e744871",
    "bibtex/bibtex-test.arff":
        "9b03329cde64d3f994bdf7fbbac3f3b10fe185c311cb9ae725475f59c7f3f922",
    "bibtex/bibtex-train.arff":
        "8dcc9de6e0b2cebaec8c1f4fac78431adeeb73cfd3ab879b530a66d366e59174",
    "bibtex/bibtex.xml":
        "08fe20013c1e75dcf1888c185f5187c95e76495b8518ce289b4d3afce38d1232",
    "delicious/README.md":
        "28482dfccc803d24919f802fcfda30822c25c8c9e7ff29407c6c96cddcd3d11a",
    "delicious/delicious-test.arff":
        "2dfb01723a819914b0ca83361177ed413ce3f2169851d9f228d4692915d63944",
    "delicious/delicious-train.arff":
        "030186cdb542ebdd32052fcdbb1ebe30115b3a22518c1b4b198c45eb827aebe1",
    "delicious/delicious.xml":
        "4e0c0f93c7d86a39b9fca4aaefaa00e9428f2c80277732dfbf03ca48e2c14da2",
}
# Published sizes: (train rows, test rows, features, labels).
COUNTS = {"bibtex": (4880, 2515, 1836, 159),
          "delicious": (12920, 3185, 500, 983)}
CARDINALITY = {"bibtex": 2.402, "delicious": 19.020}


def _one_line_naming(error, path):
    message = str(error.value)
    assert "\n" not in message
    assert str(path) in message, message
    return message


@pytest.fixture
def dummy_root(tmp_path):
    """A copy of dummy_data/ (shipped layout, real headers, few rows)."""
    root = tmp_path / "root"
    shutil.copytree(DUMMY, root)
    return root


def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, count))


# ---------------------------------------------------------------------------
# The shipped data.


def test_shipped_files_are_the_pinned_release_files():
    shipped = sorted(str(p.relative_to(HERE)) for name in COUNTS
                     for p in (HERE / name).iterdir())
    assert shipped == sorted(SHA256)
    for relative, digest in SHA256.items():
        data = (HERE / relative).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, relative
        if RELEASE.is_dir():
            assert data == (RELEASE / relative).read_bytes(), relative


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_real_splits_have_the_published_sizes(name):
    train_rows, test_rows, features, labels = COUNTS[name]
    info = mulan_arff.DATASETS[name]
    assert (info.num_train, info.num_test, info.num_features,
            info.num_labels) == COUNTS[name]
    validation_rows = train_rows // 10
    sizes = {"train": train_rows, "test": test_rows,
             "validation": validation_rows,
             "train_without_validation": train_rows - validation_rows}
    for split, rows in sizes.items():
        data = mulan_arff.read_split(name, split)
        assert data.features.shape == (rows, features), split
        assert data.labels.shape == (rows, labels), split
        assert data.features.dtype == np.float32
        assert data.labels.dtype == np.uint8
        assert data.rows.shape == (rows,)
        assert set(np.unique(data.features)) <= {0.0, 1.0}
        assert set(np.unique(data.labels)) <= {0, 1}
        assert len(data.feature_names) == features
    # Mulan's published label cardinality (mean labels per row, train and
    # test together): Bibtex 2.402, Delicious 19.020.
    both = [mulan_arff.read_split(name, split).labels
            for split in ("train", "test")]
    cardinality = sum(int(part.sum()) for part in both) / (
        train_rows + test_rows)
    assert round(cardinality, 3) == CARDINALITY[name]


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_validation_is_every_tenth_train_row(name):
    train = mulan_arff.read_split(name, "train")
    validation = mulan_arff.read_split(name, "validation")
    rest = mulan_arff.read_split(name, "train_without_validation")
    indices = np.arange(len(train.rows))
    np.testing.assert_array_equal(validation.rows, indices[indices % 10 == 9])
    np.testing.assert_array_equal(rest.rows, indices[indices % 10 != 9])
    np.testing.assert_array_equal(
        np.sort(np.concatenate([validation.rows, rest.rows])), train.rows)
    for part in (validation, rest):
        np.testing.assert_array_equal(part.features,
                                      train.features[part.rows])
        np.testing.assert_array_equal(part.labels, train.labels[part.rows])


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_label_names_are_the_xml_labels_and_last_attributes(name):
    info = mulan_arff.DATASETS[name]
    xml = HERE / name / info.xml_file
    # Independent of the reader: the <label name="..."> attributes in order.
    expected = tuple(line.split('"')[1] for line in
                     xml.read_text(encoding="utf-8").splitlines()
                     if line.lstrip().startswith("<label "))
    assert len(expected) == info.num_labels
    assert mulan_arff.read_label_names(xml) == expected
    for split in ("train", "test"):
        data = mulan_arff.read_split(name, split)
        assert data.label_names == expected
        header = (HERE / name / getattr(info, f"{split}_file")).read_text(
            encoding="utf-8").split("@data")[0]
        attributes = [line.split()[1] for line in header.splitlines()
                      if line.startswith("@attribute")]
        assert tuple(attributes[-info.num_labels:]) == expected
        assert data.feature_names == tuple(attributes[:-info.num_labels])


def test_first_train_row_of_bibtex_matches_the_file():
    # Row 0 of bibtex-train.arff, read by hand from its sparse line.
    text = (HERE / "bibtex" / "bibtex-train.arff").read_text()
    line = text.split("@data", 1)[1].strip().splitlines()[0]
    columns = [int(pair.split()[0]) for pair in line.strip("{}").split(",")]
    data = mulan_arff.read_split("bibtex", "train")
    dense = np.concatenate([data.features[0], data.labels[0]])
    np.testing.assert_array_equal(np.flatnonzero(dense), columns)


def test_parsed_files_are_cached_and_reread_when_changed(dummy_root):
    first = mulan_arff.read_split("bibtex", "train", root=dummy_root)
    start = time.perf_counter()
    again = mulan_arff.read_split("bibtex", "train", root=dummy_root)
    assert time.perf_counter() - start < 0.05
    assert again.features is first.features
    assert not first.features.flags.writeable
    path = dummy_root / "bibtex" / "bibtex-train.arff"
    # Drop the last row: a changed file (size, mtime) is parsed again.
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))
    changed = mulan_arff.read_split("bibtex", "train", root=dummy_root)
    assert len(changed.rows) == len(first.rows) - 1


def test_dummy_data_is_the_real_header_and_first_rows():
    for name in COUNTS:
        info = mulan_arff.DATASETS[name]
        for split, rows in (("train", 20), ("test", 3)):
            dummy = mulan_arff.read_split(name, split, root=DUMMY)
            real = mulan_arff.read_split(name, split)
            assert len(dummy.rows) == rows
            np.testing.assert_array_equal(dummy.features,
                                          real.features[:rows])
            np.testing.assert_array_equal(dummy.labels, real.labels[:rows])
        assert ((DUMMY / name / info.xml_file).read_bytes()
                == (HERE / name / info.xml_file).read_bytes())


# ---------------------------------------------------------------------------
# Errors of read_split: one line naming the file.


def test_missing_file_is_named(tmp_path):
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=tmp_path)
    message = _one_line_naming(error, tmp_path / "bibtex")
    assert "not found" in message


def test_unknown_dataset_and_split_are_refused():
    with pytest.raises(mulan_arff.MulanDataError, match="known: bibtex"):
        mulan_arff.read_split("emotions", "train")
    with pytest.raises(mulan_arff.MulanDataError, match="validation"):
        mulan_arff.read_split("bibtex", "dev")


def test_unparseable_arff_names_the_file_and_line(dummy_root):
    path = dummy_root / "bibtex" / "bibtex-test.arff"
    _edit(path, "@data\n{", "@data\n{oops 1,")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    message = _one_line_naming(error, path)
    line = path.read_text().splitlines().index("@data") + 2
    assert "not valid ARFF" in message and f"line {line}" in message


def test_wrong_attribute_count_is_refused(dummy_root):
    path = dummy_root / "delicious" / "delicious-test.arff"
    _edit(path, "@attribute accessing {0,1}\n", "")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("delicious", "test", root=dummy_root)
    assert "expected 1483 attributes" in _one_line_naming(error, path)
    assert "got 1482" in str(error.value)


def test_label_names_differing_from_the_xml_are_refused(dummy_root):
    path = dummy_root / "bibtex" / "bibtex-test.arff"
    _edit(path, "@attribute TAG_2005 ", "@attribute TAG_2005b ")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    message = _one_line_naming(error, path)
    assert "'TAG_2005b'" in message and "bibtex.xml" in message


def test_wrong_number_of_xml_labels_is_refused(dummy_root):
    xml = dummy_root / "bibtex" / "bibtex.xml"
    _edit(xml, '<label name="TAG_2005"></label>\n', "")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    assert "expected 159 labels" in _one_line_naming(error, xml)


def test_non_binary_label_is_refused(dummy_root):
    path = dummy_root / "bibtex" / "bibtex-test.arff"
    # A numeric label attribute holding 0.5: parses, but is not 0/1.
    _edit(path, "@attribute TAG_2005 {0,1}", "@attribute TAG_2005 numeric")
    _edit(path, "@data\n{", "@data\n{1836 0.5,")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    message = _one_line_naming(error, path)
    assert "'TAG_2005'" in message and "not 0 or 1" in message
    assert "data row 0" in message


def test_label_outside_its_nominal_values_is_refused(dummy_root):
    path = dummy_root / "bibtex" / "bibtex-test.arff"
    _edit(path, "@data\n{", "@data\n{1836 2,")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    assert "not valid ARFF" in _one_line_naming(error, path)


def test_missing_value_is_refused(dummy_root):
    path = dummy_root / "bibtex" / "bibtex-test.arff"
    _edit(path, "@data\n{", "@data\n{3 ?,")
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root)
    assert "missing value" in _one_line_naming(error, path)


def test_row_counts_are_checked_for_the_standard_files(dummy_root):
    # The dummy files have 3 test rows; the standard file has 2515.
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_split("bibtex", "test", root=dummy_root,
                              check_counts=True)
    message = _one_line_naming(error, dummy_root / "bibtex")
    assert "expected 2515 rows" in message and "got 3" in message
    # Not checked by default for another root.
    assert len(mulan_arff.read_split("bibtex", "test",
                                     root=dummy_root).rows) == 3


def test_builder_refuses_an_incomplete_folder_at_once(tmp_path):
    import tensorflow_datasets as tfds
    from unittest import mock

    with mock.patch.object(mb.Builder, "public_dir", tmp_path / "none"):
        builder = tfds.builder("mulan/delicious", data_dir=tmp_path / "data")
        with pytest.raises(mulan_arff.MulanDataError) as error:
            builder.download_and_prepare()
    message = _one_line_naming(error, tmp_path / "none" / "delicious")
    assert "reinstall" in message


# ---------------------------------------------------------------------------
# read_user_features.


def _csv(path, rows, header=None):
    lines = [",".join(header)] if header else []
    lines += [",".join(f"{value:g}" for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_user_csv_with_and_without_header(tmp_path, name):
    test = mulan_arff.read_split(name, "test")
    rows = test.features[[4, 0, 7]]
    plain = _csv(tmp_path / "plain.csv", rows)
    # Some Bibtex feature names are numbers ("0", "2005"): still a header.
    headed = _csv(tmp_path / "headed.csv", rows, header=test.feature_names)
    other = _csv(tmp_path / "other.csv", rows,
                 header=[f"c{i}" for i in range(len(test.feature_names))])
    for path in (plain, headed, other):
        features = mulan_arff.read_user_features(path, name)
        assert features.dtype == np.float32
        assert features.shape == rows.shape
        np.testing.assert_array_equal(features, rows)


def test_user_arff_made_of_shipped_test_rows(tmp_path):
    source = HERE / "bibtex" / "bibtex-test.arff"
    header, data = source.read_text().split("@data\n", 1)
    lines = data.strip().splitlines()
    # Sparse, with the dataset's attribute names (labels are ignored).
    path = tmp_path / "rows.arff"
    path.write_text(header + "@data\n" + "\n".join(lines[5:8]) + "\n")
    test = mulan_arff.read_split("bibtex", "test")
    np.testing.assert_array_equal(
        mulan_arff.read_user_features(path, "bibtex"), test.features[5:8])
    # Attributes reordered and label attributes dropped, still by name.
    names = list(test.feature_names)
    reordered = tmp_path / "reordered.arff"
    reordered.write_text(
        "@relation r\n"
        + "".join(f"@attribute '{n}' numeric\n" for n in names[::-1])
        + "@data\n"
        + "\n".join(",".join(f"{v:g}" for v in row[::-1])
                    for row in test.features[5:8]) + "\n")
    np.testing.assert_array_equal(
        mulan_arff.read_user_features(reordered, "bibtex"),
        test.features[5:8])
    # Dense, unnamed: exactly F numeric attributes in the dataset's order.
    dense = tmp_path / "dense.arff"
    dense.write_text(
        "@relation d\n"
        + "".join(f"@attribute f{i} numeric\n" for i in range(len(names)))
        + "@data\n"
        + "\n".join(",".join(f"{v:g}" for v in row)
                    for row in test.features[5:8]) + "\n")
    np.testing.assert_array_equal(
        mulan_arff.read_user_features(dense, "bibtex"), test.features[5:8])


def _user_error(path, name="delicious"):
    with pytest.raises(mulan_arff.MulanDataError) as error:
        mulan_arff.read_user_features(path, name)
    return _one_line_naming(error, path)


def test_user_file_errors(tmp_path):
    good = [0.0] * 500
    assert "not found" in _user_error(tmp_path / "absent.csv")
    text = tmp_path / "rows.txt"
    text.write_text("0,1\n")
    assert "unknown extension '.txt'" in _user_error(text)
    short = _csv(tmp_path / "short.csv", [good, good[:3]])
    assert "line 2: expected 500 columns" in _user_error(short)
    assert "got 3" in _user_error(short)
    word = _csv(tmp_path / "word.csv", [good, good])
    _edit(word, "0,0", "0,x")
    message = _user_error(word)
    assert "non-numeric value 'x' at line 1, column 2" in message
    # A header row followed by a bad row: the line is the file's.
    headed = tmp_path / "headed.csv"
    headed.write_text(",".join(f"c{i}" for i in range(500)) + "\n"
                      + ",".join(["0"] * 499 + ["y"]) + "\n")
    assert "'y' at line 2, column 500" in _user_error(headed)
    for bad in ("nan", "inf", "-Infinity"):
        path = tmp_path / f"{bad}.csv"
        path.write_text(",".join(["1"] * 499 + [bad]) + "\n")
        assert "not finite" in _user_error(path), bad
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "no data rows" in _user_error(empty)
    only_header = tmp_path / "header.csv"
    only_header.write_text(",".join(f"c{i}" for i in range(500)) + "\n")
    assert "no data rows" in _user_error(only_header)


def test_user_arff_errors(tmp_path):
    def arff_file(name, attributes, rows):
        path = tmp_path / name
        path.write_text(
            "@relation u\n"
            + "".join(f"@attribute {a} numeric\n" for a in attributes)
            + "@data\n" + "".join(row + "\n" for row in rows))
        return path

    names = [f"a{i}" for i in range(500)]
    few = arff_file("few.arff", names[:3], ["1,2,3"])
    message = _user_error(few)
    assert "expected 500 feature attributes" in message and "got 3" in message
    nan = arff_file("nan.arff", names, [",".join(["0"] * 499 + ["nan"])])
    assert "not finite" in _user_error(nan)
    word = arff_file("word.arff", names, [",".join(["0"] * 499 + ["z"])])
    assert "not valid ARFF" in _user_error(word)
    assert "line 503" in _user_error(word)
    missing = arff_file("missing.arff", names, [",".join(["0"] * 499 + ["?"])])
    assert "missing value" in _user_error(missing)
    nominal = tmp_path / "nominal.arff"
    nominal.write_text(
        "@relation u\n"
        + "".join(f"@attribute {a} {{low,high}}\n" for a in names)
        + "@data\n" + ",".join(["low"] * 500) + "\n")
    assert "non-numeric value 'low'" in _user_error(nominal)
    empty = arff_file("empty.arff", names, [])
    assert "no data rows" in _user_error(empty)
    blank = tmp_path / "blank.arff"
    blank.write_text("")
    assert "not valid ARFF" in _user_error(blank)
