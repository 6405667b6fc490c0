"""Your own multi-label data: read it, train any multi-label recipe on it.

The shipped presets train on Mulan Bibtex and Delicious; this module takes
any multi-label data, from files or numpy arrays, through the same trainer
(`mlc_training.train_mlc`, `train_one_seed`) into a user preset folder that
`load_preset`, `MultiLabelClassifier.from_preset` and `spen-keras
predict-labels` use like a shipped one.

Files (`load_files`, `read_labelled_file`): an ARFF file (dense or sparse
rows, e.g. Mulan's or MEKA's) or a CSV (numeric cells; a first row holding
no number is a header naming the columns, else they are column_1, ...).
Which attributes are the labels (`labels`, `--labels`):

- ``14`` or ``"last:14"``: the last 14 attributes (Mulan's layout);
- ``"first:14"``: the first 14 (MEKA's layout);
- ``"prefix:tag_"``: every attribute whose name starts with ``tag_``;
- ``"labels.xml"``: the labels a Mulan XML label file names, wherever
  they are among the attributes.

The other attributes are the features. Labels must be 0 or 1, features
finite numbers. Validation (choosing the epoch and the decision threshold)
is a validation file with the same columns, or, without one, the fixed
slice of the training file Mulan's builder uses: the rows whose 0-based
index i has i % 10 == 9 (the others are fitted). A test file, if given, is
only scored (never chosen on).

Recipes (`recipe`, `--recipe`): a multi-label row, "br", "mlp",
"spen_ssvm", "spen_e2e" (default) or "spen_e2e_icnn", with the Bibtex
budgets (epochs), or a registered preset name (e.g.
"mlc_delicious_spen_e2e": that row with Delicious's budgets), or an
`MlcRecipe`.

Every problem with a file raises `MulanDataError`, with an argument
`MlcInputError`: one line naming the file or the argument (the command line
prints it, exit status 2).
"""

import contextlib
import dataclasses
import pathlib
import tempfile

import numpy as np

from spen_keras import presets
from spen_keras.datasets.mulan import mulan_arff
from spen_keras.datasets.mulan.mulan_arff import MulanDataError
from spen_keras.mlc import mlc_data
from spen_keras.mlc import mlc_presets
from spen_keras.mlc import mlc_training
from spen_keras.mlc.mlc_recipe import FAMILY
from spen_keras.mlc.mlc_recipe import MlcRecipe
from spen_keras.mlc.user_files import MlcInputError

ROWS = tuple(mlc_presets.ROWS)
DEFAULT_RECIPE = "spen_e2e"
#: Whose epoch budgets a recipe named by its row keeps.
DEFAULT_BUDGETS = "bibtex"
LABEL_FORMS = ("N", "last:N", "first:N", "prefix:TEXT", "FILE.xml")


# === Reading ===


def _label_rule(labels):
    """("last" | "first", N), ("prefix", text) or ("xml", path)."""
    text = "" if isinstance(labels, (bool, float)) else str(labels).strip()
    how, colon, value = text.partition(":")
    if not colon:
        how, value = "", text
    if text.lower().endswith(".xml"):
        return "xml", pathlib.Path(text)
    if how == "prefix" and value:
        return how, value
    if how in ("", "last", "first"):
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count >= 1:
            return how or "last", count
    raise MlcInputError(f"--labels {labels!r}: expected one of "
                        f"{', '.join(LABEL_FORMS)} (N >= 1).")


def label_columns(names, labels, path):
    """The column indices of the labels among attribute `names` of file
    `path`, by the `labels` rule (see the module doc)."""
    how, value = _label_rule(labels)
    if how in ("last", "first"):
        if value >= len(names):
            raise MulanDataError(
                f"{path}: --labels {labels} asks for {value} label columns "
                f"but the file has {len(names)} (at least one must be a "
                "feature)")
        return (list(range(len(names) - value, len(names))) if how == "last"
                else list(range(value)))
    if how == "prefix":
        columns = [i for i, name in enumerate(names)
                   if name.startswith(value)]
        if not columns:
            raise MulanDataError(f"{path}: no column name starts with "
                                 f"{value!r} (--labels prefix:{value})")
    else:
        positions = {name: i for i, name in enumerate(names)}
        wanted = mulan_arff.read_label_names(value)
        missing = [name for name in wanted if name not in positions]
        if missing:
            raise MulanDataError(
                f"{path}: label {missing[0]!r} of {value} is not one of its "
                f"columns ({len(missing)} of the {len(wanted)} labels "
                "missing)")
        columns = [positions[name] for name in wanted]
    if len(columns) == len(names):
        raise MulanDataError(f"{path}: every column is a label by --labels "
                             f"{labels}; at least one must be a feature")
    return columns


