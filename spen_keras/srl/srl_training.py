"""The SRL family's trainer and evaluation: the local model and the SPEN
through the one training loop (`preset_training.fit_resumably`), a decoder
variant written from its base, every preset scored on the three splits.

Recipes (all trained on the public layers' train split, sections 02-21):

- Local (Eq. 17/18): `LocalSrlModel`, 8-wide embeddings of the 29 arc
  feature templates (values seen at least 3 times in train), one ReLU layer
  of 256, dropout 0.3, multiclass logistic regression over 35 roles;
  Adam 3e-3 with cosine decay, batches of 512 arcs, 3 epochs.
- SPEN (Sec. 6.2.2, `srl_spen`): starts from the Local preset's encoder
  and local term; 10 logit-space steps with learned rates; Eq. 9 loss on
  the iterates; batches of 32 sentences, Adam 1e-3, 3 epochs; the local
  term and its encoder stay clamped (`clamp_epochs=3`: freed after the
  first epoch they over-fitted train, 1.0 F1 lower on test WSJ).
- SPEN-ICNN: the same with an input-convex global term.
- SPEN-SSVM: the same energy trained as a structured SVM
  (`training_mode="ssvm"`).
"""

import pathlib
import time

import keras

from spen_keras import presets
from spen_keras.core.backend import require_tensorflow
from spen_keras.core.backend import require_tensorflow_backend
from spen_keras.datasets.conll2005 import conll2005_layers
from spen_keras.presets import CONFIG_FILE, PresetError
from spen_keras.srl import srl_data
from spen_keras.srl import srl_decode
from spen_keras.srl.arc_features import TEMPLATES
from spen_keras.srl.arc_features import WORD_TEMPLATES
from spen_keras.srl.arc_features import FeatureVocabulary
from spen_keras.srl.arc_features import read_sentences
from spen_keras.srl.srl_layers import LocalSrlModel
from spen_keras.srl.srl_layers import build_model
from spen_keras.srl.srl_labeler import SrlLabeler
from spen_keras.srl.srl_recipe import CHECKPOINT_EVERY
from spen_keras.srl.srl_recipe import PRIMARY_COLUMN
from spen_keras.srl.srl_recipe import SPLITS
from spen_keras.srl.srl_recipe import SRL_KIND

# === Evaluation ===


# A user's own data: a folder of CoNLL column files (the format `srl-label`
# reads, with the gold argument columns), instead of a release tree.
COLUMN_FILES = {"train": ("train.conll", "train.conll.gz"),
                "devel": ("dev.conll", "dev.conll.gz")}


def column_file(root, split):
    """The column file of `split` ("train" or "devel") in a folder of
    column files, or None (no such file, or `root` is a release tree)."""
    if root is None or split not in COLUMN_FILES:
        return None
    for name in COLUMN_FILES[split]:
        if (pathlib.Path(root) / name).is_file():
            return pathlib.Path(root) / name
    return None


def is_column_folder(root):
    """Whether `root` holds the user's column files (train.conll[.gz])
    rather than a CoNLL-2005 release tree."""
    return column_file(root, "train") is not None


def _column_sentences(root, split):
    """The sentences of a column file, which must carry gold arguments."""
    from spen_keras.srl.user_files import SrlInputError
    from spen_keras.srl.user_files import read_conll_file

    path = column_file(root, split)
    sentences, has_gold = read_conll_file(path)
    if not has_gold:
        raise SrlInputError(f"{path}: no gold argument columns; training and "
                            "validation files need them (WORD POS PARSE NE "
                            "LEMMA ARG_1 ... ARG_n)")
    return sentences


def _file_has_words(path):
    """Whether a column file's WORD column has words (not all "-"), read
    from its text (no parsing of its trees)."""
    from spen_keras.srl.user_files import open_text

    with open_text(path) as handle:
        return any(line.split()[0] != "-" for line in handle
                   if line.strip())


def has_words(root, split):
    """Whether a release folder has the `words` layer of a split (a full
    release built with the LDC words; never the shipped public layers), or
    a column file of the split has words (a WORD column not all "-")."""
    if root is None:
        return False
    if is_column_folder(root):
        path = column_file(root, split)
        return path is not None and _file_has_words(path)
    return all(path.is_file() for path in
               conll2005_layers.layer_paths(root, split, "words"))


