"""The README's Python snippets run verbatim, each in a fresh Python
process started in a scratch directory, as a user pastes them."""

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


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs_in_a_fresh_process(index, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", SNIPPETS[index]],
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


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
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, "-c", snippet],
                          cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
