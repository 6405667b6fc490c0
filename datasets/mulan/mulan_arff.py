"""Reading the Mulan multi-label benchmarks Bibtex and Delicious (numpy).

Each dataset ships in its own folder, byte-identical to the Mulan release::

    bibtex/bibtex-train.arff  bibtex/bibtex-test.arff  bibtex/bibtex.xml
    delicious/delicious-train.arff  ...  delicious/delicious.xml

The ARFF files are sparse (`{index value, ...}` rows); every attribute is
`{0,1}`. The labels are the LAST `num_labels` attributes, named (in order)
by the `<label name=...>` elements of the `*.xml` header file; the others
are the features (binary bag-of-words).

Splits (`SPLITS`): `train` and `test` are the standard files unchanged;
`validation` is the fixed slice of the standard train file made of the rows
whose 0-based index i has i % 10 == 9, and `train_without_validation` the
other train rows (so the two partition `train`).

This module is the one reader of these files: the TFDS builder and the
multi-label task family go through it. Files are parsed with liac-arff
(`arff`), densified with numpy, checked against `DATASETS` (attribute
count, label names, 0/1 labels, and, for the shipped data, the row counts)
and cached per file (path, mtime, size) in-process. Errors about the data
are `MulanDataError`, one line naming the file.
"""

import csv
import dataclasses
import functools
import math
import pathlib
import xml.etree.ElementTree as ElementTree

import arff
import numpy as np

# The folder holding the shipped bibtex/ and delicious/ folders.
SHIPPED_ROOT = pathlib.Path(__file__).resolve().parent
SPLITS = ("train", "test", "validation", "train_without_validation")
# Rows i of the standard train file with i % VALIDATION_EVERY ==
# VALIDATION_REMAINDER form the `validation` split.
VALIDATION_EVERY = 10
VALIDATION_REMAINDER = 9


@dataclasses.dataclass(frozen=True)
class MulanInfo:
    """What one Mulan dataset is: sizes, file names (relative to the
    dataset's folder) and the reference to cite."""

    name: str
    num_features: int
    num_labels: int
    num_train: int
    num_test: int
    train_file: str
    test_file: str
    xml_file: str
    citation: str
    homepage: str = "https://mulan.sourceforge.net/datasets-mlc.html"


DATASETS = {
    "bibtex": MulanInfo(
        name="bibtex", num_features=1836, num_labels=159,
        num_train=4880, num_test=2515,
        train_file="bibtex-train.arff", test_file="bibtex-test.arff",
        xml_file="bibtex.xml",
        citation="I. Katakis, G. Tsoumakas, I. Vlahavas. Multilabel Text "
        "Classification for Automated Tag Suggestion. Proceedings of the "
        "ECML/PKDD 2008 Discovery Challenge, Antwerp, Belgium, 2008."),
    "delicious": MulanInfo(
        name="delicious", num_features=500, num_labels=983,
        num_train=12920, num_test=3185,
        train_file="delicious-train.arff", test_file="delicious-test.arff",
        xml_file="delicious.xml",
        citation="G. Tsoumakas, I. Katakis, I. Vlahavas. Effective and "
        "Efficient Multilabel Classification in Domains with Large Number "
        "of Labels. Proc. ECML/PKDD 2008 Workshop on Mining "
        "Multidimensional Data (MMD'08), Antwerp, Belgium, 2008."),
}


class MulanDataError(ValueError):
    """A Mulan (or user) data file is missing or unusable; the message is one
    line naming the file and the problem."""

    def __init__(self, message):
        super().__init__(" ".join(str(message).split()))


@dataclasses.dataclass(frozen=True)
class MulanSplit:
    """One split, dense.

    features: float32 (n, num_features); labels: uint8 (n, num_labels) of
    0/1; feature_names, label_names: tuples of attribute names; rows: int64
    (n,), the 0-based index of each row in its ARFF file. For `train` and
    `test` the arrays are the cached ones, read-only.
    """

    name: str
    split: str
    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple
    label_names: tuple
    rows: np.ndarray


def dataset_info(name):
    """`DATASETS[name]`, or MulanDataError naming the known datasets."""
    try:
        return DATASETS[name]
    except KeyError:
        raise MulanDataError(
            f"unknown Mulan dataset {name!r}; known: "
            f"{', '.join(sorted(DATASETS))}") from None


def split_paths(name, root=None):
    """(train ARFF, test ARFF, xml) paths of dataset `name` under `root`
    (None: the shipped folder)."""
    info = dataset_info(name)
    folder = pathlib.Path(SHIPPED_ROOT if root is None else root) / name
    return (folder / info.train_file, folder / info.test_file,
            folder / info.xml_file)


