"""TFDS conformance tests of the conll2005 builder, on `dummy_data/`.

`dummy_data/` is laid out as a user's manual_dir for the `full` config (the
first sentences of each release file, plus invented words); the `public`
test reads the same files in place of the shipped `public/` layers. The
default test run collects these cases through
`tests/datasets/test_conll2005_conformance.py`; on their own:
`pytest datasets/conll2005/conll2005_dataset_builder_test.py`.
"""

from unittest import mock

import tensorflow_datasets as tfds

from spen_keras.datasets.conll2005 import conll2005_dataset_builder

Builder = conll2005_dataset_builder.Builder
DUMMY_DATA = Builder.pkg_dir_path / "dummy_data"
# make_dummy_data.py keeps 1 sentence per train section (20), 3 of devel,
# 3 of test.wsj and 3 of test.brown.
DUMMY_SPLITS = {"train": 20, "devel": 3, "test_wsj": 3, "test_brown": 3}


class PublicTest(tfds.testing.DatasetBuilderTestCase):
    """The `public` config, reading dummy_data/ instead of public/."""

    DATASET_CLASS = Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["public"]
    SPLITS = DUMMY_SPLITS

    def setUp(self):
        super().setUp()
        patcher = mock.patch.object(Builder, "public_dir", DUMMY_DATA)
        patcher.start()
        self.addCleanup(patcher.stop)


class FullTest(tfds.testing.DatasetBuilderTestCase):
    """The `full` config, with dummy_data/ (invented words) as manual_dir."""

    DATASET_CLASS = Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["full"]
    SPLITS = DUMMY_SPLITS


if __name__ == "__main__":
    tfds.testing.test_main()