def read_labelled_file(path, labels):
    """A user's labelled `.arff` or `.csv` file, split by `labels`.

    Returns:
        (features float32 (n, F), labels float32 (n, L) of 0/1, feature
        names, label names).

    Raises:
        MulanDataError: one line naming the file and the problem.
        MlcInputError: a `labels` rule that is not one of `LABEL_FORMS`.
    """
    names, values = mulan_arff.read_table(path)
    columns = label_columns(names, labels, path)
    features = [i for i in range(len(names)) if i not in set(columns)]
    label_names = tuple(names[i] for i in columns)
    y = mulan_arff.check_binary_labels(path, values[:, columns], label_names)
    return (np.ascontiguousarray(values[:, features]),
            np.ascontiguousarray(y), tuple(names[i] for i in features),
            label_names)


def validation_rows(count):
    """Boolean mask of the validation rows of a training file of `count`
    rows: 0-based index i with i % 10 == 9 (Mulan's builder's rule)."""
    rows = np.arange(count)
    return rows % mulan_arff.VALIDATION_EVERY == mulan_arff.VALIDATION_REMAINDER


def _fit_and_validation(x, y):
    """[(fitted rows), (validation rows)] of training rows split by
    `validation_rows`, or None when they are too few to hold one."""
    chosen = validation_rows(len(x))
    if not chosen.any():
        return None
    return [(x[~chosen], y[~chosen]), (x[chosen], y[chosen])]


def load_files(train, labels, validation=None, test=None, name=None):
    """A `MultiLabelData` of a user's files (see the module doc).

    Args:
        train: the training `.arff` or `.csv` file.
        labels: which columns are the labels (`LABEL_FORMS`).
        validation: a file with the same columns; None: every 10th row of
            `train` (i % 10 == 9).
        test: an optional file with the same columns, only scored.
        name: the data's name (default: the training file's stem).

    Raises:
        MulanDataError: one line naming the file and the problem.
    """
    train = pathlib.Path(train)
    x, y, feature_names, label_names = read_labelled_file(train, labels)
    source = f"{train.resolve()} (labels: {labels})"
    if validation is None:
        pairs = _fit_and_validation(x, y)
        if pairs is None:
            raise MulanDataError(
                f"{train}: {len(x)} rows are too few for the validation "
                "slice (every 10th row); give at least 10 rows or a "
                "validation file")
        source += "; validation: its rows i % 10 == 9"
    else:
        pairs = [(x, y), _same_columns(validation, labels, train,
                                       feature_names, label_names)]
        source += f"; validation: {pathlib.Path(validation).resolve()}"
    if test is not None:
        pairs.append(_same_columns(test, labels, train, feature_names,
                                   label_names))
        source += f"; test: {pathlib.Path(test).resolve()}"
    return _data(name or train.stem, pairs, label_names, feature_names,
                 source)


def _same_columns(path, labels, train, feature_names, label_names):
    x, y, features, names = read_labelled_file(path, labels)
    for what, got, want in (("label", names, label_names),
                            ("feature", features, feature_names)):
        if got != want:
            raise MulanDataError(
                f"{path}: its {len(got)} {what} columns are not the "
                f"{len(want)} of the training file {train}"
                + (f" (first difference: {_first_difference(got, want)})"
                   if len(got) == len(want) else ""))
    return x, y


def _first_difference(got, want):
    index = next(i for i, (a, b) in enumerate(zip(got, want)) if a != b)
    return f"column {index} is {got[index]!r}, not {want[index]!r}"


