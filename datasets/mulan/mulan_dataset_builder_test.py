"""TFDS conformance tests of the mulan builder, on `dummy_data/`.

`dummy_data/` has the shipped layout (`bibtex/`, `delicious/`): each ARFF
file is the real header and the first rows (20 train, 3 test; written by
`make_dummy_data.py`), so the features have the real shapes. The default
test run collects these cases through `tests/datasets/test_mulan_conformance.py`;
on their own: `pytest datasets/mulan/mulan_dataset_builder_test.py`.
"""

from unittest import mock

import tensorflow_datasets as tfds

from spen_keras.datasets.mulan import mulan_dataset_builder

Builder = mulan_dataset_builder.Builder
DUMMY_DATA = Builder.pkg_dir_path / "dummy_data"
# 20 train rows: rows 9 and 19 are the validation split.
DUMMY_SPLITS = {"train": 20, "test": 3, "validation": 2,
                "train_without_validation": 18}


class _DummyDataTest(tfds.testing.DatasetBuilderTestCase):
    """Reads dummy_data/ instead of the shipped folders."""

    DATASET_CLASS = Builder
    SPLITS = DUMMY_SPLITS
    # train is validation + train_without_validation (which must not
    # overlap each other, nor test).
    OVERLAPPING_SPLITS = ["train"]

    def setUp(self):
        super().setUp()
        patcher = mock.patch.object(Builder, "public_dir", DUMMY_DATA)
        patcher.start()
        self.addCleanup(patcher.stop)


class BibtexTest(_DummyDataTest):
    """The `bibtex` config."""

    BUILDER_CONFIG_NAMES_TO_TEST = ["bibtex"]


class DeliciousTest(_DummyDataTest):
    """The `delicious` config."""

    BUILDER_CONFIG_NAMES_TO_TEST = ["delicious"]


del _DummyDataTest  # Not a test case of its own (no config to test).


if __name__ == "__main__":
    tfds.testing.test_main()
