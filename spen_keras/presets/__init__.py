"""Presets: named, pretrained models, task-neutral (the KerasHub pattern).

A preset is a folder::

    config.json         how to rebuild the model (a Keras object config, with
                        the build shape in `build_config`, or a non-Keras
                        kind's own settings)
    model.weights.h5    the weights (Keras kinds; other kinds hold their own
                        files, e.g. forest.npz)
    metadata.json       what it is and how it was made: kind, table, row,
                        metric, measured value, command, steps, seed, machine

Task families describe their presets with `PresetSpec`s and register them
(`register_presets`); the zoo registers the folder of shipped pretrained
presets (`register_shipped_root`). Nothing here knows a task: the spec names
a *kind* (how a preset folder is loaded and trained, see `PresetKind`) and
carries a family-defined `recipe` that the kind understands.

Resolution (`resolve_preset`) is predictable:

- a registered name ("dp_3") always means the shipped preset, never a folder
  of the same name in the current directory;
- a local preset is named by a path: "./dp_3", "/abs/dir", "~/presets/x" or a
  `pathlib.Path`.

Shipped presets are read-only: `save_to_preset` refuses to write inside a
shipped root and refuses to replace an existing preset unless
`overwrite=True` (and then keeps the old one until the new one has been
written and reloaded).

Every load failure raises `PresetError` naming the file and the problem.
"""

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any, Callable, Optional

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
KERAS_KIND = "keras"

_SPECS = {}
_KINDS = {}
_SHIPPED_ROOTS = []


class PresetError(ValueError):
    """A preset is unknown, missing files, unreadable or unusable."""


class PresetTypeError(PresetError, TypeError):
    """A preset holds another kind of model than the class asked to load it
    (`load_preset_as`); both a `PresetError` and a `TypeError`."""


@dataclasses.dataclass(frozen=True)
class PresetSpec:
    """One row of a paper's table, as a preset.

    Attributes:
        name: the preset's name ("dp_3"); also its shipped folder's name.
        family: the task family that registered it ("denoising").
        table: the table it reproduces ("table1").
        row: the row's label in that table ("DP-3").
        paper_value: the paper's number for the row (None where it has none;
            for a table with several columns, its primary column).
        metric: the table's metric ("PSNR (dB)").
        higher_is_better: direction of the metric.
        description: one line for `spen-keras zoo list`.
        kind: name of the registered `PresetKind` that loads and trains it.
        recipe: the kind's training recipe (family-defined object).
        tags: free labels that a table's claims select rows by
            (e.g. {"spen", "deep_prior", "end_to_end"}).
        paper_values: for a table with several columns, the paper's number
            per column name (None elsewhere).
    """

    name: str
    family: str
    table: str
    row: str
    paper_value: Optional[float]
    metric: str
    description: str
    kind: str
    recipe: Any = None
    higher_is_better: bool = True
    tags: frozenset = frozenset()
    paper_values: Optional[dict] = None

    @property
    def warm_start(self):
        """The preset this one's training starts from, if any."""
        return getattr(self.recipe, "warm_start", None)


class PresetKind:
    """How presets of one kind are loaded and trained.

    Subclasses implement `load(directory, config)`; kinds that can be
    trained implement `train(spec, output_dir, backup_dir, ...)` returning
    the metadata written beside the preset.
    """

    name = None
    #: Whether `train` takes `data_dir` (a user's data folder to train on).
    accepts_data_dir = False
    #: Whether `train` takes `strategy` (a `tf.distribute` strategy).
    accepts_strategy = False
    #: Whether `train` takes `init_from`, `learning_rate` and
    #: `data_options` (fine-tuning on a user's data).
    accepts_fine_tuning = False

    def load(self, directory, config):
        raise NotImplementedError

    def train(self, spec, output_dir, backup_dir, **options):
        raise PresetError(f"Presets of kind {self.name!r} cannot be trained.")


# === Registry ===


def register_preset_kind(kind):
    """Registers a `PresetKind` instance under `kind.name`."""
    if not kind.name:
        raise ValueError("A PresetKind needs a name.")
    _KINDS[kind.name] = kind
    return kind


def get_preset_kind(name):
    if name not in _KINDS:
        raise PresetError(f"Unknown preset kind {name!r}; registered kinds: "
                          f"{sorted(_KINDS)}.")
    return _KINDS[name]