def from_arrays(x_train, y_train, x_val=None, y_val=None, label_names=None,
                feature_names=None, x_test=None, y_test=None,
                name="own_data", source="numpy arrays"):
    """A `MultiLabelData` of numpy arrays: x (n, F) finite numbers, y (n, L)
    of 0/1. Without x_val/y_val, the rows i % 10 == 9 of the training
    arrays validate. Names default to feature_1.. and label_1...

    Raises:
        MlcInputError: mismatched shapes, non-finite features, labels not
            0/1, too few rows, wrong number of names.
    """
    x_train, y_train = _checked_pair(x_train, y_train, "training")
    if (x_val is None) != (y_val is None):
        raise MlcInputError("Give both x_val and y_val, or neither.")
    if x_val is None:
        pairs = _fit_and_validation(x_train, y_train)
        if pairs is None:
            raise MlcInputError(
                f"{len(x_train)} training rows are too few for the "
                "validation slice (every 10th row); give x_val and y_val.")
    else:
        pairs = [(x_train, y_train), _checked_pair(x_val, y_val,
                                                   "validation")]
    if (x_test is None) != (y_test is None):
        raise MlcInputError("Give both x_test and y_test, or neither.")
    if x_test is not None:
        pairs.append(_checked_pair(x_test, y_test, "test"))
    num_features, num_labels = x_train.shape[1], y_train.shape[1]
    for x, y in pairs[1:]:
        if x.shape[1] != num_features or y.shape[1] != num_labels:
            raise MlcInputError(
                f"Every split needs {num_features} features and "
                f"{num_labels} labels (as the training arrays); got "
                f"{x.shape[1]} and {y.shape[1]}.")
    label_names = _names(label_names, num_labels, "label")
    feature_names = _names(feature_names, num_features, "feature")
    return _data(name, pairs, label_names, feature_names, source)