def evaluation_sentences(root=None, splits=tuple(SPLITS.values())):
    """{split: [SentenceArcs without ids]} of the evaluation splits (with
    words where the release has them); of a folder of column files, its
    validation file (dev.conll) as "devel" if it has one."""
    if is_column_folder(root):
        return ({"devel": _column_sentences(root, "devel")}
                if column_file(root, "devel") is not None else {})
    return {split: list(read_sentences(split, root=root,
                                       words=has_words(root, split)))
            for split in splits}


_SOFT_CACHE = {}


def soft_predictions(labeler, split, sentences, iterates=False):
    """`labeler.soft_predictions`, cached per model file and split (rows
    that decode one model differently share them)."""
    def key(with_iterates):
        return (getattr(labeler, "source", id(labeler.model)), split,
                with_iterates, id(sentences))

    if key(iterates) not in _SOFT_CACHE:
        _SOFT_CACHE[key(iterates)] = labeler.soft_predictions(
            labeler.prepare(sentences), iterates=iterates)
        if iterates:  # the last iterate is the prediction: no second pass
            _SOFT_CACHE[key(False)] = _SOFT_CACHE[key(True)][-1]
    return _SOFT_CACHE[key(iterates)]


def evaluate_labeler(labeler, sentences_by_split):
    """{column: SrlScore} of a labeler on the evaluation splits."""
    scores = {}
    for column, split in SPLITS.items():
        if split not in sentences_by_split:
            continue
        sentences = sentences_by_split[split]
        probabilities = soft_predictions(labeler, split, sentences)
        predicted = srl_decode.decode_sentences(
            sentences, labeler.log_scores(probabilities), labeler.role_set,
            labeler.decoder)
        scores[column] = srl_decode.score_sentences(sentences, predicted)
    return scores


def evaluation_metadata(labeler, sentences_by_split):
    scores = evaluate_labeler(labeler, sentences_by_split)
    primary = PRIMARY_COLUMN if PRIMARY_COLUMN in scores else next(
        iter(scores), None)
    return {
        "our_value": None if primary is None else round(scores[primary].f1,
                                                        2),
        "our_values": {c: round(s.f1, 2) for c, s in scores.items()},
        "precision_recall": {c: [round(s.precision, 2), round(s.recall, 2)]
                             for c, s in scores.items()},
        "evaluation": ("CoNLL-2005 public layers: devel (WSJ 24), test.wsj "
                       "(WSJ 23), test.brown; official srl-eval.pl rules"),
    }


# === Training ===

_TRAINING_CACHE = {}


def training_sentences(min_count, root=None, vocabulary=None):
    """(vocabulary, role_set, train sentences with ids), cached per process.
    The vocabulary is fitted on train unless given; on a release with the
    `words` layer it includes the word templates."""
    key = (min_count, str(root), None if vocabulary is None
           else id(vocabulary))
    if key not in _TRAINING_CACHE:
        if is_column_folder(root):  # read (and checked) before its words
            train = _column_sentences(root, "train")
            words = has_words(root, "train")
        else:
            words = has_words(root, "train")
            train = list(read_sentences("train", root=root, words=words))
        if vocabulary is None:
            templates = TEMPLATES + (WORD_TEMPLATES if words else ())
            vocabulary = FeatureVocabulary.fit(
                (f for s in train for arcs in s.predicates
                 for f in arcs.features), min_count=min_count,
                templates=templates)
        role_set = srl_data.RoleSet.fit(train)
        labeler = SrlLabeler(None, vocabulary, role_set)
        _TRAINING_CACHE[key] = (vocabulary, role_set,
                                labeler.prepare(train))
    return _TRAINING_CACHE[key]


def _load_base(recipe, presets_root):
    source = (recipe.base if presets_root is None
              else pathlib.Path(presets_root) / recipe.base)
    labeler = presets.load_preset(source)
    if not isinstance(labeler, SrlLabeler):
        raise PresetError(f"Base preset {source} is not an SRL preset.")
    return labeler


