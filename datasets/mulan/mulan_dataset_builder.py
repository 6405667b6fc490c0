"""Mulan multi-label benchmarks: Bibtex and Delicious (binary bag-of-words).

Configs:
    bibtex (default): BibSonomy BibTeX entries, 1836 binary features, 159
        tags as labels; 4880 train / 2515 test rows.
    delicious: del.icio.us web pages, 500 binary features, 983 tags as
        labels; 12920 train / 3185 test rows.

The Mulan release files ship with the package (`bibtex/`, `delicious/`,
unchanged); nothing is downloaded and no manual_dir is needed.

Splits: train and test (the standard files, unchanged), validation (the
rows i of the train file with i % 10 == 9) and train_without_validation
(the other train rows).

Example:

>>> import spen_keras.datasets  # registers "mulan" with TFDS
>>> ds = tfds.load("mulan/bibtex", split="validation")  # doctest: +SKIP

References:
    Katakis, Tsoumakas & Vlahavas. "Multilabel Text Classification for
    Automated Tag Suggestion." ECML/PKDD 2008 Discovery Challenge (Bibtex).
    Tsoumakas, Katakis & Vlahavas. "Effective and Efficient Multilabel
    Classification in Domains with Large Number of Labels." ECML/PKDD 2008
    Workshop on Mining Multidimensional Data (Delicious).
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from spen_keras.datasets.mulan import mulan_arff

SPLITS = mulan_arff.SPLITS
MulanDataError = mulan_arff.MulanDataError


@dataclasses.dataclass(eq=False)
class MulanConfig(tfds.core.BuilderConfig):
    """Config: `dataset` names the Mulan dataset (a key of
    `mulan_arff.DATASETS`)."""

    dataset: str = "bibtex"


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for the Mulan Bibtex and Delicious benchmarks."""

    # As in seven_scenes: setup.cfg maps `datasets/` to spen_keras.datasets,
    # so TFDS cannot infer these from the module name in a source checkout.
    code_path = epath.Path(__file__)
    pkg_dir_path = epath.Path(__file__).parent
    # The folder holding the shipped bibtex/ and delicious/ folders (the
    # conformance test points it at dummy_data/, same layout).
    public_dir = epath.Path(__file__).parent

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        MulanConfig(
            name=name, dataset=name,
            description=(f"Mulan {name}: {info.num_features} binary "
                         f"features, {info.num_labels} labels; "
                         f"{info.num_train} train / {info.num_test} test "
                         "rows, shipped with the package."))
        for name, info in mulan_arff.DATASETS.items()
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "bibtex"

    def _info(self):
        info = mulan_arff.DATASETS[self.builder_config.dataset]
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "features": tfds.features.Tensor(
                    shape=(info.num_features,), dtype=np.float32),
                "labels": tfds.features.Tensor(
                    shape=(info.num_labels,), dtype=np.uint8),
                "row": np.int64,
            }),
            supervised_keys=("features", "labels"),
            homepage=info.homepage,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # Nothing is downloaded.
        name = self.builder_config.dataset
        root = epath.Path(self.public_dir)
        # Fail at once, naming the file, rather than in a split's generator.
        for path in mulan_arff.split_paths(name, root):
            if not path.exists():
                raise MulanDataError(
                    f"{path}: file not found (the package's copy of Mulan "
                    f"{name} is incomplete: reinstall spen-keras)")
        return {split: self._generate_examples(root=root, split=split)
                for split in SPLITS}

    def _generate_examples(self, root, split):
        data = mulan_arff.read_split(self.builder_config.dataset, split,
                                     root=root)
        for features, labels, row in zip(data.features, data.labels,
                                          data.rows):
            yield int(row), {"features": features, "labels": labels,
                             "row": int(row)}