def register_presets(specs):
    """Registers a family's preset specs (in table order).

    Raises:
        ValueError: if a name is already registered by another spec.
    """
    for spec in specs:
        if not isinstance(spec, PresetSpec):
            raise TypeError(f"Expected PresetSpec, got {type(spec).__name__}.")
        existing = _SPECS.get(spec.name)
        if existing is not None and existing != spec:
            raise ValueError(f"Preset name {spec.name!r} is already "
                             f"registered by family {existing.family!r}.")
        _SPECS[spec.name] = spec


def register_shipped_root(directory):
    """Registers a folder holding shipped preset folders (read-only)."""
    directory = pathlib.Path(directory).resolve()
    if directory not in _SHIPPED_ROOTS:
        _SHIPPED_ROOTS.append(directory)


def list_presets(table=None, family=None):
    """Names of the registered presets, in registration (table) order."""
    return [name for name, spec in _SPECS.items()
            if (table is None or spec.table == table)
            and (family is None or spec.family == family)]


def get_spec(name):
    """The `PresetSpec` of a registered name, or a PresetError listing them."""
    if name not in _SPECS:
        raise PresetError(f"Unknown preset {name!r}; known presets: "
                          f"{list_presets()}.")
    return _SPECS[name]


# === Resolution ===


def _looks_like_path(value):
    if isinstance(value, os.PathLike):
        return True
    return (os.sep in value or (os.altsep or os.sep) in value
            or value.startswith((".", "~")) or os.path.isabs(value))


def shipped_preset_dir(name):
    """The shipped folder of a registered preset (None if none ships)."""
    for root in _SHIPPED_ROOTS:
        if (root / name / CONFIG_FILE).is_file():
            return root / name
    return None


def resolve_preset(name_or_dir):
    """The folder a preset name or path refers to (see the module doc).

    Raises:
        PresetError: for an empty name, an unknown name, a registered
            preset that ships no files, or a path that is not a folder.
    """
    if not isinstance(name_or_dir, (str, os.PathLike)):
        raise PresetError(f"A preset is named by a string or a path; got "
                          f"{type(name_or_dir).__name__}.")
    if isinstance(name_or_dir, str) and not name_or_dir.strip():
        raise PresetError("Empty preset name; give a registered name (see "
                          "`spen-keras zoo list`) or a folder path.")
    if isinstance(name_or_dir, str) and name_or_dir in _SPECS:
        directory = shipped_preset_dir(name_or_dir)
        if directory is None:
            raise PresetError(
                f"Preset {name_or_dir!r} is registered but ships no files; "
                f"train it (`spen-keras train --preset {name_or_dir}`) and "
                "load the folder it writes by its path.")
        return directory
    if _looks_like_path(name_or_dir):
        directory = pathlib.Path(name_or_dir).expanduser()
        if not directory.exists():
            raise PresetError(f"Preset folder not found: {directory}")
        if not directory.is_dir():
            raise PresetError(f"Preset path {directory} is not a folder.")
        return directory
    raise PresetError(
        f"Unknown preset {name_or_dir!r}; known presets: {list_presets()}. "
        f"A local preset folder is named by a path, e.g. ./{name_or_dir}.")


# === Files ===


def read_json(path, what):
    """A JSON object from `path`, or a PresetError naming the file."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise PresetError(f"Preset {what} missing: {path}")
    try:
        value = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise PresetError(f"Preset {what} {path} is not valid JSON "
                          f"({error}).") from error
    if not isinstance(value, dict) or not value:
        raise PresetError(f"Preset {what} {path} is not a non-empty JSON "
                          "object.")
    return value


def read_config(name_or_dir):
    return read_json(resolve_preset(name_or_dir) / CONFIG_FILE, "config")


def read_metadata(name_or_dir):
    """The preset's metadata.json as a dict."""
    return read_json(resolve_preset(name_or_dir) / METADATA_FILE, "metadata")


