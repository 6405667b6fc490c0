"""The built wheel, not the source tree: what it holds, and (large) that it
works installed into a fresh virtual environment outside the source tree.

The wheel is built from a copy of the working tree (so nothing is written
into it) with `pip wheel --no-deps --no-build-isolation`, which needs no
network. The fresh environment gets the wheel only; its dependencies
(TensorFlow, Keras, ...) come from this interpreter's site-packages through
a `.pth` line, which adds that folder to sys.path after the environment's
own site-packages without running its `.pth` files, so the editable
install's import hook is not active there.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns(
    ".venv", "venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", "outputs", "runs", "spen-keras-presets")


def _clean_env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    return env


def _run(argv, cwd, timeout=600):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=_clean_env(),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{argv} exited {result.returncode}\n{result.stdout[-3000:]}\n"
        f"{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
          "--no-build-isolation", "--no-index", "-q", source, "-w",
          work / "dist"], cwd=work)
    wheels = list((work / "dist").glob("spen_keras-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_holds_the_packages_data_and_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names}
    # datasets/ and zoo/ install under spen_keras, never at the top level;
    # tests, benchmarks and experiments are not shipped.
    assert "spen_keras" in tops
    assert not tops & {"datasets", "zoo", "tests", "benchmarks",
                       "experiments"}, tops
    presets = ROOT / "zoo" / "presets"
    for folder in sorted(p for p in presets.iterdir() if p.is_dir()):
        for file in folder.iterdir():
            if file.is_file():
                assert (f"spen_keras/zoo/presets/{folder.name}/{file.name}"
                        in names)
    embedded = "spen_keras/datasets/seven_scenes/embedded/"
    assert embedded + "LICENSE-MSR-LA-7-Scenes.rtf" in names
    assert embedded + "stairs/seq-01/frame-000000.depth.png" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    script = [line.split("=", 1)[1].strip() for line in text.splitlines()
              if line.replace(" ", "").startswith("spen-keras=")]
    assert len(script) == 1, text
    module = script[0].split(":")[0].replace(".", "/")
    assert {module + ".py", module + "/__init__.py"} & names, script
    assert "denoising = spen_keras.denoising" in text


_CHECK = textwrap.dedent("""
    import importlib.metadata, json, sys
    import numpy as np
    import spen_keras
    from spen_keras import SPEN, list_presets, load_preset
    from spen_keras.denoising import load_frames
    import spen_keras.datasets, spen_keras.zoo

    model = SPEN.from_preset("dp_3")
    x = np.full((1, 24, 32, 1), 0.4, np.float32)
    y = np.asarray(model(x))
    forest = load_preset("filter_forest")
    print("RESULT " + json.dumps({
        "file": spen_keras.__file__,
        "zoo": spen_keras.zoo.__file__,
        "datasets": spen_keras.datasets.__file__,
        "dist": str(importlib.metadata.distribution("spen-keras")
                    .locate_file("")),
        "families": sorted(e.name for e in importlib.metadata.entry_points(
            group="spen_keras.families")),
        "presets": list_presets(),
        "finite": bool(np.isfinite(y).all()),
        "forest": type(forest).__name__,
        "test_frames": len(load_frames("test")),
        "path": sys.path,
    }))
""")


@pytest.mark.large
def test_wheel_installs_and_runs_outside_the_source_tree(wheel,
                                                         tmp_path_factory):
    work = tmp_path_factory.mktemp("installed")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
          wheel], cwd=work)
    purelib = _run([python, "-c", "import sysconfig; "
                    "print(sysconfig.get_paths()['purelib'])"],
                   cwd=work).stdout.strip()
    dependencies = sysconfig.get_paths()["purelib"]
    pathlib.Path(purelib, "zz_spen_keras_test_dependencies.pth").write_text(
        dependencies + "\n")

    scratch = work / "scratch"
    scratch.mkdir()
    out = _run([python, "-c", _CHECK], cwd=scratch).stdout
    result = json.loads(next(line for line in out.splitlines()
                             if line.startswith("RESULT "))[7:])
    venv_root = str(venv.resolve())
    for key in ("file", "zoo", "datasets", "dist"):
        assert str(pathlib.Path(result[key]).resolve()).startswith(
            venv_root), (key, result[key])
    # Nothing of the source tree is importable (the dependencies' folder may
    # lie inside it, e.g. ROOT/.venv, but holds no spen_keras).
    assert not [p for p in result["path"] if p.startswith(str(ROOT))
                and p != dependencies]
    assert result["families"] == ["denoising", "mlc", "srl"]
    assert "dp_3" in result["presets"] and "filter_forest" in result["presets"]
    assert result["finite"] and result["forest"]
    assert result["test_frames"] == 6

    # The console script and `python -m spen_keras`, from the scratch folder.
    spen_keras_cli = venv / "bin" / "spen-keras"
    listed = _run([spen_keras_cli, "zoo", "list"], cwd=scratch).stdout
    assert "| dp_3 | table1 |" in listed
    frame = (pathlib.Path(result["datasets"]).parent / "seven_scenes"
             / "embedded" / "stairs" / "seq-01" / "frame-000000.depth.png")
    assert frame.is_file()
    _run([spen_keras_cli, "denoise", frame, scratch / "out.png", "--preset",
          "foe_3"], cwd=scratch)
    assert (scratch / "out.png").stat().st_size > 0
    help_text = _run([python, "-m", "spen_keras", "--help"],
                     cwd=scratch).stdout
    assert "demo" in help_text
