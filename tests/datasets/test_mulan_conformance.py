"""Runs the mulan builder's TFDS conformance tests in the default suite.

As for conll2005: the builder's tests live beside it
(`datasets/mulan/mulan_dataset_builder_test.py`), outside `testpaths`;
importing its test cases here makes `pytest` collect them. A few seconds:
the builds read `dummy_data/`.
"""

import tensorflow_datasets as tfds

from spen_keras.datasets.mulan import (
    mulan_dataset_builder_test as conformance)

# pytest collects unittest.TestCase classes found in a test module.
BibtexTest = conformance.BibtexTest
DeliciousTest = conformance.DeliciousTest
__all__ = ["BibtexTest", "DeliciousTest"]


def test_every_conformance_test_case_is_collected_here():
    cases = {name for name, value in vars(conformance).items()
             if isinstance(value, type)
             and issubclass(value, tfds.testing.DatasetBuilderTestCase)}
    assert cases == set(__all__)