def _checked_pair(x, y, split):
    x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or not len(x):
        raise MlcInputError(
            f"The {split} arrays must be x (n, F) and y (n, L) with the "
            f"same n >= 1; got shapes {x.shape} and {y.shape}.")
    if not np.isfinite(x).all():
        raise MlcInputError(f"The {split} features contain NaN or Inf.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise MlcInputError(f"The {split} labels must be 0 or 1.")
    return x, y


def _names(names, count, what):
    if names is None:
        return tuple(f"{what}_{i}" for i in range(1, count + 1))
    names = tuple(str(n) for n in names)
    if len(names) != count or len(set(names)) != count:
        raise MlcInputError(f"Expected {count} distinct {what} names; got "
                            f"{len(names)} ({len(set(names))} distinct).")
    return names


def _data(name, pairs, label_names, feature_names, source):
    name = str(name)
    if not name or any(c in name for c in "/\\") or name in (".", ".."):
        raise MlcInputError(f"The data's name {name!r} names preset and "
                            "backup folders: give one without '/' or '\\'.")
    frozen = []
    for x, y in pairs:
        pair = (np.array(x, np.float32), np.array(y, np.float32))
        for array in pair:
            array.flags.writeable = False
        frozen.append(pair)
    test = frozen[2] if len(frozen) > 2 else None
    return mlc_data.MultiLabelData(name, frozen[0], frozen[1], test,
                                   tuple(label_names), tuple(feature_names),
                                   source=source)


# === Training ===


def recipe_spec(recipe=DEFAULT_RECIPE):
    """The registered `PresetSpec` of a recipe given as a row name
    ("spen_e2e": Bibtex's budgets), a registered mlc preset name, or an
    `MlcRecipe` (its dataset's row of the same model)."""
    if isinstance(recipe, MlcRecipe):
        row = {"br": "br", "mlp": "mlp"}.get(recipe.model) or (
            "spen_ssvm" if recipe.training_mode == "ssvm" else
            "spen_e2e_icnn" if recipe.input_convex else "spen_e2e")
        spec = presets.get_spec(mlc_presets.preset_name(recipe.dataset, row))
        return dataclasses.replace(spec, recipe=recipe)
    name = str(recipe)
    if name in ROWS:
        name = mlc_presets.preset_name(DEFAULT_BUDGETS, name)
    if name not in presets.list_presets(family=FAMILY):
        raise MlcInputError(
            f"Unknown multi-label recipe {str(recipe)!r}; expected a row "
            f"({', '.join(ROWS)}) or a preset of `spen-keras zoo list "
            "--table mlc`.")
    return presets.get_spec(name)


def own_spec(spec, data):
    """`spec` renamed for a user's data: its name, row and description say
    what data and recipe made the preset; no paper value."""
    row = spec.name.split("_", 2)[2]
    label = mlc_presets.ROWS[row][0]
    return dataclasses.replace(
        spec, name=f"{data.name}_{row}", row=f"{label} on {data.name}",
        paper_value=None, paper_values=None,
        description=(f"{label} trained on {data.name} with the recipe of "
                     f"{spec.name}"))


def train_preset(data, output_dir, recipe=DEFAULT_RECIPE, steps=None,
                 seeds=None, overwrite=False, backup_dir=None, command=None,
                 verbose=1):
    """Trains a recipe on a user's `MultiLabelData` into a preset folder.

    The kind's own trainer (`mlc_training.train_mlc`) does it: every seed
    (the recipe's three, or `seeds`), the first one saved, resumable by
    seed and by epoch from `backup_dir`. The folder is refused inside the installed
    package, and over an existing non-empty folder unless `overwrite`.

    Args:
        data: from `load_files` or `from_arrays`.
        output_dir: the preset folder to write.
        recipe: see `recipe_spec`.
        steps: cap optimizer steps per training phase and train the first
            seed only (quick runs).
        seeds: the seeds to train (the first one's model is saved).
        backup_dir: resumable state (default runs/backup/<name>_<row>).

    Returns:
        The preset's metadata (also in its metadata.json).
    """
    spec = own_spec(recipe_spec(recipe), data)
    backup_dir = backup_dir or pathlib.Path("runs") / "backup" / spec.name
    return mlc_training.train_mlc(
        spec, output_dir, backup_dir, steps=steps, seeds=seeds,
        overwrite=overwrite, verbose=verbose, data=data,
        command=command or f"spen_keras.mlc.own_data.train_preset "
                           f"(recipe {spec.recipe.model})")


def train_classifier(x_train, y_train, x_val=None, y_val=None,
                     label_names=None, recipe=DEFAULT_RECIPE, *,
                     feature_names=None, x_test=None, y_test=None,
                     name="own_data", output_dir=None, overwrite=False,
                     steps=None, seeds=None, verbose=0):
    """Trains a multi-label recipe on numpy arrays; returns the classifier.

    Args:
        x_train, y_train: features (n, F) and 0/1 labels (n, L).
        x_val, y_val: validation rows (epoch and threshold); None: the
            training rows i % 10 == 9 (the rest are fitted).
        label_names, feature_names: names (default label_1.., feature_1..).
        recipe: "br", "mlp", "spen_ssvm", "spen_e2e", "spen_e2e_icnn", a
            registered mlc preset name or an `MlcRecipe` (`recipe_spec`).
        x_test, y_test: optional rows scored into the metadata.
        name: the data's name, recorded in the preset.
        output_dir: a preset folder to write (None: a temporary one).
        steps, seeds, overwrite, verbose: as `train_preset`.

    Returns:
        The saved preset loaded back, a `MultiLabelClassifier` whose
        `metadata` holds every seed's scores (`per_seed`, `seed_summary`).
    """
    data = from_arrays(x_train, y_train, x_val, y_val, label_names,
                       feature_names, x_test, y_test, name=name)
    with contextlib.ExitStack() as stack:
        scratch = pathlib.Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="spen-keras-mlc-")))
        folder = output_dir or scratch / "preset"
        train_preset(data, folder, recipe, steps=steps, seeds=seeds,
                     overwrite=overwrite, backup_dir=scratch / "backup",
                     command="spen_keras.mlc.own_data.train_classifier",
                     verbose=verbose)
        return presets.load_preset(pathlib.Path(folder))


# === Writing files (examples, tests, converting arrays) ===