def _train_local(spec, recipe, backup_dir, verbose, steps=None, root=None):
    from spen_keras.presets.training import fit_resumably

    vocabulary, role_set, train = training_sentences(recipe.min_count, root)
    ids, roles = srl_data.flat_arcs(train, role_set)
    keras.utils.set_random_seed(recipe.seed)
    model = LocalSrlModel(vocabulary.sizes, len(role_set),
                          embedding_dim=recipe.embedding_dim,
                          hidden_units=recipe.hidden_units,
                          dropout=recipe.dropout, name="local_srl_model")
    model.build((None, ids.shape[1]))
    per_epoch = -(-len(ids) // recipe.batch_size)
    total = per_epoch * recipe.epochs if steps is None else steps
    recipe.compile(model, keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, total, alpha=0.05))
    identity = {"preset": spec.name, "steps": total,
                "batch_size": recipe.batch_size, "seed": recipe.seed,
                "learning_rate": recipe.learning_rate,
                "data": None if root is None else str(root),
                "arcs": int(len(ids))}
    tf = require_tensorflow("SRL training (tf.data)")
    checkpoint = fit_resumably(
        model, lambda done: (tf.data.Dataset.from_tensor_slices((ids, roles))
                             .repeat().shuffle(65536, seed=recipe.seed)
                             .batch(recipe.batch_size).skip(done)),
        total, backup_dir, identity, spec.name,
        steps_per_epoch=min(per_epoch, CHECKPOINT_EVERY), verbose=verbose)
    return SrlLabeler(model, vocabulary, role_set, recipe.decoder), {
        "steps": total, "batch_size": recipe.batch_size,
        "arcs": int(len(ids)), "resumed_at_steps": checkpoint.resumed_at,
        "wall_time_s": checkpoint.wall_time_s}, checkpoint


