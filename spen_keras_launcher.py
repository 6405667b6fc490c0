"""The `spen-keras` console script: fast answers before TensorFlow loads.

This module lives outside the `spen_keras` package on purpose: importing
anything inside the package runs `spen_keras/__init__.py`, which imports
TensorFlow (seconds, and log lines printed before any setting could hide
them). Here `--version` and the top-level `--help` answer at once, the
TensorFlow log level is set before TensorFlow is imported, and a Keras
backend other than TensorFlow is a one-line error. `COMMAND --help` is
answered by `spen_keras.cli`'s own parser, built without TensorFlow
(`command_help_parser`). Everything else is `spen_keras.cli.main`; Ctrl-C
anywhere is one line and exit status 130.
"""

import contextlib
from importlib import import_module
from importlib import metadata
from importlib import util
import os
import sys
import tempfile

# The installed distribution's version (no spen_keras import needed);
# tests/test_cli.py checks it equals spen_keras.__version__.
VERSION = metadata.version("spen-keras")

SUMMARY = """\
usage: spen-keras [-h] [--version] COMMAND ...

Structured Prediction Energy Networks in Keras (Belanger, Yang & McCallum,
ICML 2017).

commands:
  zoo list              list the presets: table, row, paper vs our value
  zoo reproduce TABLE   reproduce a table of the paper from the presets
  train --preset NAME   train one preset into a user preset folder
{family_commands}
options:
  -h, --help            show this message and exit
  --version             show the version and exit

`spen-keras COMMAND --help` describes each command.
"""

# The commands of the families shipped with spen-keras, for the fast help;
# tests/test_cli.py checks this list against the registry.
FAMILY_COMMANDS = {
    "denoise": "denoise IN.png OUT.png [--preset NAME] (depth denoising)",
    "demo": "train DP-3 briefly on the embedded frames, PSNR before/after",
    "denoise-eval": "denoise-eval --data-dir DIR [--presets P ...] (PSNR on "
                    "your depth frames)",
    "equal-effort": "equal-effort train|select --runs-dir RUNS (Table 1's "
                    "training protocol)",
    "srl-label": "srl-label IN OUT [--preset NAME] (CoNLL-2005 SRL file)",
    "predict-labels": "predict-labels IN [OUT] [--preset NAME] (multi-label "
                      "rows, ARFF/CSV)",
    "train-labels": "train-labels FILE --labels N [--recipe R] (multi-label, "
                    "your ARFF/CSV)",
}


# The tables each family registers, for `COMMAND --help` (the zoo's table
# choices) without importing the families; tests/test_cli.py checks this
# against the registry. A family not named here (one installed by another
# distribution) makes `--help` take the slow path, through the registry.
FAMILY_TABLES = {
    "denoising": ("table1",),
    "srl": ("table2",),
    "mlc": ("mlc",),
}

INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it


def fast_help():
    lines = "".join(f"  {name:<20}  {text}\n"
                    for name, text in FAMILY_COMMANDS.items())
    return SUMMARY.format(family_commands=lines)


def asks_for_help(argv):
    """Whether argparse would answer `argv` with a help message."""
    options = argv[:argv.index("--")] if "--" in argv else argv
    return "-h" in options or "--help" in options


@contextlib.contextmanager
def _packages_without_init(names):
    """Lets `import spen_keras.cli` (and a family's `commands` module) run
    only the modules it names: each package in `names` is entered in
    sys.modules as an empty module whose path is the package's folder, so
    its __init__.py, which imports TensorFlow, does not run. Every
    spen_keras module imported meanwhile is removed afterwards, so that a
    later `import spen_keras` is the real one. Does nothing when spen_keras
    is already imported."""
    if "spen_keras" in sys.modules:
        yield
        return
    before = set(sys.modules)
    try:
        for name in names:
            sys.modules[name] = util.module_from_spec(util.find_spec(name))
        yield
    finally:
        for name in set(sys.modules) - before:
            if name == "spen_keras" or name.startswith("spen_keras."):
                del sys.modules[name]


def command_help_parser():
    """`spen_keras.cli`'s parser, built without importing TensorFlow.

    The families' commands come from their `commands` modules (which
    import only `spen_keras.presets.family`), found through the same entry points
    `import spen_keras` reads; their tables from `FAMILY_TABLES`.

    Returns:
        The parser, or None when an installed family is not in
        `FAMILY_TABLES` or has no `commands` module (then the registry
        answers).
    """
    families = list(metadata.entry_points(group="spen_keras.families"))
    if any(family.name not in FAMILY_TABLES for family in families):
        return None
    try:
        with _packages_without_init(
                ["spen_keras", *(family.value for family in families)]):
            cli = import_module("spen_keras.cli")
            commands = [command for family in families for command in
                        import_module(f"{family.value}.commands").COMMANDS]
    except (ImportError, AttributeError):
        return None
    tables = [table for family in families
              for table in FAMILY_TABLES[family.name]]
    return cli.build_parser(tables=tables, commands=commands,
                            version=VERSION)


def main(argv=None):
    """Runs the `spen-keras` command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in ([], ["-h"], ["--help"]):
        print(fast_help(), end="")
        return 0 if argv else 2
    if argv == ["--version"]:
        print(f"spen-keras {VERSION}")
        return 0
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # Ctrl-C before a command started (while TensorFlow loads); a
        # running command reports its own interruption (spen_keras.cli).
        print("spen-keras: interrupted.", file=sys.stderr)
        return INTERRUPTED


def _run(argv):
    if asks_for_help(argv):
        parser = command_help_parser()
        if parser is not None:
            parser.parse_args(argv)  # prints the help and exits
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    backend = os.environ.get("KERAS_BACKEND")
    if backend not in (None, "tensorflow", "jax", "torch"):
        print(f"spen-keras: error: KERAS_BACKEND={backend!r} is set, but "
              "spen-keras runs Keras on TensorFlow, JAX or PyTorch; unset it "
              "(TensorFlow) or set KERAS_BACKEND to tensorflow, jax or "
              "torch.", file=sys.stderr)
        return 2
    try:
        with _native_stderr_captured() as captured:
            import spen_keras.cli
    except ImportError as error:  # e.g. keras.json naming another backend
        sys.stderr.write(captured.read())
        print(f"spen-keras: error: {error}", file=sys.stderr)
        return 2
    try:
        return spen_keras.cli.main(argv)
    except BrokenPipeError:
        # The reader went away (`spen-keras zoo list | head`): stop quietly,
        # as other command-line tools do, instead of a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


class _Captured:
    text = ""

    def read(self):
        return self.text


@contextlib.contextmanager
def _native_stderr_captured():
    """Holds back what native code writes to stderr (file descriptor 2)
    while TensorFlow loads: TensorFlow 2.21 logs its oneDNN and absl notices
    before any log-level setting applies. Replayed by the caller if the
    import fails; Python's own errors are unaffected."""
    sys.stderr.flush()
    saved = os.dup(2)
    captured = _Captured()
    with tempfile.TemporaryFile() as handle:
        os.dup2(handle.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            handle.seek(0)
            captured.text = handle.read().decode(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
