"""CoNLL-2005 shared task: semantic role labelling (PropBank) on the WSJ.

Configs:
    public (default): the annotation layers of the official release shipped
        in `public/` (props, Charniak and Collins parses, named entities,
        VerbNet senses), without the words: those are Penn Treebank text
        under an LDC licence and are not distributed. No manual_dir needed.
    full: the same features plus `words`, read from a user's complete
        release in manual_dir (same layout, plus a `words/` layer per split
        built from the LDC Penn Treebank). Nothing is downloaded: a missing
        manual_dir or file is an error at once.

Splits: train (WSJ sections 02-21), devel (24), test_wsj (23), test_brown.

Example:

>>> import spen_keras.datasets  # registers "conll2005" with TFDS
>>> ds = tfds.load("conll2005/public", split="devel")  # doctest: +SKIP

Reference:
    Carreras & Marquez. "Introduction to the CoNLL-2005 Shared Task:
    Semantic Role Labeling." CoNLL 2005.
"""

import dataclasses

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from spen_keras.datasets.conll2005 import conll2005_layers as layers_io

SPLITS = tuple(layers_io.SPLITS)
Conll2005DataError = layers_io.Conll2005DataError


class Conll2005DataMissingError(FileNotFoundError):
    """Raised when a file a config reads is absent (nothing is downloaded)."""


@dataclasses.dataclass(eq=False)
class Conll2005Config(tfds.core.BuilderConfig):
    """Config: `with_words` False reads the shipped public layers; True reads
    manual_dir, words included."""

    with_words: bool = False


def _text_sequence():
    return tfds.features.Sequence(tfds.features.Text())


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for CoNLL-2005 SRL (public layers, or with words)."""

    # As in seven_scenes: setup.cfg maps `datasets/` to spen_keras.datasets,
    # so TFDS cannot infer these from the module name in a source checkout.
    code_path = epath.Path(__file__)
    pkg_dir_path = epath.Path(__file__).parent
    # The shipped release layers read by the "public" config.
    public_dir = epath.Path(__file__).parent / "public"

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS = [
        Conll2005Config(
            name="public",
            description="Annotation layers of the official release (no "
            "words), shipped with the package."),
        Conll2005Config(
            name="full", with_words=True,
            description="All layers plus the words, from a complete "
            "release in manual_dir."),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "public"
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    public: nothing to do (the layers ship with the package).
    full: put the complete CoNLL-2005 release in manual_dir: for each of
    train/ (files train.02 ... train.21), devel/ (devel.24), test.wsj/ and
    test.brown/ the folders props/, synt.cha/, synt.col2/, ne/, words/ and,
    for train and devel, senses/, each holding <stem>.<layer>.gz, e.g.
    train/words/train.02.words.gz. The words are Penn Treebank text (LDC
    licence): build them with the srlconll scripts, e.g.
    zcat WSJ/02/* | wsj-removetraces.pl | wsj-to-se.pl -w 1 | awk '{print $1}'
    | gzip > train/words/train.02.words.gz (see public/README).
    """

    def _info(self):
        features = {
            "id": tfds.features.Text(),
            "predicate_lemmas": _text_sequence(),
            "pos": _text_sequence(),
            "collins_parse": _text_sequence(),
            "charniak_pos": _text_sequence(),
            "charniak_parse": _text_sequence(),
            "ne": _text_sequence(),
            "senses": _text_sequence(),
            "predicate_index": tfds.features.Sequence(np.int32),
            "arguments": tfds.features.Sequence(_text_sequence()),
            "argument_spans": tfds.features.Sequence({
                "predicate": np.int32,
                "start": np.int32,
                "end": np.int32,
                "label": tfds.features.Text(),
            }),
        }
        if self.builder_config.with_words:
            features["words"] = _text_sequence()
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            homepage="https://www.cs.upc.edu/~srlconll/",
        )

    def _split_generators(self, dl_manager):
        if self.builder_config.with_words:
            root = self._full_root(dl_manager)
        else:
            root = epath.Path(self.public_dir)
            missing = [path for split in SPLITS
                       for path in _required_paths(root, split, False)
                       if not path.exists()]
            if missing:
                raise Conll2005DataMissingError(
                    f"CoNLL-2005 public layer missing: {missing[0]}"
                    + _and_more(missing)
                    + "; the package's public/ copy is incomplete "
                    "(reinstall spen-keras).")
        return {split: self._generate_examples(root=root, split=split)
                for split in SPLITS}

    def _full_root(self, dl_manager):
        try:
            root = epath.Path(dl_manager.manual_dir)
        except (AssertionError, ValueError):
            # TFDS refuses an absent or empty manual_dir.
            path = dl_manager._manual_dir  # pylint: disable=protected-access
            raise Conll2005DataMissingError(
                f"CoNLL-2005 'full' needs the complete release in manual_dir "
                f"{path}, which does not exist or is empty; missing e.g. "
                f"{layers_io.layer_path(path, 'train', 'words', '02')}; "
                f"words layer: {layers_io.WORDS_HOWTO}.") from None
        missing = [path for split in SPLITS
                   for path in _required_paths(root, split, True)
                   if not path.exists()]
        if missing:
            raise Conll2005DataMissingError(
                f"CoNLL-2005 'full' file missing: {missing[0]}"
                + _and_more(missing)
                + f" (manual_dir {root}); words layer: "
                f"{layers_io.WORDS_HOWTO}.")
        return root

    def _generate_examples(self, root, split):
        names = _layers(split, self.builder_config.with_words)
        for sentence in layers_io.read_split(root, split, names):
            yield sentence["key"], _example(sentence)


def _layers(split, with_words):
    names = [layer for layer in layers_io.PUBLIC_LAYERS
             if not (layer == "senses"
                     and split in layers_io.SPLITS_WITHOUT_SENSES)]
    return names + ["words"] if with_words else names


def _required_paths(root, split, with_words):
    return [path for layer in _layers(split, with_words)
            for path in layers_io.layer_paths(root, split, layer)]


def _and_more(missing):
    return f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""


def _example(sentence):
    """The features of one sentence (dict from `layers_io.read_split`)."""
    lemmas, predicates = layers_io.parse_props(
        sentence["props"], sentence["lines"]["props"],
        sentence["paths"]["props"])
    spans = {"predicate": [], "start": [], "end": [], "label": []}
    for number, (_, _, _, arguments) in enumerate(predicates):
        for start, end, label in arguments:
            spans["predicate"].append(number)
            spans["start"].append(start)
            spans["end"].append(end)
            spans["label"].append(label)
    example = {
        "id": sentence["key"],
        "predicate_lemmas": lemmas,
        "pos": [row[0] for row in sentence["synt.col2"]],
        "collins_parse": [row[1] for row in sentence["synt.col2"]],
        "charniak_pos": [row[0] for row in sentence["synt.cha"]],
        "charniak_parse": [row[1] for row in sentence["synt.cha"]],
        "ne": [row[0] for row in sentence["ne"]],
        "senses": [row[0] for row in sentence.get("senses", [])],
        "predicate_index": [position for position, *_ in predicates],
        "arguments": [tags for _, _, tags, _ in predicates],
        "argument_spans": spans,
    }
    if "words" in sentence:
        example["words"] = [row[0] for row in sentence["words"]]
    return example
