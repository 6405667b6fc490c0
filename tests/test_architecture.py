"""The layering of docs/architecture.md, checked on the import graph.

Every `import` and `from ... import` in the source (module level and inside
functions) is read with `ast`, so a lazy import inside a function counts
too. Layers, bottom up: core -> datasets -> families -> zoo -> CLI; a layer
imports only layers below it (datasets import nothing of spen_keras).
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spen_keras"

CORE = ["backend_check", "energies", "step_rules", "unrolled_minimizer",
        "spen", "presets", "keras_preset_kind", "preset_training", "tables",
        "family", "tiled_inference", "resumable_training", "decoding",
        "distribute", "user_files"]
FAMILIES = ["denoising", "srl", "mlc"]
FORBIDDEN_FOR_CORE = ("spen_keras.zoo", "spen_keras.cli",
                      "spen_keras.datasets",
                      *(f"spen_keras.{family}" for family in FAMILIES))


def module_name(path, root, package):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def imports_of(path):
    """Absolute names of every module imported anywhere in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def sources(folder, package):
    return {module_name(path, folder, package): path
            for path in sorted(folder.rglob("*.py"))
            if not path.name.endswith("_test.py")}


def violations(modules, forbidden):
    found = []
    for name, path in modules.items():
        for imported in sorted(imports_of(path)):
            if any(imported == f or imported.startswith(f + ".")
                   for f in forbidden):
                found.append(f"{name} imports {imported}")
    return found


def core_modules():
    modules = {}
    for entry in CORE:
        folder = PACKAGE / entry
        if folder.is_dir():
            modules.update(sources(folder, f"spen_keras.{entry}"))
        else:
            modules[f"spen_keras.{entry}"] = PACKAGE / f"{entry}.py"
    return modules


def test_every_module_is_in_a_layer():
    """A new top-level module must be placed in a layer (and this test)."""
    top = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert top == set(CORE) | set(FAMILIES) | {"__init__", "__main__", "cli"}


def test_core_imports_no_family_zoo_dataset_or_cli():
    modules = core_modules()
    assert "spen_keras.spen" in modules and "spen_keras.presets" in modules
    assert violations(modules, FORBIDDEN_FOR_CORE) == []


@pytest.mark.parametrize("family", FAMILIES)
def test_families_import_no_zoo_cli_or_other_family(family):
    others = [f"spen_keras.{f}" for f in FAMILIES if f != family]
    modules = sources(PACKAGE / family, f"spen_keras.{family}")
    assert violations(modules, ("spen_keras.zoo", "spen_keras.cli",
                                *others)) == []


def test_datasets_import_nothing_of_the_library():
    modules = sources(ROOT / "datasets", "spen_keras.datasets")
    assert violations(modules, ("spen_keras.zoo", "spen_keras.cli",
                                *(m for m in FORBIDDEN_FOR_CORE
                                  if m != "spen_keras.datasets"),
                                *(f"spen_keras.{c}" for c in CORE))) == []


def test_zoo_imports_no_family_or_cli():
    modules = sources(ROOT / "zoo", "spen_keras.zoo")
    assert violations(modules, ("spen_keras.cli", *(
        f"spen_keras.{f}" for f in FAMILIES))) == []


def test_the_checker_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from spen_keras.zoo import x\n")
    assert violations({"m": path}, ("spen_keras.zoo",)) == [
        "m imports spen_keras.zoo", "m imports spen_keras.zoo.x"]


def test_a_family_registers_with_one_call_and_is_named_once_outside():
    """Adding a family is its folder, one `register_family` call and one
    entry point in setup.cfg: no other file outside the folder names it."""
    for family in FAMILIES:
        calls = [p for p in (PACKAGE / family).rglob("*.py")
                 if "register_family(" in p.read_text()]
        assert [p.name for p in calls] == ["__init__.py"]
        outside = {**core_modules(), **sources(ROOT / "zoo", "spen_keras.zoo"),
                   "spen_keras": PACKAGE / "__init__.py",
                   "spen_keras.cli": PACKAGE / "cli.py"}
        assert violations(outside, (f"spen_keras.{family}",)) == []
        assert f"{family} = spen_keras.{family}" in (
            ROOT / "setup.cfg").read_text()
