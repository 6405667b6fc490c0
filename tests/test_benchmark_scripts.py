"""Fast checks of the benchmark scripts' own logic (no benchmark is run),
and of the layout of benchmarks/ and experiments/: packages of scripts run
as `python -m benchmarks.NAME` (`experiments.NAME`) that share
`benchmarks.common` and import no other script of their folder, and that
the library imports neither."""

import ast
import importlib
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
EXPERIMENTS = ROOT / "experiments"
SCRIPTS = sorted(p for folder in (BENCHMARKS, EXPERIMENTS)
                 for p in folder.glob("*.py") if p.name != "__init__.py")


def import_benchmark(name, package="benchmarks"):
    """`benchmarks.NAME` (or `experiments.NAME`), imported as `python -m`
    from the repository root would (the root on the path)."""
    sys.path.insert(0, str(ROOT))
    try:
        return importlib.import_module(f"{package}.{name}")
    finally:
        sys.path.remove(str(ROOT))


@pytest.fixture(scope="module")
def scaling():
    return import_benchmark("scaling")


def _fit(scaling, xs, ys):
    fit = scaling.fit_line(xs, ys)
    fit["t_range"] = (min(xs), max(xs))
    return fit


def test_fit_line_recovers_a_line(scaling):
    fit = scaling.fit_line([1, 2, 5, 10], [1.5 + 0.25 * t for t in
                                           (1, 2, 5, 10)])
    assert fit["slope"] == pytest.approx(0.25)
    assert fit["intercept"] == pytest.approx(1.5)
    assert fit["r2"] == pytest.approx(1.0)
    assert scaling.fit_line([3], [1.0])["slope"] is None


def test_verdicts_on_synthetic_points(scaling):
    Ts = [1, 2, 5, 10, 20, 30, 40]
    fits = {
        "step_time": {
            "plain": _fit(scaling, Ts, [0.1 + 0.2 * t for t in Ts]),
            # Quadratic: not linear.
            "checkpointed": _fit(scaling, Ts, [0.01 * t ** 3 for t in Ts]),
        },
        "peak_rss": {
            "plain": _fit(scaling, Ts, [700 + 30 * t for t in Ts]),
            "checkpointed": _fit(scaling, Ts, [700 + 1 + 0.5 * (t % 2)
                                               for t in Ts]),
            "finite_difference": _fit(scaling, Ts, [700 + 25 * t
                                                    for t in Ts]),
        },
        "inference": scaling.fit_line([0.02, 0.08, 0.31, 1.23],
                                      [0.01 + 5 * p for p in
                                       (0.02, 0.08, 0.31, 1.23)]),
    }
    v = scaling.verdicts(fits)
    assert v["step_time_linear_plain"] is True
    assert v["step_time_linear_checkpointed"] is False
    assert v["peak_rss_linear_plain"] is True
    assert v["peak_rss_flat_checkpointed"] is True
    assert v["peak_rss_flat_finite_difference"] is False
    assert v["inference_linear"] is True
    assert "NOT linear" in v["step_time_checkpointed"]


def test_inference_size_parsing_and_configurations():
    inference = import_benchmark("inference")
    assert inference.parse_size("960x1280") == (960, 1280)

    class Args:
        no_grid = False
        presets = ["dp_3"]
        reps, reps_dp20, reps_sizes = 6, 2, 3
        dtype_policy = ["float32", "mixed_float16"]
        mixed_modes = ["tf_function"]
        tolerance = 5e-4
        frame = "480x640"
        sizes = ["120x160", "480x640"]

    configs = inference.configurations(Args)
    # float32: 2 modes x early stop off/on; mixed: tf_function x off/on;
    # sizes: 120x160 only (480x640 tf_function float32 is in the grid).
    assert len(configs) == 4 + 2 + 1
    assert ("dp_3", "tf_function", None, "120x160", 3, "float32") in configs


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("script", ["gpu_check.sh", "gpu_check_jax.sh",
                                    "gpu_wheels.sh"])
def test_gpu_check_scripts_parse(script):
    subprocess.run(["bash", "-n", os.path.join(BENCHMARKS, script)],
                   check=True)