def read_split(name, split, root=None, check_counts=None):
    """Split `split` (one of SPLITS) of dataset `name` as a MulanSplit.

    Args:
        name: "bibtex" or "delicious".
        split: "train", "test", "validation" or "train_without_validation".
        root: a folder with the shipped layout (`<root>/bibtex/...`); None
            reads the shipped data.
        check_counts: also require the standard row counts; default: only
            when reading the shipped data (a `root` such as the builder's
            dummy_data may hold fewer rows). Attribute count, label names
            and 0/1 labels are always checked.

    Raises:
        MulanDataError: missing or unusable file (one line naming it).
    """
    info = dataset_info(name)
    if split not in SPLITS:
        raise MulanDataError(
            f"unknown split {split!r} of Mulan {name}; known: "
            f"{', '.join(SPLITS)}")
    train_path, test_path, xml_path = split_paths(name, root)
    if check_counts is None:
        check_counts = (root is None or pathlib.Path(root).resolve()
                        == SHIPPED_ROOT)
    if split == "test":
        path, expected = test_path, info.num_test
    else:
        path, expected = train_path, info.num_train
    features, labels, feature_names, label_names = _load_checked(
        info, path, xml_path)
    if check_counts and len(features) != expected:
        raise MulanDataError(
            f"{path}: expected {expected} rows (Mulan {name} "
            f"{'test' if split == 'test' else 'train'} file), got "
            f"{len(features)}")
    rows = np.arange(len(features), dtype=np.int64)
    if split in ("validation", "train_without_validation"):
        in_validation = rows % VALIDATION_EVERY == VALIDATION_REMAINDER
        rows = rows[in_validation if split == "validation"
                    else ~in_validation]
        features, labels = features[rows], labels[rows]
    return MulanSplit(name=name, split=split, features=features,
                      labels=labels, feature_names=feature_names,
                      label_names=label_names, rows=rows)


def read_label_names(xml_path):
    """The label names of a Mulan `*.xml` header file, in order."""
    xml_path = pathlib.Path(xml_path)
    if not xml_path.is_file():
        raise MulanDataError(f"{xml_path}: file not found")
    try:
        tree = ElementTree.parse(xml_path)
    except ElementTree.ParseError as error:
        raise MulanDataError(f"{xml_path}: not valid XML: {error}") from None
    names = [element.get("name") for element in tree.iter()
             if element.tag.rsplit("}", 1)[-1] == "label"]
    if not names or None in names:
        raise MulanDataError(
            f"{xml_path}: no <label name=...> elements (a Mulan labels file "
            "lists one per label)")
    return tuple(names)


def read_user_features(path, name):
    """Rows to label, from a user's `.arff` or `.csv` file: float32 (n, F).

    `.arff` (dense or sparse rows): when it declares every feature attribute
    of dataset `name` (by name), those columns are taken in the dataset's
    order and any other attribute (e.g. the labels) is ignored; otherwise
    it must have exactly F attributes, all numeric. `.csv`: exactly F
    numeric columns, an optional header row (a first row of the dataset's
    feature names, or holding no number). Values must be finite numbers.

    Raises:
        MulanDataError: missing file, unknown extension, wrong number of
            columns, non-numeric, missing, NaN or infinite value, no rows.
    """
    info = dataset_info(name)
    path = pathlib.Path(path)
    if not path.is_file():
        raise MulanDataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".arff":
        features = _user_arff(path, info)
    elif suffix == ".csv":
        features = _user_csv(path, info)
    else:
        raise MulanDataError(
            f"{path}: unknown extension {path.suffix!r}; expected .arff or "
            ".csv")
    if not len(features):
        raise MulanDataError(f"{path}: no data rows")
    return features


