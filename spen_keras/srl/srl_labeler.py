"""`SrlLabeler`: a trained SRL model (local or SPEN) with its vocabulary,
role set and decoder, from sentences to labelled propositions.

>>> labeler = SrlLabeler.from_preset("srl_spen_lp")  # doctest: +SKIP
>>> sentences = labeler.prepare(read_sentences("devel"))  # doctest: +SKIP
>>> predicted = labeler.label(sentences)  # doctest: +SKIP
"""

import numpy as np
from keras import ops

from spen_keras.core import backend

from spen_keras.srl import srl_data
from spen_keras.srl import srl_decode
from spen_keras.srl.srl_layers import LocalSrlModel

MODELS = ("local", "spen")


class SrlLabeler:
    """A model plus what it needs to label sentences.

    Args:
        model: a `LocalSrlModel` or the SRL `SPEN` (`srl_spen`).
        vocabulary: the `FeatureVocabulary` its feature ids come from.
        role_set: the `srl_data.RoleSet` of its outputs.
        decoder: "h", "lp" or "ilp" (`srl_decode.DECODERS`).
        batch_size: sentences per SPEN batch (arcs: 64 x that for local).
    """

    #: The preset kind that saves and loads it (`save_to_preset`).
    preset_kind = "srl"

    def __init__(self, model, vocabulary, role_set, decoder="h",
                 batch_size=32):
        self.model = model
        self.vocabulary = vocabulary
        self.role_set = role_set
        self.decoder = srl_decode.check_decoder(decoder)
        self.batch_size = int(batch_size)
        self.kind = "local" if isinstance(model, LocalSrlModel) else "spen"

    @classmethod
    def from_preset(cls, preset):
        """Loads a shipped SRL preset by name, or a preset folder. Its
        `model` comes compiled as its recipe trains it (role cross-entropy,
        `ArcF1`, Adam at the recipe's rate); compile again to change them.

        Raises:
            spen_keras.presets.PresetError: naming the file and the problem
                (a `PresetTypeError` if the preset is not an SRL preset).
        """
        from spen_keras.presets import load_preset_as

        return load_preset_as(preset, cls)

    def with_decoder(self, decoder):
        """The same model with another decoder."""
        labeler = SrlLabeler(self.model, self.vocabulary, self.role_set,
                             decoder, self.batch_size)
        if hasattr(self, "source"):
            labeler.source = self.source
        return labeler

    def _spen_function(self, iterates):
        """The SPEN's forward pass (or its iterates) as one traced function
        for every grid size (eager unrolled steps are several times
        slower); on JAX and PyTorch the model called as it is."""
        name = "_iterates_fn" if iterates else "_forward_fn"
        if getattr(self, name, None) is None and not backend.is_tensorflow():
            setattr(self, name, self.model.predict_iterates if iterates
                    else self._call_without_gradients)
        if getattr(self, name, None) is None:
            import tensorflow as tf  # Keras runs on it here

            num_templates = len(self.vocabulary.templates)
            signature = [{
                "ids": tf.TensorSpec([None, None, None, num_templates],
                                     tf.int32),
                "overlap_pairs": tf.TensorSpec([None, None, 2, 2], tf.int32),
                "core_pairs": tf.TensorSpec([None, None, 2, 3], tf.int32)}]
            if iterates:
                function = tf.function(self.model.predict_iterates,
                                       input_signature=signature)
            else:
                function = tf.function(
                    lambda x: self.model(x, training=False),
                    input_signature=signature)
            setattr(self, name, function)
        return getattr(self, name)

    def _call_without_gradients(self, x):
        with backend.ops().no_grad():
            return self.model(x, training=False)

    def prepare(self, sentences):
        """The sentences (`arc_features.SentenceArcs`) with this model's
        feature ids."""
        out = []
        for sentence in sentences:
            predicates = [arcs._replace(ids=self.vocabulary.transform(
                arcs.features)) for arcs in sentence.predicates]
            out.append(sentence._replace(predicates=predicates))
        return out

    # --- soft predictions ------------------------------------------------

    def soft_predictions(self, sentences, iterates=False):
        """Per sentence, per predicate a (K, R) array of role probabilities
        over its candidates (sentences from `prepare`).

        With iterates=True (SPEN only) returns per unrolled step t = 1..T
        such a nested list instead (a list of length T).
        """
        if self.kind == "local":
            if iterates:
                raise ValueError("A local model has no unrolled iterates.")
            return self._local_probabilities(sentences)
        return self._spen_probabilities(sentences, iterates)

    def _local_probabilities(self, sentences):
        arrays = [arcs.ids for s in sentences for arcs in s.predicates]
        num_roles = len(self.role_set)
        if not arrays:
            return [[] for _ in sentences]
        flat = np.concatenate(arrays)
        probs = np.zeros((0, num_roles), np.float32)
        if len(flat):
            logits = self.model.predict(flat, batch_size=64 * self.batch_size,
                                        verbose=0)
            probs = ops.convert_to_numpy(ops.softmax(logits))
        out, k = [], 0
        for s in sentences:
            row = []
            for arcs in s.predicates:
                row.append(probs[k:k + len(arcs.spans)])
                k += len(arcs.spans)
            out.append(row)
        return out

    def _spen_probabilities(self, sentences, iterates):
        kept, grids = srl_data.grids(sentences, self.role_set,
                                     len(self.vocabulary.templates))
        steps = self.model.minimizer.num_steps
        results = [[[np.zeros((len(a.spans), len(self.role_set)), np.float32)
                     for a in s.predicates] for s in sentences]
                   for _ in range(steps if iterates else 1)]
        for index, x, _ in srl_data.batches(grids, len(self.role_set),
                                            self.batch_size):
            x = {k: ops.convert_to_tensor(v) for k, v in x.items()}
            if iterates:
                ys = ops.convert_to_numpy(self._spen_function(True)(x))
            else:
                ys = ops.convert_to_numpy(self._spen_function(False)(x))[None]
            for b, g in enumerate(index):
                sentence = sentences[kept[g]]
                column = {tuple(s): i for i, s in
                          enumerate(grids[g].spans.tolist())}
                for p, arcs in enumerate(sentence.predicates):
                    cols = [column[tuple(s)] for s in arcs.spans]
                    for t in range(len(ys)):
                        results[t][kept[g]][p] = ys[t, b, p, cols]
        return results if iterates else results[0]

    # --- decoding --------------------------------------------------------

    def log_scores(self, probabilities):
        return [[np.log(np.maximum(p, 1e-12)) for p in row]
                for row in probabilities]

    def label(self, sentences, decoder=None, probabilities=None):
        """Predicted (start, end, role) spans per predicate of every
        sentence (sentences from `prepare`)."""
        if probabilities is None:
            probabilities = self.soft_predictions(sentences)
        return srl_decode.decode_sentences(
            sentences, self.log_scores(probabilities), self.role_set,
            decoder or self.decoder)
