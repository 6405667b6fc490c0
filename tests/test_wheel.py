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

import numpy as np
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


# === Without TensorFlow ====================================================

_WITHOUT_TF = textwrap.dedent("""
    import importlib.util, json, sys
    import keras
    import numpy as np
    assert importlib.util.find_spec("tensorflow") is None
    import spen_keras
    from spen_keras import SPEN, list_presets, load_preset
    from spen_keras.core.backend import TensorFlowRequiredError

    loaded = {name: type(load_preset(name)).__name__
              for name in list_presets()}
    x = np.asarray(json.loads(sys.argv[1]), np.float32)
    model = SPEN.from_preset("dp_3")
    output = keras.ops.convert_to_numpy(model(x))
    rng = np.random.default_rng(0)
    y = rng.uniform(0.3, 0.7, (4, 24, 32, 1)).astype("float32")
    noisy = (y + rng.normal(0, 0.05, y.shape)).astype("float32")
    model.compile(keras.optimizers.Adam(1e-3), loss="mse")
    history = model.fit(noisy, y, batch_size=2, epochs=2, verbose=0)
    model.save("model.keras")
    again = keras.models.load_model("model.keras")
    reloaded = float(np.abs(keras.ops.convert_to_numpy(again(noisy))
                            - keras.ops.convert_to_numpy(model(noisy))).max())
    try:
        model.export("exported")
        export = "no error"
    except TensorFlowRequiredError as error:
        export = str(error)
    print("RESULT " + json.dumps({
        "backend": keras.backend.backend(), "loaded": loaded,
        "output": output.tolist(), "losses": history.history["loss"],
        "reloaded": reloaded, "export": export,
        "tensorflow_imported": "tensorflow" in sys.modules}))
""")

_TENSORFLOW_NAMES = ("tensorflow", "tensorboard", "tf_keras", "spen_keras",
                     "__editable__", "_tensorflow")


@pytest.mark.large
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_wheel_runs_on_jax_and_pytorch_without_tensorflow(
        wheel, tmp_path_factory, backend):
    """TensorFlow optional below the data layer: in a fresh environment
    whose dependencies are this interpreter's minus TensorFlow (and TFDS),
    `import spen_keras`, every preset, a denoiser's output (equal to
    TensorFlow's), a training step on arrays, `.keras` save/load,
    `spen-keras denoise` and `spen-keras train` (the numpy training stream)
    work; what needs TensorFlow says so in one line."""
    import importlib.util

    import keras

    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    from spen_keras import SPEN

    work = tmp_path_factory.mktemp(f"without_tf_{backend}")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=work)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
          wheel], cwd=work)
    # This interpreter's packages, TensorFlow and TFDS left out: one link
    # per entry of its site-packages, on the new environment's path.
    dependencies = work / "dependencies"
    dependencies.mkdir()
    for entry in pathlib.Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(_TENSORFLOW_NAMES):
            (dependencies / entry.name).symlink_to(entry)
    purelib = _run([python, "-c", "import sysconfig; "
                    "print(sysconfig.get_paths()['purelib'])"],
                   cwd=work).stdout.strip()
    pathlib.Path(purelib, "zz_dependencies.pth").write_text(
        f"{dependencies}\n")
    env = dict(_clean_env(), KERAS_BACKEND=backend)

    def run(argv, check=True):
        done = subprocess.run([str(a) for a in argv], cwd=scratch, env=env,
                              capture_output=True, text=True, timeout=900)
        if check:
            assert done.returncode == 0, (argv, done.stdout[-3000:],
                                          done.stderr[-3000:])
        return done

    scratch = work / "scratch"
    scratch.mkdir()
    x = np.random.default_rng(4).uniform(0.2, 0.8, (1, 24, 32, 1)).astype(
        "float32")
    reference = keras.ops.convert_to_numpy(SPEN.from_preset("dp_3")(x))
    out = run([python, "-c", _WITHOUT_TF, json.dumps(x.tolist())]).stdout
    result = json.loads(next(line for line in out.splitlines()
                             if line.startswith("RESULT "))[7:])
    assert result["backend"] == backend
    assert not result["tensorflow_imported"]
    assert len(result["loaded"]) >= 30, result["loaded"]
    assert {"SPEN", "MultiLabelClassifier", "SrlLabeler"} <= set(
        result["loaded"].values())
    assert np.abs(np.subtract(result["output"], reference)).max() < 1e-5
    assert np.isfinite(result["losses"]).all()
    assert result["reloaded"] == 0.0
    assert "needs TensorFlow" in result["export"]
    assert "pip install tensorflow-cpu" in result["export"]

    # The CLI: denoise a real frame; train dp_3 and a multi-label preset a
    # few steps on the numpy streams; SRL training (tf.data) is refused in
    # one line, leaving nothing behind.
    cli = venv / "bin" / "spen-keras"
    frame = (ROOT / "datasets" / "seven_scenes" / "embedded" / "stairs"
             / "seq-01" / "frame-000000.depth.png")
    run([cli, "denoise", frame, scratch / "out.png", "--preset", "dp_3",
         "--always-denoise"])
    assert (scratch / "out.png").stat().st_size > 0
    run([cli, "train", "--preset", "dp_3", "--steps", "2", "--output-dir",
         scratch / "dp_3_trained", "--backup-dir", scratch / "backup"])
    metadata = json.loads((scratch / "dp_3_trained" / "metadata.json")
                          .read_text())
    assert ("JAX" if backend == "jax" else "PyTorch") in metadata["machine"]
    run([cli, "train", "--preset", "mlc_bibtex_br", "--steps", "3",
         "--output-dir", scratch / "br", "--backup-dir", scratch / "br_b"])
    assert (scratch / "br" / "metadata.json").is_file()
    refused = run([cli, "train", "--preset", "srl_local_h", "--steps", "3",
                   "--output-dir", scratch / "srl", "--backup-dir",
                   scratch / "srl_b"], check=False)
    assert refused.returncode == 2, refused.stderr[-3000:]
    errors = [line for line in refused.stderr.splitlines()
              if line.startswith("spen-keras:")]
    assert len(errors) == 1 and "needs TensorFlow" in errors[0], errors
    assert "Traceback" not in refused.stderr
    assert not (scratch / "srl").exists()