def test_the_backend_gpu_check_runs_a_dry_run_on_this_cpu(tmp_path):
    """`benchmarks.gpu_backends`: TensorFlow's reference (this process),
    then a dry run of `--measure` on PyTorch (a corner of the frame, one
    step): its outputs equal TensorFlow's and every figure is written."""
    import json

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    gpu_backends = import_benchmark("gpu_backends")
    reference = tmp_path / "reference.npz"
    gpu_backends.write_reference(reference)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(KERAS_BACKEND="torch", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "benchmarks.gpu_backends",
                    "--measure", reference, "--out", tmp_path / "out",
                    "--presets", "dp_3", "--crop", "48", "64",
                    "--train-steps", "1", "--frames", "1"], cwd=tmp_path,
                   env=env, check=True, capture_output=True, timeout=600)
    result = json.loads((tmp_path / "out" / "gpu_backends_torch.json")
                        .read_text())
    assert result["dp_3_max_abs_diff_vs_tf_cpu"] < 1e-4
    assert result["targets"]["dp_3 outputs equal TF CPU within 1e-4"]
    for key in ("dp_3_train_ms_per_step", "dp_3_frames_per_s",
                "dp_3_bf16_frames_per_s", "dp_3_bf16_psnr_change_db"):
        assert np.isfinite(result[key]), key
    assert "| dp_3 |" in (tmp_path / "out" / "RESULTS_gpu_backends.md"
                          ).read_text()


def _sys_path_uses(tree):
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "path"
            and isinstance(node.value, ast.Name) and node.value.id == "sys"]


def _imported_modules(tree, package):
    """(line, module) of every import in a module of `package`, relative
    imports resolved against the package."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(filter(None, [package, base]))
            if base == package:  # `from benchmarks import roofline`
                found += [(node.lineno, f"{base}.{alias.name}")
                          for alias in node.names]
            else:
                found.append((node.lineno, base))
    return found


def layout_violations(folder, allowed=("common",)):
    """Where the scripts of `folder` (a package) touch sys.path or import
    another script of it (bare, as `folder.NAME` or relatively) other than
    the `allowed` shared modules."""
    names = {p.stem for p in folder.glob("*.py")} - {"__init__"}
    package = folder.name
    violations = []
    for path in sorted(folder.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        violations += [f"{path.name}:{line}: sys.path"
                       for line in _sys_path_uses(tree)]
        for line, module in _imported_modules(tree, package):
            parts = module.split(".")
            if parts[0] == package and len(parts) > 1:
                script = parts[1]
            elif len(parts) == 1 and parts[0] in names:
                script = parts[0]  # `import roofline`: the folder on sys.path
            else:
                continue
            if script in names and script not in allowed \
                    and script != path.stem:
                violations.append(f"{path.name}:{line}: imports {module}")
    return violations


def test_benchmarks_share_only_common_and_never_touch_sys_path():
    assert (BENCHMARKS / "__init__.py").is_file()
    assert (BENCHMARKS / "common.py").is_file()
    assert layout_violations(BENCHMARKS) == []


def test_experiments_import_no_other_experiment_and_never_sys_path():
    assert (EXPERIMENTS / "__init__.py").is_file()
    assert layout_violations(EXPERIMENTS, allowed=()) == []


def test_experiments_use_only_the_librarys_public_names():
    """No `_name` of spen_keras is imported or reached for, and the package
    is entered through its modules, never its folder layout."""
    found = []
    for path in sorted(EXPERIMENTS.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and (
                    node.module or "").startswith("spen_keras"):
                names = node.module.split(".") + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [part for alias in node.names
                         if alias.name.startswith("spen_keras")
                         for part in alias.name.split(".")]
            elif isinstance(node, ast.Attribute):
                names = [node.attr]
            found += [f"{path.name}:{node.lineno}: {name}" for name in names
                      if name.startswith("_") and not name.startswith("__")]
    assert found == []


def test_the_library_imports_neither_benchmarks_nor_experiments():
    found = []
    for path in sorted((ROOT / "spen_keras").rglob("*.py")) + [
            ROOT / "spen_keras_launcher.py"]:
        tree = ast.parse(path.read_text(), filename=str(path))
        found += [f"{path.relative_to(ROOT)}:{line}: {module}"
                  for line, module in _imported_modules(tree, "spen_keras")
                  if module.split(".")[0] in ("benchmarks", "experiments")]
    assert found == []


def test_the_layout_check_catches_what_it_forbids(tmp_path):
    folder = tmp_path / "benchmarks"
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "common.py").write_text("import json\n")
    (folder / "a.py").write_text(
        "import sys\nsys.path.insert(0, '.')\nimport b\n"
        "from benchmarks import common, b\nfrom benchmarks.b import x\n"
        "from . import b\nfrom .common import y\n")
    (folder / "b.py").write_text("from benchmarks.common import z\n")
    assert layout_violations(folder) == [
        "a.py:2: sys.path", "a.py:3: imports b", "a.py:4: imports "
        "benchmarks.b", "a.py:5: imports benchmarks.b", "a.py:6: imports "
        "benchmarks.b"]


@pytest.mark.parametrize("script", [f"{p.parent.name}.{p.stem}"
                                    for p in SCRIPTS])
def test_every_benchmark_and_experiment_imports_as_a_module(script):
    package, name = script.split(".")
    import_benchmark(name, package)