def preset_kind_of(directory, config):
    """The kind of a preset folder: metadata's "kind", else config's
    "baseline" (non-Keras configs name their kind), else Keras if the config
    is a Keras object config."""
    metadata_path = pathlib.Path(directory) / METADATA_FILE
    kind = None
    if metadata_path.is_file():
        kind = read_json(metadata_path, "metadata").get("kind")
    kind = kind or config.get("baseline")
    if kind:
        return get_preset_kind(kind)
    if "class_name" in config:
        return get_preset_kind(KERAS_KIND)
    raise PresetError(
        f"Cannot tell the kind of preset {directory}: its metadata.json has "
        "no 'kind' and its config.json is neither a Keras object config nor "
        "names a 'baseline'.")


def load_preset(name_or_dir):
    """Loads a preset by registered name or folder path.

    Returns:
        The model: a built `keras.Model` for Keras kinds, compiled as its
        spec's recipe trains it (`registered_spec_of`: the recipe's loss and
        metrics, Adam at the recipe's learning rate; compile again to change
        them), or the kind's own object for others (whose Keras `model`, if
        any, comes compiled the same way).

    Raises:
        PresetError: naming the file and the problem.
    """
    directory = resolve_preset(name_or_dir)
    config = read_json(directory / CONFIG_FILE, "config")
    return preset_kind_of(directory, config).load(directory, config)


def load_preset_as(name_or_dir, cls):
    """`load_preset`, checking that the preset holds a `cls` (what each
    class's `from_preset` returns).

    Raises:
        PresetError: naming the file and the problem.
        PresetTypeError: if the preset holds another kind of model.
    """
    model = load_preset(name_or_dir)
    if not isinstance(model, cls):
        raise PresetTypeError(f"Preset {name_or_dir!r} holds a "
                              f"{type(model).__name__}, not a "
                              f"{cls.__name__}.")
    return model


def registered_spec_of(directory, kind):
    """The registered `PresetSpec` a preset folder of `kind` was made from:
    the one its metadata.json names ("name"), as every shipped preset's and
    every `spen-keras train` output's does; None for a folder without that
    (a preset saved from a model of your own) or naming a spec of another
    kind. Loaders compile a preset's Keras model by this spec's recipe."""
    path = pathlib.Path(directory) / METADATA_FILE
    if not path.is_file():
        return None
    name = read_json(path, "metadata").get("name")
    spec = _SPECS.get(name) if isinstance(name, str) else None
    return spec if spec is not None and spec.kind == kind else None


def write_json(path, value):
    pathlib.Path(path).write_text(
        json.dumps(value, indent=2, sort_keys=True) + "\n")


def is_inside_shipped_root(directory):
    directory = pathlib.Path(directory).expanduser().resolve()
    return any(root == directory or root in directory.parents
               for root in _SHIPPED_ROOTS)


def _probe_writable(directory):
    """Creates and deletes a file in the nearest existing ancestor of
    `directory` (where the preset's staging folder will be made)."""
    ancestor = directory.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise PresetError(f"Cannot write the preset {directory}: {ancestor} "
                          "is a file, not a folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".spen-keras-probe-",
                                         dir=ancestor)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise PresetError(f"Cannot write the preset {directory}: {ancestor} "
                          f"is not writable ({error.strerror}).") from None


def check_writable_preset_dir(directory, overwrite=False, probe=False):
    """Raises PresetError unless `directory` may receive a new preset.

    With `probe=True` it also checks, by creating and deleting a file, that
    the folder can really be written (read-only installs, read-only working
    directories), e.g. before a long training run.
    """
    directory = pathlib.Path(directory).expanduser()
    if is_inside_shipped_root(directory):
        raise PresetError(f"Refusing to write into {directory}: shipped "
                          "presets are read-only; choose another folder.")
    if directory.exists() and not directory.is_dir():
        raise PresetError(f"Preset path {directory} exists and is not a "
                          "folder.")
    if directory.is_dir() and any(directory.iterdir()) and not overwrite:
        raise PresetError(f"Preset folder {directory} already exists and is "
                          "not empty; pass overwrite=True (--force) to "
                          "replace it.")
    if probe:
        _probe_writable(directory)
    return directory


