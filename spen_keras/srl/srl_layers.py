"""Keras layers of the SRL models: the arc encoder, the local model of
Eq. 17/18, the SPEN's feature network and initialisation, its loss and the
arc-level F1 metric used in training logs.

The local model scores arc (p, a) for role r as <w_r, h(p, a)> + b_r, where
h(p, a) = `ArcEncoder`(feature ids) concatenates a learned embedding of each
sparse feature (optionally followed by one ReLU layer, `hidden_units`).
Its output layer is a `LocalLinearEnergy`, so the pretrained local model is
exactly the local term of the SPEN: E_local(y) = -sum <y_pa, W h_pa + b>.
"""

import keras
import numpy as np
from keras import ops

from spen_keras.core.energies.local_linear_energy import LocalLinearEnergy


@keras.saving.register_keras_serializable(package="spen_keras.srl")
class ArcEncoder(keras.layers.Layer):
    """Feature ids (..., K) -> arc representation (..., D).

    One embedding table per template (stored as one table with offsets),
    concatenated: D = K * embedding_dim, or `hidden_units` after an optional
    ReLU layer. Ids below 0 (invalid cells of the grid) read id 0 ("<unk>").

    Args:
        vocabulary_sizes: ids per template (`FeatureVocabulary.sizes`).
        embedding_dim: width of each template's embedding.
        hidden_units: 0 for none, else the width of one ReLU layer.
    """

    def __init__(self, vocabulary_sizes, embedding_dim=16, hidden_units=0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_sizes = [int(s) for s in vocabulary_sizes]
        if not self.vocabulary_sizes or min(self.vocabulary_sizes) < 1:
            raise ValueError("vocabulary_sizes must be positive; got "
                             f"{vocabulary_sizes}")
        self.embedding_dim = int(embedding_dim)
        self.hidden_units = int(hidden_units)
        self.offsets = np.concatenate(
            [[0], np.cumsum(self.vocabulary_sizes)[:-1]]).astype(np.int32)
        self.hidden = (keras.layers.Dense(self.hidden_units, activation="relu",
                                          name="hidden")
                       if self.hidden_units else None)

    @property
    def output_dim(self):
        return self.hidden_units or (self.embedding_dim
                                     * len(self.vocabulary_sizes))

    def build(self, ids_shape):
        if ids_shape[-1] != len(self.vocabulary_sizes):
            raise ValueError(
                f"ArcEncoder expects {len(self.vocabulary_sizes)} feature ids "
                f"on the last axis; got shape {ids_shape}")
        self.table = self.add_weight(
            name="embeddings",
            shape=(sum(self.vocabulary_sizes), self.embedding_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.1))
        if self.hidden is not None:
            self.hidden.build(tuple(ids_shape[:-1]) + (
                self.embedding_dim * len(self.vocabulary_sizes),))

    def call(self, ids):
        ids = ops.maximum(ops.cast(ids, "int32"), 0) + self.offsets
        embedded = ops.take(self.table, ids, axis=0)  # (..., K, d)
        # The last axis static (K d), the others as the ids' (maybe dynamic).
        out = ops.reshape(embedded, tuple(ops.shape(ids)[:-1]) + (
            self.embedding_dim * len(self.vocabulary_sizes),))
        if self.hidden is not None:
            out = self.hidden(out)
        return out

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_sizes": self.vocabulary_sizes,
                       "embedding_dim": self.embedding_dim,
                       "hidden_units": self.hidden_units})
        return config


