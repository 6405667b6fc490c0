"""Runs the conll2005 builder's TFDS conformance tests in the default suite.

As for seven_scenes: the builder's tests live beside it
(`datasets/conll2005/conll2005_dataset_builder_test.py`), outside
`testpaths`; importing its test cases here makes `pytest` collect them.
A few seconds: the builds read `dummy_data/`.
"""

import tensorflow_datasets as tfds

from spen_keras.datasets.conll2005 import (
    conll2005_dataset_builder_test as conformance)

# pytest collects unittest.TestCase classes found in a test module.
PublicTest = conformance.PublicTest
FullTest = conformance.FullTest
__all__ = ["PublicTest", "FullTest"]


def test_every_conformance_test_case_is_collected_here():
    cases = {name for name, value in vars(conformance).items()
             if isinstance(value, type)
             and issubclass(value, tfds.testing.DatasetBuilderTestCase)}
    assert cases == set(__all__)
