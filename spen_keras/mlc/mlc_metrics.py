"""Multi-label metrics: example-F1 (the benchmark's metric) and the rest.

Example-averaged F1 is the mean over examples of
F1_n = 2 |P_n & Y_n| / (|P_n| + |Y_n|), with F1_n = 1 when an example has no
gold and no predicted label (the convention of Belanger & McCallum 2016's
evaluation code and of scikit-learn's `f1_score(average="samples",
zero_division=1)`). Predictions are thresholded soft outputs; the threshold
is chosen on the validation slice (`choose_threshold`) and stored with the
preset, never chosen on test data.

The decision rule, the same everywhere (`positive_labels`; `score`,
`choose_threshold`, `ExampleF1`, `MultiLabelClassifier.predict_labels`): a
label is predicted when its soft output is at or above the threshold, both
compared in float32, the models' output precision. A soft output exactly on
the threshold is thus positive (a logit of 0 gives exactly 0.5), and a
float64 copy of a float32 output, or a float64 threshold, decides as the
float32 values do: float32(0.35) = 0.3499999940..., below the float64 0.35,
so comparing in float64 would turn that tie negative.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

#: Thresholds tried by `choose_threshold`: 0.01 ... 0.04, then 0.05, 0.10,
#: ..., 0.95 (models with thousands of rare labels can need low ones).
THRESHOLDS = (0.01, 0.02, 0.03, 0.04) + tuple(round(0.05 * i, 2)
                                               for i in range(1, 20))


def positive_labels(probabilities, threshold):
    """Boolean array: True where a soft output is at or above `threshold`,
    compared in float32 (the module's decision rule, see above)."""
    return np.asarray(probabilities, np.float32) >= np.float32(threshold)


def _binary(array, name):
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be (examples, labels); got shape "
                         f"{array.shape}.")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name} must be boolean or 0/1 (threshold soft "
                         "outputs first); got other values.")
    return array.astype(bool)


def _check_pair(labels, predicted):
    labels = _binary(labels, "labels")
    predicted = _binary(predicted, "predicted labels")
    if labels.shape != predicted.shape:
        raise ValueError(f"labels {labels.shape} and predicted labels "
                         f"{predicted.shape} differ in shape.")
    return labels, predicted


def example_f1_per_example(labels, predicted):
    """F1 of every example (1 where both label sets are empty)."""
    labels, predicted = _check_pair(labels, predicted)
    true_positives = (labels & predicted).sum(1)
    sizes = labels.sum(1) + predicted.sum(1)
    return np.where(sizes > 0, 2.0 * true_positives / np.maximum(sizes, 1),
                    1.0)


def example_f1(labels, predicted):
    """Example-averaged F1 in percent."""
    return 100.0 * float(np.mean(example_f1_per_example(labels, predicted)))


def hamming_loss(labels, predicted):
    """Fraction of wrong label decisions, in percent."""
    labels, predicted = _check_pair(labels, predicted)
    return 100.0 * float(np.mean(labels != predicted))


def micro_f1(labels, predicted):
    """F1 of all (example, label) decisions pooled, in percent."""
    labels, predicted = _check_pair(labels, predicted)
    true_positives = float((labels & predicted).sum())
    sizes = float(labels.sum() + predicted.sum())
    return 100.0 * (2.0 * true_positives / sizes if sizes else 1.0)


def macro_f1(labels, predicted):
    """Mean over labels of each label's F1, in percent (a label with no gold
    and no predicted positive counts as F1 = 1)."""
    labels, predicted = _check_pair(labels, predicted)
    true_positives = (labels & predicted).sum(0)
    sizes = labels.sum(0) + predicted.sum(0)
    per_label = np.where(sizes > 0,
                         2.0 * true_positives / np.maximum(sizes, 1), 1.0)
    return 100.0 * float(np.mean(per_label))


@dataclasses.dataclass(frozen=True)
class MultiLabelScores:
    """The four metrics of one prediction, in percent."""

    example_f1: float
    hamming_loss: float
    micro_f1: float
    macro_f1: float

    def as_dict(self):
        return {k: round(v, 2) for k, v in dataclasses.asdict(self).items()}


def score(labels, probabilities, threshold):
    """`MultiLabelScores` of soft outputs thresholded at `threshold`."""
    probabilities = np.asarray(probabilities)
    if not np.isfinite(probabilities).all():
        raise ValueError("Soft predictions contain NaN or Inf.")
    predicted = positive_labels(probabilities, threshold)
    return MultiLabelScores(example_f1(labels, predicted),
                            hamming_loss(labels, predicted),
                            micro_f1(labels, predicted),
                            macro_f1(labels, predicted))


def choose_threshold(labels, probabilities, thresholds=THRESHOLDS):
    """The threshold of `thresholds` with the best example-F1.

    Ties go to the threshold closest to 0.5.

    Returns:
        (threshold, its example-F1 in percent).
    """
    probabilities = np.asarray(probabilities)
    if not np.isfinite(probabilities).all():
        raise ValueError("Soft predictions contain NaN or Inf; cannot choose "
                         "a threshold.")
    values = [example_f1(labels, positive_labels(probabilities, t))
              for t in thresholds]
    best = max(values)
    ties = [t for t, v in zip(thresholds, values) if v == best]
    threshold = min(ties, key=lambda t: abs(t - 0.5))
    return float(threshold), float(best)


@keras.saving.register_keras_serializable(package="spen_keras.mlc")
class ExampleF1(keras.metrics.Metric):
    """Example-averaged F1 (in [0, 1]) of outputs thresholded at `threshold`
    (at or above it, in float32: `positive_labels`'s rule).

    A streaming Keras metric for training logs: it sums the per-example F1
    over batches. Report the percent value `example_f1` computes, with the
    validation-chosen threshold, for tables.

    Args:
        threshold: decision threshold on the soft outputs.
        name: the metric's name in logs.

    Example:
    >>> metric = ExampleF1(threshold=0.5)
    >>> metric.update_state([[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.3]])
    >>> round(float(metric.result()), 4)  # P = {0}, Y = {0, 2}: 2/3
    0.6667
    """

    def __init__(self, threshold=0.5, name="example_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        threshold = float(threshold)
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"`threshold` must be in (0, 1); got "
                             f"{threshold!r}.")
        self.threshold = threshold
        self.total = self.add_variable(shape=(), initializer="zeros",
                                       name="total")
        self.count = self.add_variable(shape=(), initializer="zeros",
                                       name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true) > 0.5, "float32")
        # The module's rule (`positive_labels`): at or above, in float32.
        y_pred = ops.cast(
            ops.cast(y_pred, "float32") >= np.float32(self.threshold),
            "float32")
        true_positives = ops.sum(y_true * y_pred, -1)
        sizes = ops.sum(y_true, -1) + ops.sum(y_pred, -1)
        per_example = ops.where(sizes > 0, 2.0 * true_positives
                                / ops.maximum(sizes, 1.0), 1.0)
        weights = ops.ones_like(per_example)
        if sample_weight is not None:
            weights = ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
        self.total.assign_add(ops.sum(per_example * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}
