"""TFDS conformance tests of the seven_scenes builder, on `dummy_data/`.

`dummy_data/` is laid out as a user's manual_dir: `stairs.zip` in Microsoft's
archive layout (real frames, unchanged) for the official splits, and the
synthetic-format ProximalNet pair lists. The default test run collects
these cases through `tests/datasets/test_seven_scenes_conformance.py`; on their own:
`pytest datasets/seven_scenes/seven_scenes_dataset_builder_test.py`.
"""

import tensorflow_datasets as tfds

from spen_keras.datasets.seven_scenes import seven_scenes_dataset_builder

Builder = seven_scenes_dataset_builder.Builder


class OfficialStairsTest(tfds.testing.DatasetBuilderTestCase):
    """Official splits read from `dummy_data/stairs.zip`.

    The default "official" config asks for all 7 scenes and dummy_data only
    has stairs (the only frames that may ship), so the official config is
    tested restricted to stairs; everything else about it is identical.
    """

    DATASET_CLASS = Builder
    BUILDER_CONFIG_NAMES_TO_TEST = [
        seven_scenes_dataset_builder.official_config(["stairs"])]
    # TrainSplit.txt: sequences 2, 3; TestSplit.txt: 1, 4; 3 frames each.
    SPLITS = {"train": 6, "test": 6}


class ProximalNetTest(tfds.testing.DatasetBuilderTestCase):
    """ProximalNet pairs from `dummy_data/train.lst` and `val.lst`."""

    DATASET_CLASS = Builder
    BUILDER_CONFIG_NAMES_TO_TEST = ["proximalnet"]
    SPLITS = {"train": 2, "validation": 1}


if __name__ == "__main__":
    tfds.testing.test_main()