def write_arff(path, x, y, feature_names=None, label_names=None,
               sparse=False, relation="multi_label"):
    """Writes features and 0/1 labels as an ARFF file, the labels last
    (Mulan's layout): numeric features, `{0,1}` labels; sparse rows
    (`{index value, ...}`, zeros left out) with `sparse=True`."""
    x, y = np.asarray(x), np.asarray(y)
    names = (_names(feature_names, x.shape[1], "feature")
             + _names(label_names, y.shape[1], "label"))
    lines = [f"@relation {_quote(relation)}", ""]
    lines += [f"@attribute {_quote(n)} numeric" for n in names[:x.shape[1]]]
    lines += [f"@attribute {_quote(n)} {{0,1}}" for n in names[x.shape[1]:]]
    lines += ["", "@data"]
    for row in np.concatenate([x.astype(float), y.astype(float)], axis=1):
        if sparse:
            lines.append("{" + ",".join(f"{i} {v:g}" for i, v in
                                        enumerate(row) if v) + "}")
        else:
            lines.append(",".join(f"{v:g}" for v in row))
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return pathlib.Path(path)


def write_csv(path, x, y, feature_names=None, label_names=None):
    """Writes features then 0/1 labels as a CSV with a header row."""
    x, y = np.asarray(x), np.asarray(y)
    names = (_names(feature_names, x.shape[1], "feature")
             + _names(label_names, y.shape[1], "label"))
    rows = np.concatenate([x.astype(float), y.astype(float)], axis=1)
    lines = [",".join(names)] + [",".join(f"{v:g}" for v in row)
                                 for row in rows]
    pathlib.Path(path).write_text("\n".join(lines) + "\n")
    return pathlib.Path(path)


def write_label_xml(path, label_names):
    """Writes a Mulan XML label file naming `label_names`."""
    from xml.sax.saxutils import quoteattr

    body = "".join(f"<label name={quoteattr(str(n))}></label>\n"
                   for n in label_names)
    pathlib.Path(path).write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns='
        '"http://mulan.sourceforge.net/labels">\n' + body + "</labels>\n")
    return pathlib.Path(path)


def _quote(name):
    return "'" + str(name).replace("\\", "\\\\").replace("'", "\\'") + "'"


def synthetic_dataset(num_rows=1000, num_features=40, num_labels=14,
                      noise=1.0, seed=0):
    """A small multi-label dataset with correlated labels, for examples,
    tests and the benchmark.

    A hidden factor z (8 normal values) gives the features (a random linear
    map of z plus normal noise of scale `noise`) and the labels: two groups
    of 4 mutually exclusive labels (exactly one of each group is on: the
    argmax of noisy linear scores of z), then parent/child pairs (a child is
    only on when its parent is), for as many labels as remain; any odd one
    left is an independent label.

    Returns:
        (x float32 (n, F), y float32 (n, L) of 0/1, feature names, label
        names).
    """
    if num_labels < 8:
        raise ValueError(f"num_labels must be >= 8; got {num_labels}.")
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(num_rows, 8))
    x = z @ rng.normal(size=(8, num_features)) / np.sqrt(8)
    x += noise * rng.normal(size=x.shape)

    def score():
        return z @ rng.normal(size=8) + 0.5 * rng.normal(size=num_rows)

    columns = []
    for _ in range(2):  # mutually exclusive groups
        scores = np.stack([score() for _ in range(4)], axis=1)
        columns += list(np.eye(4)[scores.argmax(axis=1)].T)
    while len(columns) + 2 <= num_labels:  # parent, child (child => parent)
        parent = score() > 0
        columns += [parent, parent & (score() > 0)]
    if len(columns) < num_labels:
        columns.append(score() > 0.5)
    y = np.stack(columns, axis=1).astype(np.float32)
    names = ([f"group_a_{i}" for i in range(4)]
             + [f"group_b_{i}" for i in range(4)])
    for pair in range((num_labels - 8) // 2):
        names += [f"parent_{pair}", f"child_{pair}"]
    names += ["free"] * (num_labels - len(names))
    return (x.astype(np.float32), y, tuple(f"x{i}" for i in
                                           range(num_features)),
            tuple(names))


__all__ = ["LABEL_FORMS", "MlcInputError", "MulanDataError", "from_arrays",
           "load_files", "read_labelled_file", "recipe_spec",
           "synthetic_dataset", "train_classifier", "train_preset",
           "write_arff", "write_csv", "write_label_xml"]