@keras.saving.register_keras_serializable(package="spen_keras.srl")
class LocalSrlModel(keras.Model):
    """The local model (Eq. 17/18): feature ids (..., K) -> role logits
    (..., R), a multiclass logistic regression on learned embeddings.

    Args:
        vocabulary_sizes, embedding_dim, hidden_units: the `ArcEncoder`.
        num_roles: R, roles including "O".
        dropout: dropout rate on the arc representation in training.
    """

    def __init__(self, vocabulary_sizes, num_roles, embedding_dim=16,
                 hidden_units=0, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.dropout_rate = float(dropout)
        self.dropout = keras.layers.Dropout(self.dropout_rate)
        self.encoder = ArcEncoder(vocabulary_sizes, embedding_dim,
                                  hidden_units, name="encoder")
        self.local = LocalLinearEnergy(num_roles, name="local")
        self.num_roles = int(num_roles)

    def build(self, ids_shape):
        if not self.encoder.built:
            self.encoder.build(ids_shape)
        if not self.local.built:
            self.local.build((None, self.num_roles),
                             (None, self.encoder.output_dim))
        self.built = True

    def call(self, ids, training=None):
        arcs = self.dropout(self.encoder(ids), training=training)
        return self.local.local_scores(arcs)

    def get_config(self):
        config = super().get_config()
        config.update({"vocabulary_sizes": self.encoder.vocabulary_sizes,
                       "num_roles": self.num_roles,
                       "embedding_dim": self.encoder.embedding_dim,
                       "hidden_units": self.encoder.hidden_units,
                       "dropout": self.dropout_rate})
        return config


@keras.saving.register_keras_serializable(package="spen_keras.srl")
class SrlFeatures(keras.layers.Layer):
    """The SPEN's feature network: the grid's input dict -> the energy's
    features.

    Returns {"arcs": h (B, P, A, D) for the local term, "predicate": the mean
    of h over each predicate's valid cells (B, P, D) for the global term,
    "valid": (B, P, A) 1.0 on arcs, "init_logits": (B, P, A, R) role scores
    of the initialisation (a linear layer on h, set from the pretrained local
    model, so that y_0 is the local model's prediction), "overlap_pairs" and
    "core_pairs" passed through for the soft constraints}.
    """

    def __init__(self, encoder, num_roles, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        self.encoder = encoder
        self.num_roles = int(num_roles)
        self.init_scores = keras.layers.Dense(self.num_roles,
                                              name="init_scores")

    def build(self, input_shape):
        if not self.encoder.built:  # a deserialised encoder comes built
            self.encoder.build(input_shape["ids"])
        if not self.init_scores.built:
            self.init_scores.build((None, self.encoder.output_dim))

    def call(self, x):
        ids = x["ids"]
        valid = ops.cast(ids[..., 0] >= 0, self.compute_dtype)
        arcs = self.encoder(ids)
        counts = ops.maximum(ops.sum(valid, axis=2, keepdims=True), 1.0)
        predicate = ops.sum(arcs * valid[..., None], axis=2) / counts
        return {"arcs": arcs, "predicate": predicate, "valid": valid,
                "init_logits": self.init_scores(arcs),
                "overlap_pairs": x["overlap_pairs"],
                "core_pairs": x["core_pairs"]}

    def get_config(self):
        config = super().get_config()
        config["encoder"] = keras.saving.serialize_keras_object(self.encoder)
        config["num_roles"] = self.num_roles
        return config


@keras.saving.register_keras_serializable(package="spen_keras.srl")
class ClampedLocalInit(keras.layers.Layer):
    """y_0: SoftMax of the features' "init_logits" on arcs (the pretrained
    local model's prediction), one-hot "O" (id 0) on invalid cells, which
    the softmax (logit-space) steps then keep (their logits sit at
    log(epsilon) for every other role and hardly move)."""

    def __init__(self, num_roles, **kwargs):
        super().__init__(**kwargs)
        self.num_roles = int(num_roles)

    def call(self, features):
        valid = features["valid"][..., None]
        local = ops.softmax(features["init_logits"], axis=-1)
        empty = ops.one_hot(0, self.num_roles, dtype=valid.dtype)
        return valid * local + (1.0 - valid) * empty

    def get_config(self):
        config = super().get_config()
        config["num_roles"] = self.num_roles
        return config


@keras.saving.register_keras_serializable(package="spen_keras.srl")
def grid_cross_entropy(y_true, y_pred):
    """Cross-entropy of the soft grid y_pred against one-hot targets, summed
    over the cells of each sentence: (B, P, A, R) -> (B,). Invalid and padded
    cells (target "O", prediction clamped to "O") cost nothing."""
    y_pred = ops.clip(y_pred, 1e-7, 1.0)
    return -ops.sum(y_true * ops.log(y_pred), axis=(1, 2, 3))


@keras.saving.register_keras_serializable(package="spen_keras.srl")
class ArcF1(keras.metrics.Metric):
    """F1 (percent) of non-empty role predictions on arcs, for training logs.

    An arc is predicted with the argmax role of y_pred; a prediction is
    correct when it is not "O" (id 0) and equals the target role. Targets
    are one-hot (..., R) or role ids (...), where an id < 0 marks an
    invalid cell (left out). Gold arguments with no candidate span are not
    counted: this is a candidate-level F1, an upper bound of the official
    CoNLL score's recall side (the table's numbers come from
    `conll_scoring`).
    """

    def __init__(self, name="arc_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros",
                                         name="correct")
        self.predicted = self.add_variable(shape=(), initializer="zeros",
                                           name="predicted")
        self.gold = self.add_variable(shape=(), initializer="zeros",
                                      name="gold")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape):
            gold = ops.cast(ops.argmax(y_true, axis=-1), "int32")
            valid = ops.ones_like(gold, dtype="bool")
        else:
            gold = ops.cast(y_true, "int32")
            valid = gold >= 0
        guess = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        on = ops.logical_and(valid, guess > 0)
        self.correct.assign_add(ops.sum(ops.cast(
            ops.logical_and(on, ops.equal(guess, gold)), self.dtype)))
        self.predicted.assign_add(ops.sum(ops.cast(on, self.dtype)))
        self.gold.assign_add(ops.sum(ops.cast(
            ops.logical_and(valid, gold > 0), self.dtype)))

    def result(self):
        precision = ops.divide_no_nan(self.correct, self.predicted)
        recall = ops.divide_no_nan(self.correct, self.gold)
        return 100.0 * ops.divide_no_nan(2 * precision * recall,
                                         precision + recall)

    def reset_state(self):
        for variable in (self.correct, self.predicted, self.gold):
            variable.assign(0.0)


def _dummy_grid(num_templates):
    return {"ids": np.zeros((1, 1, 1, num_templates), np.int32),
            "overlap_pairs": np.full((1, 1, 2, 2), -1, np.int32),
            "core_pairs": np.full((1, 1, 2, 3), -1, np.int32)}


def build_model(model, num_templates):
    """Creates the weights of a local model or SRL SPEN (on a dummy input)
    and returns its output on it."""
    if isinstance(model, LocalSrlModel):
        if not model.built:
            model.build((None, num_templates))
        return model(np.zeros((1, num_templates), np.int32))
    return model(_dummy_grid(num_templates), training=False)
