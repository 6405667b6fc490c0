"""The layering of docs/architecture.md, checked on the import graph.

Every `import` and `from ... import` in the source (module level and inside
functions) is read with `ast`, so a lazy import inside a function counts
too. Layers, bottom up: the model core (`spen_keras/core/`) -> the preset
and zoo infrastructure (`spen_keras/presets/`) -> datasets -> families ->
zoo -> CLI; a layer imports only layers below it (datasets import nothing
of spen_keras, the core nothing of spen_keras outside it).
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spen_keras"

# The layers, bottom up (docs/architecture.md): the model core, the preset
# and zoo infrastructure on it, the families on both (and the datasets), the
# zoo, the CLI. Each `spen_keras/` subpackage is one of them.
CORE = "core"  # energies, step rules, minimiser, SPEN, decoding
INFRA = "presets"  # specs, kinds, I/O, training loop, resume, tables
FAMILIES = ["denoising", "srl", "mlc"]
FORBIDDEN_FOR_CORE = ("spen_keras.zoo", "spen_keras.cli",
                      "spen_keras.datasets", f"spen_keras.{INFRA}",
                      *(f"spen_keras.{family}" for family in FAMILIES))
FORBIDDEN_FOR_INFRA = ("spen_keras.zoo", "spen_keras.cli",
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
    return sources(PACKAGE / CORE, f"spen_keras.{CORE}")


def infra_modules():
    return sources(PACKAGE / INFRA, f"spen_keras.{INFRA}")


def test_the_top_level_holds_the_public_api_and_the_layers_only():
    """`spen_keras/` is the public API (`__init__`), the entry points and
    one subpackage per layer; a new module goes into one of them."""
    top = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert top == {CORE, INFRA, *FAMILIES, "__init__", "__main__", "cli"}


def test_the_model_core_imports_nothing_else_of_spen_keras():
    """One exception, at call time: `SPEN.from_preset` is the preset
    facility's `load_preset_as` (a model class's `from_preset`, as in
    KerasHub)."""
    modules = core_modules()
    assert "spen_keras.core.spen" in modules
    assert "spen_keras.core.energies.deep_prior_energy" in modules
    assert violations(modules, FORBIDDEN_FOR_CORE) == [
        "spen_keras.core.spen imports spen_keras.presets",
        "spen_keras.core.spen imports spen_keras.presets.load_preset_as"]


def test_the_preset_infrastructure_imports_no_family_zoo_dataset_or_cli():
    modules = infra_modules()
    assert {"spen_keras.presets", "spen_keras.presets.training",
            "spen_keras.presets.keras_kind"} <= set(modules)
    assert violations(modules, FORBIDDEN_FOR_INFRA) == []


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
                                f"spen_keras.{CORE}",
                                f"spen_keras.{INFRA}")) == []


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
        outside = {**core_modules(), **infra_modules(),
                   **sources(ROOT / "zoo", "spen_keras.zoo"),
                   "spen_keras": PACKAGE / "__init__.py",
                   "spen_keras.cli": PACKAGE / "cli.py"}
        assert violations(outside, (f"spen_keras.{family}",)) == []
        assert f"{family} = spen_keras.{family}" in (
            ROOT / "setup.cfg").read_text()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_familys_presets_file_is_data_only(family):
    """Each family keeps its models, kind, recipe and trainer in their own
    modules; its presets file lists the rows (specs), nothing else."""
    path = PACKAGE / family / f"{family if family != 'mlc' else 'mlc'}" \
        f"_presets.py"
    if family == "denoising":
        path = PACKAGE / family / "denoising_presets.py"
    tree = ast.parse(path.read_text())
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == []
    assert len(path.read_text().splitlines()) <= 150


def test_the_tests_mirror_the_layout():
    """tests/<layer>/ for each subpackage of spen_keras and for datasets;
    the tests of the CLI, the zoo, the README and packaging at the top."""
    folders = {p.name for p in (ROOT / "tests").iterdir()
               if p.is_dir() and p.name not in ("data", "__pycache__")}
    assert folders == {CORE, INFRA, *FAMILIES, "datasets"}
    for folder in folders:
        tested = ROOT / ("datasets" if folder == "datasets"
                         else f"spen_keras/{folder}")
        assert tested.is_dir(), folder