def write_preset_dir(directory, write_files, verify, overwrite=False):
    """Writes a preset folder safely.

    `write_files(tmp_dir)` writes every file into a fresh sibling folder,
    `verify(tmp_dir)` reloads it; only then does it replace `directory`
    (an old preset is kept as a backup until the new one is in place).
    """
    directory = check_writable_preset_dir(directory, overwrite)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-",
                                            dir=directory.parent))
    try:
        write_files(staging)
        verify(staging)
        backup = None
        if directory.exists():
            backup = directory.with_name(f".{directory.name}.old-"
                                         f"{os.getpid()}")
            directory.rename(backup)
        staging.rename(directory)
        if backup is not None:
            shutil.rmtree(backup)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def save_to_preset(model, directory, metadata=None, overwrite=False,
                   input_shape=None):
    """Saves a model as a preset folder (config, weights, metadata).

    Works for any kind whose registered `PresetKind` has `save` (Keras
    models, whatever their task). The folder is written beside the
    destination, reloaded, and only then moved into place.

    Args:
        model: a built model of a registered kind.
        directory: the preset folder to write.
        metadata: dict written as metadata.json ("kind" is filled in).
        overwrite: replace an existing, non-empty folder.
        input_shape: the build shape to record, None on free axes
            (default: the model's own, with a free batch axis).

    Raises:
        PresetError: for non-finite weights, a shipped or existing folder.
    """
    kind = getattr(model, "preset_kind", None) or KERAS_KIND
    return get_preset_kind(kind).save(model, directory, dict(metadata or {}),
                                      overwrite=overwrite,
                                      input_shape=input_shape)


@dataclasses.dataclass(frozen=True)
class PresetKindFunctions(PresetKind):
    """A kind defined by plain functions (numpy/sklearn baselines).

    Attributes:
        name: the kind's name, stored in metadata.json.
        load_fn: `load_fn(directory, config) -> model`.
        train_fn: `train_fn(spec, output_dir, backup_dir, **options)
            -> metadata`, or None if presets of this kind are not trained.
    """

    name: str = None
    load_fn: Callable = None
    train_fn: Optional[Callable] = None
    accepts_data_dir: bool = False
    accepts_strategy: bool = False

    def load(self, directory, config):
        return self.load_fn(directory, config)

    def train(self, spec, output_dir, backup_dir, **options):
        if self.train_fn is None:
            return super().train(spec, output_dir, backup_dir, **options)
        return self.train_fn(spec, output_dir, backup_dir, **options)


_FINE_TUNING_FLAGS = {"init_from": "--init-from",
                      "learning_rate": "--learning-rate",
                      "data_options": "a data option (--noise-scale, ...)"}


def train_preset(name_or_spec, output_dir, backup_dir, **options):
    """Trains a registered preset with its kind's trainer into output_dir.

    Args:
        name_or_spec: a registered name or a `PresetSpec`.
        output_dir: the user preset folder to write (never a shipped one;
            an existing one only with overwrite=True).
        backup_dir: the kind's resumable-state folder (if it has any).
        **options: steps, command, verbose, overwrite, presets_root,
            data_dir (kinds with `accepts_data_dir` only), strategy
            (kinds with `accepts_strategy` only; None or "default" is
            accepted by every kind and dropped), init_from, learning_rate,
            data_options (kinds with `accepts_fine_tuning` only; None is
            dropped), ...

    Returns:
        The metadata written beside the preset.
    """
    spec = (name_or_spec if isinstance(name_or_spec, PresetSpec)
            else get_spec(name_or_spec))
    kind = get_preset_kind(spec.kind)
    if options.get("data_dir") is not None and not kind.accepts_data_dir:
        raise PresetError(f"Preset {spec.name} trains on its built-in data; "
                          "--data-dir is not supported for it.")
    for option in ("init_from", "learning_rate", "data_options"):
        if options.get(option) is None:
            options.pop(option, None)
        elif not kind.accepts_fine_tuning:
            raise PresetError(
                f"Preset {spec.name} (kind {spec.kind!r}) cannot be "
                f"fine-tuned: {_FINE_TUNING_FLAGS[option]} is only "
                "supported for Keras presets.")
    if options.get("strategy", None) in (None, "default"):
        options.pop("strategy", None)
    elif not kind.accepts_strategy:
        raise PresetError(f"Preset {spec.name} (kind {spec.kind!r}) does not "
                          "train with tf.distribute; --strategy is only "
                          "supported for Keras presets (use the default).")
    return kind.train(spec, output_dir, backup_dir, **options)
