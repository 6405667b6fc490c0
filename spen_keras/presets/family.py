"""Task families: how a task plugs its presets and tables into the library.

A family is a package (e.g. `spen_keras.denoising`) that, when imported,
makes one call::

    register_family("denoising", presets=[...PresetSpec...], tables=[...],
                    commands=[...FamilyCommand...], user_errors=(...))

and is named once in setup.cfg under the `spen_keras.families` entry-point
group, so that `import spen_keras` imports it (`load_families`) and its
presets resolve by name everywhere (`SPEN.from_preset`, the CLI, the zoo).
A family installed by another distribution joins the same way.
"""

import argparse
import dataclasses
from importlib import import_module
from importlib import metadata
from typing import Callable

from spen_keras.presets import PresetError
from spen_keras.presets import get_spec
from spen_keras.presets import list_presets
from spen_keras.presets import read_metadata
from spen_keras.presets import register_presets
from spen_keras.presets.tables import register_table

ENTRY_POINT_GROUP = "spen_keras.families"
_FAMILIES = {}
_COMMANDS = {}
_USER_ERRORS = []


@dataclasses.dataclass(frozen=True)
class FamilyCommand:
    """A `spen-keras` sub-command contributed by a family.

    Attributes:
        name: the sub-command ("denoise").
        help: one line for `spen-keras --help`.
        configure: `configure(parser)` adds the command's arguments.
        run: `run(args)` does the work (returns anything).
    """

    name: str
    help: str
    configure: Callable
    run: Callable


def register_family(name, presets=(), tables=(), commands=(),
                    user_errors=(), preset_note=None, list_footer=None):
    """Registers a family's preset specs, tables and CLI commands.

    Args:
        name: the family's name ("denoising").
        presets: its `PresetSpec`s, in table order.
        tables: its `TableDescription`s.
        commands: its `FamilyCommand`s.
        user_errors: exception types that mean bad user input; the CLI
            prints them as one line and exits with status 2.
        preset_note: optional callable, preset name -> a few words on the
            data the preset suits (`spen-keras zoo list`'s "suits" column,
            e.g. the noise level a denoiser was trained at).
        list_footer: optional line printed under `zoo list` when the list
            shows the family's presets (e.g. which preset to use when the
            data is unlike the training data).
    """
    register_presets(presets)
    for table in tables:
        register_table(table)
    for command in commands:
        if command.name in _COMMANDS:
            raise ValueError(f"Command {command.name!r} is already "
                             "registered.")
        _COMMANDS[command.name] = command
    _USER_ERRORS.extend(user_errors)
    _FAMILIES[name] = {"presets": [s.name for s in presets],
                       "tables": [t.name for t in tables],
                       "commands": [c.name for c in commands],
                       "preset_note": preset_note,
                       "list_footer": list_footer}


def preset_note(family, preset):
    """The family's note on a preset for `zoo list` ("-" without one)."""
    note = _FAMILIES.get(family, {}).get("preset_note")
    return "-" if note is None else note(preset)


def list_footer(family):
    """The family's line under `zoo list`, or None."""
    return _FAMILIES.get(family, {}).get("list_footer")


def check_preset_family(preset, family, what, error):
    """Refuses, before its model loads, a preset of another family.

    Given to another family's command, a preset's model fails deep inside
    it (an SRL preset in `denoise`: "'SrlLabeler' object is not
    callable"); its family is known without loading it, from its spec (a
    registered name) or its folder's metadata.json. A folder whose metadata
    names no family, and a preset that does not resolve, pass: loading
    reports them.

    Args:
        preset: a registered name or a preset folder's path.
        family: the family the command serves ("denoising").
        what: how the message names that family's presets ("denoising",
            "multi-label").
        error: the exception class to raise (the family's own).

    Raises:
        error: one line naming the preset, its family and the command that
            lists the presets the command takes.
    """
    if isinstance(preset, str) and preset in list_presets():
        spec = get_spec(preset)
        other, table = spec.family, spec.table
    else:
        try:
            metadata = read_metadata(preset)
        except PresetError:
            return
        other, table = metadata.get("family"), metadata.get("table")
    if other is None or other == family:
        return
    where = f"the {other} family" + (f" ({table})" if table else "")
    listing = " or ".join(f"`spen-keras zoo list --table {name}`" for name
                          in _FAMILIES.get(family, {}).get("tables", ()))
    raise error(f"Preset {str(preset)!r} is not a {what} preset: it belongs "
                f"to {where}; the {what} presets are listed by "
                f"{listing or '`spen-keras zoo list`'}.")


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _bounded_int(text, 1)


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    return _bounded_int(text, 0)


def _bounded_int(text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer")
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
    return value


#: Where `spen-keras train` (and a family's training command) writes a
#: preset without --output-dir.
DEFAULT_USER_PRESETS = "spen-keras-presets"


def run_folders(name, output_dir=None, backup_dir=None):
    """(preset folder, backup folder) of a training command for the preset
    `name`: the ones given, else spen-keras-presets/NAME and
    runs/backup/NAME in the working directory."""
    import pathlib

    return (pathlib.Path(output_dir or pathlib.Path(DEFAULT_USER_PRESETS)
                         / name),
            pathlib.Path(backup_dir or pathlib.Path("runs") / "backup"
                         / name))


def load_hint(output):
    """How to name a trained preset folder for `load_preset`.

    A registered name always means the shipped preset, and a bare name
    ("my_br") is not a path at all (`presets.resolve_preset`), so a folder
    in the working directory is named "./my_br". A relative path starting
    with "~" gets "./" too: `load_preset` would expand it to a home folder.

    Args:
        output: the folder the preset was written to.

    Returns:
        The folder as a string `load_preset` resolves to it.
    """
    import os

    text = str(output)
    if os.path.isabs(text) or (os.sep in text and not text.startswith("~")):
        return text
    return os.curdir + os.sep + text


# `spen-keras train`'s options that describe a user's --data-dir (the
# denoising family's; its `denoise-eval` takes them too).
DATA_OPTIONS = ("noise_scale", "noise_sigma", "holdout_every",
                "validation_dir")


def add_data_options(parser):
    """The DATA_OPTIONS arguments (`train`, `denoise-eval`)."""
    parser.add_argument("--noise-scale", type=float, default=None,
                        help="with --data-dir of clean depth PNGs "
                             "(denoising): the noise added, as a multiple "
                             "of the benchmark's Kinect-like noise "
                             "(default 1)")
    parser.add_argument("--noise-sigma", type=float, default=None,
                        metavar="MM",
                        help="with --data-dir of clean depth PNGs "
                             "(denoising), instead of --noise-scale: your "
                             "sensor's noise standard deviation in mm at "
                             "the frames' median depth (the benchmark's "
                             "noise model, scaled to it)")
    parser.add_argument("--holdout-every", type=positive_int, default=None,
                        help="with --data-dir (denoising): every K-th frame "
                             "in file-name order is held out: never trained "
                             "on, evaluated on (default 4)")
    parser.add_argument("--validation-dir", default=None, metavar="DIR",
                        help="with --data-dir (denoising), instead of "
                             "--holdout-every: a folder of held-out frames "
                             "(same layouts); every --data-dir frame trains")


def list_commands():
    return dict(_COMMANDS)


def user_errors():
    return tuple(_USER_ERRORS)


def list_families():
    return dict(_FAMILIES)


def load_families():
    """Imports every family named in the `spen_keras.families` entry points.

    Returns:
        The names of the families' modules, in entry-point order.
    """
    modules = []
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        import_module(entry.value)
        modules.append(entry.value)
    return modules
