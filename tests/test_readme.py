"""The README's Python snippets run verbatim, each in a fresh Python
process started in a scratch directory, as a user pastes them, and print
no warning."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 2


def test_the_library_snippet_covers_the_keras_workflow():
    library = [s for s in SNIPPETS if "model.fit(" in s]
    assert len(library) == 1
    for step in ("model.fit(", "model.evaluate(", "model.save(",
                 "save_to_preset(", "model.export(", "load_model(",
                 "reloaded.fit(", "from_preset(", ".serve("):
        assert step in library[0], step


# What counts as a warning on stderr: a Python warning ("file:line:
# SomeWarning: ..."), absl's Python logging at WARNING or above, unformatted
# ("WARNING:absl:...") or formatted ("W0102 12:34:56.789 ..."), and the C++
# absl lines of TensorFlow at W, E or F.
WARNING_LINE = re.compile(r"^(\S.*:\d+: [A-Za-z]*Warning: "
                          r"|(WARNING|ERROR|CRITICAL):absl:"
                          r"|[WEF]\d{4} \d\d:\d\d:\d\d)")
ABSL_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ ")


def _env():
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(scope="module")
def tensorflow_import_lines(tmp_path_factory):
    """What `import tensorflow` alone prints on stderr here (TensorFlow
    2.21 prints absl's "All log messages before absl::InitializeLog()"
    notice and info lines whatever TF_CPP_MIN_LOG_LEVEL says; a GPU build
    may add its own): not the snippets' doing."""
    done = subprocess.run([sys.executable, "-c", "import tensorflow"],
                          cwd=tmp_path_factory.mktemp("tf"), env=_env(),
                          capture_output=True, text=True, timeout=300)
    return {ABSL_PREFIX.sub("", line) for line in done.stderr.splitlines()}


def warning_lines(stderr, ignored=frozenset()):
    return [line for line in stderr.splitlines()
            if WARNING_LINE.match(line)
            and ABSL_PREFIX.sub("", line) not in ignored]


def test_warning_lines_are_recognised():
    stderr = "\n".join([
        "/x/keras/epoch_iterator.py:74: UserWarning: `shuffle=True` ...",
        "  self.data_adapter = data_adapters.get_data_adapter(",
        "WARNING:absl:Importing a function (f) with ops with unsaved ...",
        "W0000 00:00:1796402808.407730    3350 loader.cc:9] something",
        "I0000 00:00:1796402808.407730    3350 port.cc:153] oneDNN ...",
        "Epoch 1/1", "25/25 - 5s - loss: 0.01"])
    assert len(warning_lines(stderr)) == 3
    assert len(warning_lines(stderr, {"loader.cc:9] something"})) == 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs_in_a_fresh_process(index, tmp_path,
                                                tensorflow_import_lines):
    """...and warning-free: no Python warning and no absl warning on
    stderr beyond what importing TensorFlow prints by itself."""
    done = subprocess.run([sys.executable, "-c", SNIPPETS[index]],
                          cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not warning_lines(done.stderr, tensorflow_import_lines), \
        done.stderr[-3000:]


DOC_SNIPPETS = [(doc, snippet) for doc in ("srl.md", "mlc.md")
                for snippet in re.findall(
                    r"```python\n(.*?)```",
                    (README.parent / "docs" / doc).read_text(), re.S)]


# docs/mlc.md's snippets repeat what the README's multi-label snippet runs
# by default (a TFDS prepare, a Delicious preset): `large`, to keep the
# default suite near 14 minutes on 2 cores.
@pytest.mark.parametrize(
    "doc, snippet",
    [pytest.param(d, s, marks=[pytest.mark.large] if d == "mlc.md" else [])
     for d, s in DOC_SNIPPETS],
    ids=[f"{d}-{i}" for i, (d, _) in enumerate(DOC_SNIPPETS)])
def test_doc_snippet_runs_in_a_fresh_process(doc, snippet, tmp_path):
    """docs/srl.md's and docs/mlc.md's Python snippets too (the TFDS ones
    read the shipped files; the SRL labeller one labels the whole dev
    set)."""
    done = subprocess.run([sys.executable, "-c", snippet],
                          cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