def read_table(path, header_names=()):
    """Every column of a user's `.arff` or `.csv` file, for any dataset.

    `.arff`: dense or sparse rows, numeric (or numeric-valued nominal, e.g.
    Mulan's `{0,1}`) attributes; absent sparse values are 0. `.csv`: one row
    per line, numeric cells; a first row holding no number (or equal to
    `header_names`) is a header naming the columns, otherwise the columns
    are named column_1, column_2, ...

    Returns:
        (attribute names tuple, float32 (n, A) values).

    Raises:
        MulanDataError: missing file, unknown extension, unparseable file,
            ragged CSV rows, duplicate names, a missing (`?`), non-numeric,
            NaN or infinite value, no data rows (one line naming the file).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise MulanDataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".arff":
        # DENSE decodes dense and sparse rows, empty sparse rows included.
        attributes, values = _parse_arff(path, return_type=arff.DENSE)
        names = tuple(attribute for attribute, _ in attributes)
    elif suffix == ".csv":
        names, values = _csv_table(path, tuple(header_names))
    else:
        raise MulanDataError(
            f"{path}: unknown extension {path.suffix!r}; expected .arff or "
            ".csv")
    if not len(values):
        raise MulanDataError(f"{path}: no data rows")
    return names, values


def check_binary_labels(path, labels, label_names):
    """`labels` (n, L) if every value is 0 or 1, else MulanDataError naming
    file `path`, the label and the first data row that is not."""
    bad = np.argwhere((labels != 0) & (labels != 1))
    if len(bad):
        row, column = bad[0]
        raise MulanDataError(
            f"{path}: label {label_names[column]!r} of data row {row} is "
            f"{labels[row, column]:g}, not 0 or 1")
    return labels


def read_feature_rows(path, feature_names, what="the model's"):
    """Rows to label for a model trained on the features `feature_names`
    (a user's own-data preset), float32 (n, F).

    When the file names every one of `feature_names` (ARFF attributes or a
    CSV header), those columns are taken in that order and any other (e.g.
    labels) is ignored; otherwise it must have exactly F columns.

    Raises:
        MulanDataError: as `read_table`, or a wrong number of columns.
    """
    feature_names = tuple(feature_names)
    names, values = read_table(path, header_names=feature_names)
    positions = {name: column for column, name in enumerate(names)}
    if all(name in positions for name in feature_names):
        columns = [positions[name] for name in feature_names]
    elif len(names) == len(feature_names):
        columns = list(range(len(names)))
    else:
        raise MulanDataError(
            f"{path}: expected {len(feature_names)} feature columns ({what}), "
            f"got {len(names)}, and they are not {what} feature names")
    return np.ascontiguousarray(values[:, columns], dtype=np.float32)


# ---------------------------------------------------------------------------
# Internals.


def _file_key(path):
    path = pathlib.Path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise MulanDataError(f"{path}: file not found") from None
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _load_checked(info, path, xml_path):
    return _load_checked_cached(info.name, _file_key(path),
                                _file_key(xml_path))


@functools.lru_cache(maxsize=16)
def _load_checked_cached(name, arff_key, xml_key):
    """Parsed and checked (features, labels, feature_names, label_names) of
    one ARFF file; keyed by (path, mtime, size) of it and of its xml, so an
    edited file is read again."""
    info = DATASETS[name]
    path = pathlib.Path(arff_key[0])
    label_names = read_label_names(xml_key[0])
    if len(label_names) != info.num_labels:
        raise MulanDataError(
            f"{xml_key[0]}: expected {info.num_labels} labels (Mulan "
            f"{name}), got {len(label_names)}")
    attributes, values = _parse_arff(path)
    expected = info.num_features + info.num_labels
    if len(attributes) != expected:
        raise MulanDataError(
            f"{path}: expected {expected} attributes ({info.num_features} "
            f"features + {info.num_labels} labels of Mulan {name}), got "
            f"{len(attributes)}")
    names = tuple(attribute for attribute, _ in attributes)
    if names[info.num_features:] != label_names:
        index = next(i for i, (got, want) in enumerate(
            zip(names[info.num_features:], label_names)) if got != want)
        raise MulanDataError(
            f"{path}: attribute {info.num_features + index} is "
            f"{names[info.num_features + index]!r} but label {index} of "
            f"{xml_key[0]} is {label_names[index]!r} (the labels must be "
            "the last attributes, in the xml's order)")
    features = np.ascontiguousarray(values[:, :info.num_features])
    labels = check_binary_labels(path, values[:, info.num_features:],
                                 label_names).astype(np.uint8)
    for array in (features, labels):
        array.setflags(write=False)
    return features, labels, names[:info.num_features], label_names


def _arff_error(path, error):
    return MulanDataError(f"{path}: not valid ARFF: {error}")


def _parse_arff(path, return_type=arff.LOD):
    """(attributes, float32 (n, A) values) of an ARFF file.

    LOD (one dict per row) rather than COO: liac-arff's COO decoder drops
    empty sparse rows (`{}`), which would lose rows and their indices.
    """
    try:
        with open(path, encoding="utf-8") as stream:
            parsed = arff.load(stream, return_type=return_type)
    except FileNotFoundError:
        raise MulanDataError(f"{path}: file not found") from None
    except arff.ArffException as error:
        raise _arff_error(path, error) from None
    except (UnicodeDecodeError, ValueError, TypeError) as error:
        raise _arff_error(path, error) from None
    attributes = parsed["attributes"]
    data = parsed["data"]
    # The value of an attribute absent from a sparse row: 0, i.e. the first
    # declared value of a nominal attribute.
    defaults = np.zeros(len(attributes))
    for column, (_, kind) in enumerate(attributes):
        if isinstance(kind, (list, tuple)):
            defaults[column] = _number(kind[0]) or 0.0
    rows, columns, raw = [], [], []
    for row, record in enumerate(data):
        if not isinstance(record, dict):
            record = dict(enumerate(record))
        rows.extend([row] * len(record))
        columns.extend(record)
        raw.extend(record.values())
    # Nominal values are strings ("0", "1"): convert each distinct one once.
    numbers = {value: _number(value) for value in set(raw)}
    converted = np.array([numbers[value] for value in raw], dtype=float)
    with np.errstate(over="ignore"):
        converted = converted.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(converted))
    if len(bad):
        first = bad[0]
        value, column = raw[first], columns[first]
        problem = ("missing value ('?')" if value is None
                   else f"non-numeric value {value!r}"
                   if numbers[value] is None else f"{value!r} (not finite)")
        raise MulanDataError(
            f"{path}: {problem} in data row {rows[first]}, attribute "
            f"{column} ({attributes[column][0]!r})")
    values = np.empty((len(data), len(attributes)), dtype=np.float32)
    values[:] = defaults
    values[rows, columns] = converted
    return attributes, values


def _number(text):
    """float(text), or None when it is not a number (NaN for None would hide
    a missing value: the caller tells them apart)."""
    if text is None or isinstance(text, bool):
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _shipped_feature_names(info):
    _, test_path, xml_path = split_paths(info.name)
    return _load_checked(info, test_path, xml_path)[2]


def _user_arff(path, info):
    # DENSE decodes both dense and sparse rows (filling sparse ones).
    attributes, values = _parse_arff(path, return_type=arff.DENSE)
    names = [attribute for attribute, _ in attributes]
    positions = {attribute: column for column, attribute in enumerate(names)}
    wanted = _shipped_feature_names(info)
    if all(feature in positions for feature in wanted):
        columns = [positions[feature] for feature in wanted]
    elif len(names) == info.num_features:
        columns = list(range(len(names)))
    else:
        raise MulanDataError(
            f"{path}: expected {info.num_features} feature attributes (Mulan "
            f"{info.name}), got {len(names)}, and they are not the dataset's "
            "attribute names")
    return np.ascontiguousarray(values[:, columns], dtype=np.float32)


def _csv_rows(path):
    """[(line number, cells)] of a CSV's non-blank lines."""
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            return [(number, row) for number, row in
                    enumerate(csv.reader(stream), start=1)
                    if any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error) as error:
        raise MulanDataError(f"{path}: not readable CSV: {error}") from None


def _csv_values(path, rows, width, expected):
    """float32 (n, width) of CSV rows; every row must have `width` cells
    (`expected` says why, for the message), finite numbers."""
    values = np.empty((len(rows), width), dtype=np.float32)
    for index, (line, row) in enumerate(rows):
        if len(row) != width:
            raise MulanDataError(
                f"{path}: line {line}: expected {width} columns "
                f"({expected}), got {len(row)}")
        for column, cell in enumerate(row, start=1):
            number = _number(cell)
            if number is None:
                raise MulanDataError(
                    f"{path}: non-numeric value {cell!r} at line {line}, "
                    f"column {column}")
            if not math.isfinite(number):
                raise MulanDataError(
                    f"{path}: {cell.strip()!r} (not finite) at line {line}, "
                    f"column {column}")
            values[index, column - 1] = number
    return values


def _csv_table(path, header_names):
    """(column names, float32 values) of a CSV (see `read_table`)."""
    rows = _csv_rows(path)
    names = None
    if rows:
        cells = tuple(cell.strip() for cell in rows[0][1])
        if (all(_number(cell) is None for cell in cells)
                or cells == header_names):
            names, rows = cells, rows[1:]
    if names is not None:
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise MulanDataError(
                f"{path}: the header names column {repeated[0]!r} more than "
                "once")
        expected = "as many as the header row"
    else:
        expected = "as many as line 1"
    width = len(names) if names is not None else (
        len(rows[0][1]) if rows else 0)
    values = _csv_values(path, rows, width, expected)
    if names is None:
        names = tuple(f"column_{i}" for i in range(1, width + 1))
    return names, values


def _user_csv(path, info):
    rows = _csv_rows(path)
    if rows and _is_header(rows[0][1], info):
        rows = rows[1:]
    return _csv_values(path, rows, info.num_features,
                       f"Mulan {info.name} features")


def _is_header(row, info):
    """A CSV's first row is a header when it names the dataset's features
    (some of Bibtex's names are numbers, e.g. "2005") or holds no number at
    all; otherwise it is data, and a typo in it is an error, not a header."""
    cells = tuple(cell.strip() for cell in row)
    if all(_number(cell) is None for cell in cells):
        return True
    return cells == _shipped_feature_names(info)
