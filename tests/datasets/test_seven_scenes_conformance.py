"""Runs the seven_scenes builder's TFDS conformance tests in the default suite.

TFDS keeps a builder's tests beside it
(`datasets/seven_scenes/seven_scenes_dataset_builder_test.py`, runnable on
its own), outside `testpaths`; importing its test cases here is what makes
`pytest` collect them. A few seconds: the builds read `dummy_data/`.
"""

import tensorflow_datasets as tfds

from spen_keras.datasets.seven_scenes import (
    seven_scenes_dataset_builder_test as conformance)

# pytest collects unittest.TestCase classes found in a test module.
OfficialStairsTest = conformance.OfficialStairsTest
ProximalNetTest = conformance.ProximalNetTest
__all__ = ["OfficialStairsTest", "ProximalNetTest"]


def test_every_conformance_test_case_is_collected_here():
    cases = {name for name, value in vars(conformance).items()
             if isinstance(value, type)
             and issubclass(value, tfds.testing.DatasetBuilderTestCase)}
    assert cases == set(__all__)
