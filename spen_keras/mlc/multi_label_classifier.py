"""MultiLabelClassifier: a multi-label preset's model with its threshold."""

import keras
import numpy as np

from spen_keras.core import backend

from spen_keras.mlc.mlc_metrics import positive_labels
from spen_keras.mlc.mlc_models import MultiLabelSpen


class MultiLabelClassifier:
    """A trained multi-label model, its decision threshold and label names.

    What an "mlc" preset loads as (`MultiLabelClassifier.from_preset` or
    `load_preset`). `model` is the Keras model itself (a `MultiLabelSpen`,
    or a `keras.Sequential` for the BR and MLP baselines): fit it further,
    or export it (`model.export(path)`) for serving; its output is the soft
    labels y in [0, 1]^L, and `threshold` (chosen on the validation slice
    when the preset was trained) turns them into labels. A preset's `model`
    comes compiled as its recipe trains it (binary cross-entropy, Adam at
    the rate of the recipe's last phase), so `model.fit` works at once;
    compile again to change them.

    Args:
        model: the Keras model, x (n, F) -> soft labels (n, L).
        threshold: decision threshold in (0, 1).
        dataset: the dataset the model was trained on ("bibtex",
            "delicious", or the name given to a user's own data).
        label_names: the L label names, in output order.
        kind: "br", "mlp" or "spen".
        feature_names: the F feature names of a model trained on a user's
            own data (`spen_keras.mlc.own_data`), which `predict-labels`
            reads rows by; None for the shipped datasets.

    Example:
    >>> import spen_keras
    >>> classifier = spen_keras.load_preset("mlc_bibtex_mlp")
    >>> x = np.zeros((2, classifier.num_features), np.float32)
    >>> classifier.predict_labels(x).shape
    (2, 159)
    """

    #: The preset kind that saves and loads it (`save_to_preset`).
    preset_kind = "mlc"

    def __init__(self, model, threshold, dataset, label_names, kind,
                 feature_names=None):
        self.model = model
        self.threshold = float(threshold)
        self.dataset = dataset
        self.label_names = tuple(label_names)
        self.kind = kind
        self.feature_names = (None if feature_names is None
                              else tuple(feature_names))

    @classmethod
    def from_preset(cls, preset):
        """Loads a multi-label preset (e.g. "mlc_bibtex_spen_e2e", or a
        preset folder's path), its `model` compiled (see the class doc).

        Raises:
            spen_keras.presets.PresetError: naming the file and the problem
                (a `PresetTypeError` if the preset is not multi-label).
        """
        from spen_keras.presets import load_preset_as

        return load_preset_as(preset, cls)

    @property
    def num_features(self):
        return int(self.model.inputs[0].shape[-1]) if getattr(
            self.model, "inputs", None) else int(
                self.model._expected_input_shape[-1])

    @property
    def num_labels(self):
        return len(self.label_names)

    @staticmethod
    def predict_with(model, x, batch_size=512):
        """Soft labels of `model` on x, as a float32 numpy array."""
        x = np.asarray(x, np.float32)
        with backend.ops().no_grad():
            if len(x) == 0:  # one forward pass for the output width
                return keras.ops.convert_to_numpy(model(
                    np.zeros((1,) + x.shape[1:], np.float32),
                    training=False))[:0]
            outputs = [keras.ops.convert_to_numpy(
                model(x[i:i + batch_size], training=False))
                for i in range(0, len(x), batch_size)]
        return np.concatenate(outputs).astype(np.float32)

    def probabilities(self, x, batch_size=512):
        """Soft labels y in [0, 1]^L of the rows of x, shape (n, L)."""
        return self.predict_with(self.model, self._check(x), batch_size)

    def predict_labels(self, x, batch_size=512):
        """Boolean (n, L): the soft labels at or above the threshold (in
        float32: `mlc_metrics.positive_labels`)."""
        return positive_labels(self.probabilities(x, batch_size),
                               self.threshold)

    def iterates(self, x, batch_size=512, include_init=False):
        """A SPEN's soft labels after every unrolled step, (T, n, L), with
        its starting point Init(F(x)) first if `include_init` (T + 1, n, L);
        the baselines' single output as (1, n, L)."""
        x = self._check(x)
        if not isinstance(self.model, MultiLabelSpen):
            return self.probabilities(x, batch_size)[None]
        parts = []
        for i in range(0, len(x), batch_size):
            rows = x[i:i + batch_size]
            steps = keras.ops.convert_to_numpy(
                self.model.predict_iterates(rows))
            if include_init:
                _, y0 = self.model.features_and_init(rows, training=False)
                steps = np.concatenate(
                    [keras.ops.convert_to_numpy(y0)[None], steps])
            parts.append(steps)
        return np.concatenate(parts, axis=1)

    def label_sets(self, x):
        """The predicted label names of every row of x."""
        return [[self.label_names[j] for j in np.flatnonzero(row)]
                for row in self.predict_labels(x)]

    def _check(self, x):
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"Expected rows of {self.num_features} features (shape "
                f"(n, {self.num_features})); got shape {x.shape}.")
        if not np.isfinite(x).all():
            raise ValueError("Features contain NaN or Inf.")
        return x
