"""Every docstring example in the installed package runs and prints what it
says (doctest), as part of the default suite.

Examples may use numpy as `np`, TensorFlow as `tf`, `keras` and the public
API (`from spen_keras import *`, `from spen_keras.denoising import *`)
without importing them, besides their own module's names. They run in a
scratch directory, so an example that writes files leaves nothing behind.
"""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import spen_keras
import spen_keras.datasets
import spen_keras.denoising
import spen_keras.zoo

# `python -m spen_keras` runs the command line on import; test files are
# for pytest, not doctest.
SKIPPED = ("__main__", "_test")


def _module_names():
    names = ["spen_keras", "spen_keras.datasets", "spen_keras.zoo"]
    for package in (spen_keras, spen_keras.datasets, spen_keras.zoo):
        for info in pkgutil.walk_packages(package.__path__,
                                          package.__name__ + "."):
            if info.name.endswith(SKIPPED):
                continue
            names.append(info.name)
    return sorted(set(names))


MODULES = _module_names()


def _public_names():
    names = {"np": np, "tf": tf, "keras": keras}
    for module in (spen_keras, spen_keras.denoising):
        exported = getattr(module, "__all__", None) or [
            n for n in dir(module) if not n.startswith("_")]
        names.update({n: getattr(module, n) for n in exported})
    return names


def _examples(module):
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [test for test in finder.find(module, module.__name__,
                                         extraglobs=_public_names())
            if test.examples]


def test_the_package_has_docstring_examples():
    count = sum(len(_examples(importlib.import_module(name)))
                for name in MODULES)
    assert count >= 30
    # The walk reaches the mapped subpackages and the core alike.
    assert "spen_keras.core.unrolled_minimizer" in MODULES
    assert "spen_keras.datasets.seven_scenes.proximalnet_pairs" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in _examples(module):
        keras.utils.set_random_seed(0)
        result = runner.run(test, out=failures.append)
        assert result.failed == 0 or failures, test.name
    assert not failures, "".join(failures)