class _Unclamp(keras.callbacks.Callback):
    """Frees the clamped local term at the start of epoch `epoch`."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        from spen_keras.srl.srl_spen import clamp_local

        clamped = epoch < self.epoch
        if clamped != (not self.model.feature_network.encoder.trainable):
            clamp_local(self.model, clamped)
            self.model.make_train_function(force=True)


def grid_dataset(grids, num_roles, batch_size, seed, epochs):
    """The SPEN's training stream: `epochs` passes over the grids, each in
    its own seeded order (deterministic, so a resumed run can skip what it
    has used)."""
    tf = require_tensorflow("SRL training (tf.data)")
    num_templates = grids[0].ids.shape[-1]

    def generate():
        for epoch in range(epochs):
            for _, x, y in srl_data.batches(grids, num_roles, batch_size,
                                            shuffle=True, seed=seed + epoch):
                yield x, y

    signature = (
        {"ids": tf.TensorSpec([None, None, None, num_templates], tf.int32),
         "overlap_pairs": tf.TensorSpec([None, None, 2, 2], tf.int32),
         "core_pairs": tf.TensorSpec([None, None, 2, 3], tf.int32)},
        tf.TensorSpec([None, None, None, num_roles], tf.float32))
    return tf.data.Dataset.from_generator(generate,
                                          output_signature=signature)


def _train_spen(spec, recipe, backup_dir, presets_root, verbose, steps=None,
                root=None):
    from spen_keras.presets.training import fit_resumably
    from spen_keras.srl import srl_spen

    # The local term is clamped, then freed, within one `fit` (`_Unclamp`),
    # with optimizer slots built for every weight: TensorFlow's optimizer
    # matches them by variable; Keras' JAX trainer needs the trainable list
    # fixed for the whole fit (PyTorch's has not been tried: refused too).
    require_tensorflow_backend("SRL SPEN training (clamped, then free "
                               "local term)")
    base = _load_base(recipe, presets_root)
    _, _, train = training_sentences(recipe.min_count, root,
                                     vocabulary=base.vocabulary)
    _, grids = srl_data.grids(train, base.role_set,
                              len(base.vocabulary.templates))
    per_epoch = -(-len(grids) // recipe.batch_size)
    total = per_epoch * recipe.epochs if steps is None else steps
    chunk = min(CHECKPOINT_EVERY, total)  # steps between two checkpoints
    chunks = -(-total // chunk)
    identity = {"preset": spec.name, "steps": chunks * chunk,
                "batch_size": recipe.batch_size, "seed": recipe.seed,
                "learning_rate": recipe.learning_rate, "base": recipe.base}
    keras.utils.set_random_seed(recipe.seed)
    model = srl_spen.build_srl_spen(
        base.vocabulary.sizes, len(base.role_set),
        embedding_dim=recipe.embedding_dim, hidden_units=recipe.hidden_units,
        global_units=recipe.global_units, num_steps=recipe.num_steps,
        input_convex=recipe.input_convex, training_mode=recipe.training_mode)
    build_model(model, len(base.vocabulary.templates))
    srl_spen.copy_local_model(model, base.model)
    recipe.compile(model, keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, chunks * chunk, alpha=0.05))
    # Built on every variable before any is clamped, so that freeing the
    # local term later finds its optimizer slots.
    model.optimizer.build(model.trainable_variables)
    clamp_chunks = -(-recipe.clamp_epochs * per_epoch // chunk)
    checkpoint = fit_resumably(
        model, lambda done: grid_dataset(
            grids, len(base.role_set), recipe.batch_size, recipe.seed,
            recipe.epochs + 1).skip(done),
        chunks * chunk, backup_dir, identity, spec.name,
        steps_per_epoch=chunk, verbose=verbose,
        callbacks=[_Unclamp(clamp_chunks)],
        on_restore=lambda done: srl_spen.clamp_local(
            model, done // chunk < clamp_chunks))
    srl_spen.clamp_local(model, False)
    labeler = SrlLabeler(model, base.vocabulary, base.role_set,
                         recipe.decoder)
    facts = {"steps": chunks * chunk, "batch_size": recipe.batch_size,
             "clamped_steps": min(clamp_chunks * chunk, chunks * chunk),
             "resumed_at_steps": checkpoint.resumed_at,
             "wall_time_s": checkpoint.wall_time_s}
    return labeler, facts, checkpoint


def train_srl(spec, output_dir, backup_dir, steps=None, command=None,
              presets_root=None, verbose=1, overwrite=False, data_dir=None,
              **_):
    """The kind's trainer: trains (or, for a decoder variant, writes) the
    preset, evaluates it on the three splits and saves it.

    data_dir: a CoNLL-2005 release folder to train and evaluate on instead
    of the shipped public layers; where it has the `words` layer (the
    `full` config) the local model also embeds head and predicate words.
    Or a folder of the user's CoNLL column files (`COLUMN_FILES`):
    train.conll (gold argument columns required; the role inventory is
    learned from it, words are used when its WORD column has them) and
    optionally dev.conll, on which the preset is then scored.
    """
    from spen_keras.presets.training import preset_metadata

    recipe = spec.recipe
    output_dir = pathlib.Path(output_dir)
    presets.check_writable_preset_dir(output_dir, overwrite, probe=True)
    if (presets_root is None and recipe.base is not None
            and (output_dir.parent / recipe.base / CONFIG_FILE).is_file()):
        # As for decoder variants: a base preset beside the output (the
        # user's own local model, trained on their data) is the one used.
        presets_root = str(output_dir.parent)
    started = time.perf_counter()
    checkpoint, base_name = None, None
    if recipe.model == "local":
        labeler, facts, checkpoint = _train_local(spec, recipe, backup_dir,
                                                  verbose, steps, data_dir)
    elif recipe.model == "spen":
        labeler, facts, checkpoint = _train_spen(spec, recipe, backup_dir,
                                                 presets_root, verbose, steps,
                                                 data_dir)
    else:
        labeler = _load_base(recipe, presets_root).with_decoder(
            recipe.decoder)
        facts = {"decodes": recipe.base}
        if (output_dir.parent / recipe.base / CONFIG_FILE).is_file():
            base_name = recipe.base
    wall = facts.pop("wall_time_s", time.perf_counter() - started)
    evaluation = evaluation_metadata(labeler, evaluation_sentences(data_dir))
    columns = is_column_folder(data_dir)
    if columns:
        evaluation["evaluation"] = (
            f"{column_file(data_dir, 'devel')} (column 'dev WSJ'); official "
            "srl-eval.pl rules" if column_file(data_dir, "devel")
            else "none: no dev.conll beside the training file")
        source = f"{column_file(data_dir, 'train')} (CoNLL column file)"
    elif data_dir is not None:
        evaluation["evaluation"] = evaluation["evaluation"].replace(
            "CoNLL-2005 public layers", f"CoNLL-2005 release in {data_dir}")
    metadata = preset_metadata(
        spec, evaluation, wall,
        command or f"spen-keras train --preset {spec.name}",
        seed=recipe.seed, decoder=srl_decode.DECODER_NAMES[recipe.decoder],
        warm_start=recipe.base if recipe.model == "spen" else None,
        training_data=(
            "CoNLL-2005 public layers, train (WSJ 02-21)" if data_dir is None
            else (source if columns else
                  f"CoNLL-2005 release in {data_dir}, train (WSJ 02-21)")
            + (", with words" if has_words(data_dir, "train") else "")),
        word_templates=[t for t in labeler.vocabulary.templates
                        if t in WORD_TEMPLATES],
        **facts)
    presets.get_preset_kind(SRL_KIND).save(labeler, output_dir, metadata,
                                           overwrite=overwrite,
                                           base=base_name)
    if checkpoint is not None:
        checkpoint.finish()
        try:
            pathlib.Path(backup_dir).rmdir()
        except OSError:
            pass
    return metadata
