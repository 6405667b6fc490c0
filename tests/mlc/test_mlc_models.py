"""The multi-label metrics (`mlc_metrics`) and models (`mlc_models`): hand
computed and scikit-learn-checked metrics, the threshold choice, the Keras
`ExampleF1` metric; the Bernoulli mirror step's closed form, the SSVM
margins, `build_spen`'s copied head, the Eq. 9 loss's gradient by finite
differences, config round trips and the ICNN constraint."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras.core.energies import EntropyEnergy
from spen_keras.core.energies import LocalLinearEnergy
from spen_keras.core.energies import MLPGlobalEnergy
from spen_keras.core.energies import SumEnergy
from spen_keras.mlc import mlc_metrics
from spen_keras.mlc import mlc_models
from spen_keras.mlc.mlc_metrics import ExampleF1
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer


# === Metrics: hand-computed cases ===

# Row 0: Y = {0, 2}, P = {0}        -> F1 = 2 * 1 / 3
# Row 1: Y = {},     P = {}         -> F1 = 1 (convention)
# Row 2: Y = {},     P = {1}        -> F1 = 0
# Row 3: Y = {1, 3}, P = {1, 2, 3}  -> F1 = 2 * 2 / 5
GOLD = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]])
PRED = np.array([[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 1]])


def test_example_f1_per_example_and_mean_by_hand():
    per_example = mlc_metrics.example_f1_per_example(GOLD, PRED)
    np.testing.assert_allclose(per_example, [2 / 3, 1.0, 0.0, 0.8])
    assert mlc_metrics.example_f1(GOLD, PRED) == pytest.approx(
        100 * (2 / 3 + 1 + 0 + 0.8) / 4)


def test_empty_gold_conventions():
    empty = np.zeros((1, 3))
    assert mlc_metrics.example_f1(empty, empty) == 100.0
    assert mlc_metrics.example_f1(empty, [[0, 1, 0]]) == 0.0
    assert mlc_metrics.example_f1([[0, 1, 0]], empty) == 0.0


def test_hamming_micro_and_macro_by_hand():
    # Wrong decisions: row 0 label 2, row 2 label 1, row 3 label 2 -> 3/16.
    assert mlc_metrics.hamming_loss(GOLD, PRED) == pytest.approx(
        100 * 3 / 16)
    # Pooled: TP = 1 + 2 = 3; |Y| = 4, |P| = 5 -> 6 / 9.
    assert mlc_metrics.micro_f1(GOLD, PRED) == pytest.approx(100 * 6 / 9)
    # Per label: 0: Y={0},P={0} -> 1; 1: Y={3},P={2,3} -> 2/3;
    # 2: Y={0},P={3} -> 0; 3: Y={3},P={3} -> 1.
    assert mlc_metrics.macro_f1(GOLD, PRED) == pytest.approx(
        100 * (1 + 2 / 3 + 0 + 1) / 4)


def test_macro_f1_counts_a_label_never_seen_nor_predicted_as_one():
    gold = np.array([[1, 0], [0, 0]])
    assert mlc_metrics.macro_f1(gold, gold) == 100.0
    assert mlc_metrics.micro_f1(np.zeros((2, 2)), np.zeros((2, 2))) == 100.0


def test_score_thresholds_soft_outputs_and_rounds_in_as_dict():
    soft = np.where(PRED, 0.6, 0.4)
    scores = mlc_metrics.score(GOLD, soft, 0.5)
    assert scores.example_f1 == pytest.approx(mlc_metrics.example_f1(GOLD,
                                                                     PRED))
    assert mlc_metrics.score(GOLD, soft, 0.35).example_f1 == pytest.approx(
        mlc_metrics.example_f1(GOLD, np.ones_like(GOLD)))
    assert scores.as_dict() == {"example_f1": round(scores.example_f1, 2),
                                "hamming_loss": 18.75,
                                "micro_f1": 66.67,
                                "macro_f1": 66.67}


@pytest.mark.parametrize("function", [
    mlc_metrics.example_f1, mlc_metrics.hamming_loss, mlc_metrics.micro_f1,
    mlc_metrics.macro_f1])
def test_shape_mismatch_and_wrong_rank_raise(function):
    with pytest.raises(ValueError, match="differ in shape"):
        function(np.zeros((3, 4)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="must be \\(examples, labels\\)"):
        function(np.zeros(4), np.zeros(4))


def test_metrics_refuse_nan_predictions():
    with pytest.raises(ValueError):
        mlc_metrics.example_f1(GOLD, np.full(GOLD.shape, np.nan))


def test_metrics_agree_with_scikit_learn_on_random_data():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    gold = rng.random((60, 12)) < 0.15
    predicted = rng.random((60, 12)) < 0.2
    gold[:5] = False  # rows with empty gold (some with predictions)
    predicted[:3] = False  # ... and some with none
    gold[:, 0] = predicted[:, 0] = False  # a label never seen nor predicted
    gold[:, 1] = False  # a label predicted but never gold
    predicted[:, 2] = False  # a label gold but never predicted
    gold, predicted = gold.astype(int), predicted.astype(int)
    for average, function in (("samples", mlc_metrics.example_f1),
                              ("micro", mlc_metrics.micro_f1),
                              ("macro", mlc_metrics.macro_f1)):
        expected = 100 * metrics.f1_score(gold, predicted, average=average,
                                          zero_division=1)
        assert function(gold, predicted) == pytest.approx(expected), average
    assert mlc_metrics.hamming_loss(gold, predicted) == pytest.approx(
        100 * metrics.hamming_loss(gold, predicted))


# === choose_threshold ===


def test_choose_threshold_picks_the_unique_best():
    # Gold labels score 0.22, the others 0.1 and 0.3 on different rows:
    # only thresholds in (0.1, 0.22] are perfect, i.e. 0.15 and 0.2; 0.2 is
    # the closer to 0.5.
    gold = np.array([[1, 0], [1, 0]])
    soft = np.array([[0.22, 0.1], [0.22, 0.1]])
    threshold, f1 = mlc_metrics.choose_threshold(gold, soft)
    assert (threshold, f1) == (0.2, 100.0)
    # Above 0.22 nothing is predicted: 0; at 0.05 both labels: 2/3.
    soft = np.array([[0.22, 0.06], [0.22, 0.06]])
    assert mlc_metrics.choose_threshold(gold, soft) == (0.2, 100.0)


def test_choose_threshold_breaks_ties_toward_one_half():
    gold = np.array([[1, 0, 1], [0, 1, 0]])
    soft = np.where(gold, 0.93, 0.07)  # every t in 0.1 .. 0.9 is perfect
    assert mlc_metrics.choose_threshold(gold, soft) == (0.5, 100.0)
    soft = np.where(gold, 0.93, 0.62)  # perfect for t in 0.65 .. 0.9
    assert mlc_metrics.choose_threshold(gold, soft) == (0.65, 100.0)


def test_choose_threshold_returns_the_f1_at_that_threshold():
    rng = np.random.default_rng(1)
    gold = rng.random((30, 6)) < 0.3
    soft = np.clip(gold * 0.3 + rng.random((30, 6)) * 0.7, 0, 1)
    threshold, f1 = mlc_metrics.choose_threshold(gold, soft)
    assert f1 == pytest.approx(mlc_metrics.example_f1(gold, soft >= threshold))
    assert f1 == max(mlc_metrics.example_f1(gold, soft >= t)
                     for t in mlc_metrics.THRESHOLDS)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_choose_threshold_refuses_non_finite_outputs(bad):
    soft = np.full((2, 3), 0.5)
    soft[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        mlc_metrics.choose_threshold(np.zeros((2, 3)), soft)


def test_choose_threshold_refuses_a_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        mlc_metrics.choose_threshold(np.zeros((2, 3)), np.zeros((2, 4)))


# === ExampleF1 (Keras metric) ===


def test_example_f1_metric_streams_over_batches():
    rng = np.random.default_rng(2)
    gold = (rng.random((20, 7)) < 0.3).astype(np.float32)
    gold[0] = 0.0
    soft = rng.random((20, 7)).astype(np.float32)
    soft[0] = 0.1  # empty gold, empty prediction: F1 1
    metric = ExampleF1(threshold=0.6)
    metric.update_state(gold[:13], soft[:13])
    metric.update_state(gold[13:], soft[13:])
    expected = mlc_metrics.example_f1(gold, soft >= 0.6) / 100
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    metric.update_state(gold[13:], soft[13:])
    assert float(metric.result()) == pytest.approx(
        mlc_metrics.example_f1(gold[13:], soft[13:] >= 0.6) / 100, abs=1e-6)


def test_example_f1_metric_config_round_trip():
    metric = ExampleF1(threshold=0.3, name="f1_at_03")
    copy = ExampleF1.from_config(metric.get_config())
    assert (copy.threshold, copy.name) == (0.3, "f1_at_03")
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(metric))
    assert isinstance(revived, ExampleF1) and revived.threshold == 0.3
    gold, soft = [[1.0, 0.0, 1.0]], [[0.9, 0.2, 0.35]]
    revived.update_state(gold, soft)
    assert float(revived.result()) == pytest.approx(1.0)  # 0.35 >= 0.3


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2])
def test_example_f1_metric_refuses_a_threshold_outside_0_1(threshold):
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        ExampleF1(threshold=threshold)


# === Ties: soft outputs exactly on the threshold ===

# At threshold t, rows of soft outputs with entries exactly t (positive by
# the rule "at or above, in float32"), below it (0.1, 0.2) and above (0.9):
# P = {0, 1, 3}, {1}, {}, {0, 2, 3} against Y = {0, 3}, {1}, {}, {2}:
# F1 = 4/5, 1, 1 (both empty), 2/4 -> 82.5 %. Ties counted negative would
# give 2/3, 0, 1, 0 -> 41.67 %.
TIE_GOLD = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0]])
TIE_POSITIVE = np.array([[1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0],
                         [1, 0, 1, 1]], bool)


def _on_the_threshold(threshold):
    """float32 soft outputs: TIE_POSITIVE's entries exactly float32(t)
    (0.9 for entry (0, 3)), the others 0.1 or 0.2."""
    soft = np.where(TIE_POSITIVE, np.float32(threshold), 0.2)
    soft[0, 3], soft[1, 0], soft[3, 1] = 0.9, 0.1, 0.1
    return soft.astype(np.float32)


def _identity_classifier(threshold, labels=4):
    """A MultiLabelClassifier whose model returns x: its soft outputs are
    the rows given to it."""
    from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier

    model = keras.Sequential([keras.Input((labels,)),
                              keras.layers.Identity()])
    return MultiLabelClassifier(model, threshold, "bibtex",
                                [f"l{j}" for j in range(labels)], "mlp")


# 0.5: a logit of 0; 0.35: float32(0.35) = 0.3499999940... < 0.35 in
# float64, so a float64 copy of the outputs, or a float64 threshold,
# compared in float64 would drop the ties.
@pytest.mark.parametrize("threshold", [0.5, 0.35])
@pytest.mark.parametrize("soft_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threshold_type", [float, np.float64, np.float32])
def test_outputs_on_the_threshold_count_as_positive_everywhere(
        threshold, soft_dtype, threshold_type):
    soft = _on_the_threshold(threshold).astype(soft_dtype)
    cut = threshold_type(threshold)
    np.testing.assert_array_equal(mlc_metrics.positive_labels(soft, cut),
                                  TIE_POSITIVE)
    expected = 100 * (4 / 5 + 1 + 1 + 2 / 4) / 4
    assert mlc_metrics.example_f1(TIE_GOLD, TIE_POSITIVE) == pytest.approx(
        expected)

    scores = mlc_metrics.score(TIE_GOLD, soft, cut)
    assert scores.example_f1 == pytest.approx(expected)
    # Wrong decisions: (0, 1), (3, 0), (3, 3) of 16.
    assert scores.hamming_loss == pytest.approx(100 * 3 / 16)

    classifier = _identity_classifier(cut)
    np.testing.assert_array_equal(classifier.predict_labels(soft),
                                  TIE_POSITIVE)
    assert classifier.label_sets(soft) == [["l0", "l1", "l3"], ["l1"], [],
                                           ["l0", "l2", "l3"]]

    metric = ExampleF1(threshold=cut)
    metric.update_state(TIE_GOLD.astype(soft_dtype), soft)
    assert 100 * float(metric.result()) == pytest.approx(expected, abs=1e-4)
    # In a compiled model the metric sees the float32 outputs (as `fit`).
    model = classifier.model
    model.compile(loss="binary_crossentropy", metrics=[ExampleF1(cut)])
    logs = model.evaluate(soft, TIE_GOLD.astype(np.float32), verbose=0,
                          return_dict=True)
    assert 100 * logs["example_f1"] == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("threshold", [0.5, 0.35])
@pytest.mark.parametrize("soft_dtype", [np.float32, np.float64])
def test_choose_threshold_counts_ties_as_positive(threshold, soft_dtype):
    # Gold = the labels at or above t: every grid threshold in (0.2, t] is
    # perfect and the one closest to 0.5, t itself, is chosen; dropping the
    # ties would make t imperfect (0.35 -> 0.3 chosen instead).
    soft = _on_the_threshold(threshold).astype(soft_dtype)
    assert mlc_metrics.choose_threshold(TIE_POSITIVE, soft) == (threshold,
                                                                100.0)


# === Step rules ===


def local_and_entropy(num_labels, num_features, seed=0):
    local = LocalLinearEnergy(num_labels, name="local")
    energy = SumEnergy([local, EntropyEnergy(weight=1.0, mode="bernoulli")])
    features = tf.random.stateless_normal((4, num_features), (seed, 1))
    return local, energy, features


@pytest.mark.parametrize("start", ["half", "random"])
def test_one_mirror_step_of_size_one_lands_on_sigmoid_of_local_scores(start):
    local, energy, features = local_and_entropy(5, 3)
    minimizer = UnrolledMinimizer(energy, num_steps=1,
                                  step_rule=mlc_models.BernoulliMirrorStep(),
                                  step_size=1.0)
    if start == "half":
        y0 = tf.fill((4, 5), 0.5)
    else:
        y0 = tf.random.stateless_uniform((4, 5), (3, 4), 0.05, 0.95)
    y1 = minimizer(y0, features)
    expected = tf.sigmoid(local.local_scores(features))
    assert float(tf.reduce_max(tf.abs(expected - y0))) > 0.05  # it moved
    np.testing.assert_allclose(y1, expected, atol=1e-5)


def test_a_logit_step_does_not_have_that_closed_form():
    """The mirror step differs from gradient descent on the logits (the
    latter has a y (1 - y) factor): guards against the two being swapped."""
    local, energy, features = local_and_entropy(5, 3)
    minimizer = UnrolledMinimizer(energy, num_steps=1,
                                  step_rule=mlc_models.step_rule("logits"),
                                  step_size=1.0)
    y1 = minimizer(tf.fill((4, 5), 0.5), features)
    expected = tf.sigmoid(local.local_scores(features))
    assert float(tf.reduce_max(tf.abs(y1 - expected))) > 1e-2


@pytest.mark.parametrize("inference", mlc_models.INFERENCE)
def test_inference_keeps_y_in_the_unit_box(inference):
    keras.utils.set_random_seed(0)
    local = LocalLinearEnergy(6, name="local")
    energy = SumEnergy([local, MLPGlobalEnergy(hidden_units=(8,))])
    minimizer = UnrolledMinimizer(energy, num_steps=6,
                                  step_rule=mlc_models.step_rule(inference),
                                  step_size=25.0)
    features = 10.0 * tf.random.stateless_normal((8, 4), (5, 6))
    result = minimizer.minimize(tf.fill((8, 6), 0.5), features)
    iterates = result.iterates.numpy()
    assert iterates.shape == (6, 8, 6)
    assert np.isfinite(iterates).all()
    assert iterates.min() >= 0.0 and iterates.max() <= 1.0
    assert np.ptp(iterates[-1]) > 0.5  # large steps: it went far


def test_unknown_inference_raises():
    with pytest.raises(ValueError, match="Unknown inference 'newton'"):
        mlc_models.step_rule("newton")


def test_bernoulli_mirror_step_config_round_trip():
    step = mlc_models.BernoulliMirrorStep(epsilon=1e-4)
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(step))
    assert isinstance(revived, mlc_models.BernoulliMirrorStep)
    assert revived.parametrization.epsilon == 1e-4


# === MultiLabelSpen and build_spen ===

FEATURES, LABELS = 7, 5


def small_mlp(dropout=0.0, seed=0):
    keras.utils.set_random_seed(seed)
    return mlc_models.mlp_classifier(FEATURES, LABELS, (6,), dropout)


def small_spen(mlp=None, **kwargs):
    mlp = mlp or small_mlp()
    options = dict(num_labels=LABELS, num_steps=3, global_units=(4,))
    options.update(kwargs)
    return mlc_models.build_spen(mlp, **options)


def features(n=6, seed=0):
    return np.random.default_rng(seed).normal(size=(n, FEATURES)).astype(
        np.float32)


Y_SOFT = np.array([[0.2, 0.7, 1.0, 0.0]], np.float32)
Y_GOLD = np.array([[0.0, 1.0, 1.0, 0.0]], np.float32)


@pytest.mark.parametrize("margin, expected", [
    ("hamming", 0.2 + 0.3),
    # L (1 - 2 <y, y*> / (sum y + sum y*)) = 4 (1 - 3.4 / 3.9)
    ("f1", 4 * (1 - 2 * 1.7 / 3.9)),
    ("squared", 0.2 ** 2 + 0.3 ** 2),
])
def test_margins_by_hand(margin, expected):
    spen = small_spen(margin=margin)
    value = spen._margin(tf.constant(Y_SOFT), tf.constant(Y_GOLD))
    assert value.shape == (1,)
    assert float(value[0]) == pytest.approx(expected, rel=1e-5)


def test_margins_vanish_at_the_gold_labels_and_hamming_is_l1():
    rng = np.random.default_rng(3)
    gold = (rng.random((5, 6)) < 0.4).astype(np.float32)
    gold[0, 0] = 1.0
    soft = rng.random((5, 6)).astype(np.float32)
    for margin in mlc_models.MARGINS:
        spen = small_spen(margin=margin)
        np.testing.assert_allclose(spen._margin(tf.constant(gold),
                                                tf.constant(gold)), 0.0,
                                   atol=1e-6)
    spen = small_spen(margin="hamming")
    np.testing.assert_allclose(
        spen._margin(tf.constant(soft), tf.constant(gold)),
        np.abs(soft - gold).sum(1), rtol=1e-5)


def test_f1_margin_of_an_empty_gold_predicted_empty_is_zero():
    spen = small_spen(margin="f1")
    empty = tf.zeros((1, 4))
    assert float(spen._margin(empty, empty)[0]) == pytest.approx(0.0)


def test_unknown_margin_raises():
    with pytest.raises(ValueError, match="Unknown margin 'zero_one'"):
        small_spen(margin="zero_one")


def test_build_spen_copies_the_mlp_head_into_init_and_local_term():
    mlp = small_mlp(dropout=0.5)
    spen = small_spen(mlp)
    x = features()
    init = spen.init_network(spen.feature_network(x, training=False))
    np.testing.assert_array_equal(init, mlp(x, training=False))
    local = spen.energy.energies[0]
    head = mlp.get_layer("head")
    np.testing.assert_array_equal(local.kernel, head.kernel)
    np.testing.assert_array_equal(local.bias, head.bias)
    # The feature network is shared, not copied.
    assert spen.feature_network is mlp.get_layer("features")


def test_spen_without_global_term_reproduces_the_mlp_by_mirror_descent():
    mlp = small_mlp()
    spen = small_spen(mlp, entropy_weight=1.0, inference="mirror_descent",
                      step_size=1.0)
    x = features()
    expected = mlp(x, training=False).numpy()
    # With the global energy active the output moves away from the MLP's...
    assert np.abs(spen(x, training=False).numpy() - expected).max() > 1e-3
    global_energy = spen.energy.energies[1]
    global_energy.kernels[-1].assign(tf.zeros_like(global_energy.kernels[-1]))
    # ... and without it every mirror step lands on sigmoid(b^T F(x)).
    np.testing.assert_allclose(spen(x, training=False), expected, atol=1e-5)
    iterates = spen.predict_iterates(x).numpy()
    assert iterates.shape == (3, 6, LABELS)
    np.testing.assert_allclose(iterates, np.broadcast_to(expected,
                                                         iterates.shape),
                               atol=1e-5)
    # From Init = 0.5 (not already the fixed point) the first mirror step
    # lands there too.
    for weight in spen.init_network.weights:
        weight.assign(tf.zeros_like(weight))
    np.testing.assert_allclose(spen.predict_iterates(x)[0], expected,
                               atol=1e-5)


def test_spen_config_round_trip_gives_identical_outputs():
    spen = small_spen(margin="f1", inference="projected", input_convex=True)
    x = features()
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(spen))
    assert isinstance(revived, mlc_models.MultiLabelSpen)
    assert revived.margin == "f1" and revived.minimizer.num_steps == 3
    assert isinstance(revived.minimizer.step_rule,
                      type(spen.minimizer.step_rule))
    revived.build((None, FEATURES))
    revived.set_weights(spen.get_weights())
    np.testing.assert_array_equal(revived(x, training=False),
                                  spen(x, training=False))


def test_mirror_descent_spen_config_round_trip():
    spen = small_spen(inference="mirror_descent")
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(spen))
    assert isinstance(revived.minimizer.step_rule,
                      mlc_models.BernoulliMirrorStep)
    revived.build((None, FEATURES))
    revived.set_weights(spen.get_weights())
    x = features(seed=4)
    np.testing.assert_array_equal(revived(x), spen(x))


def test_icnn_kernels_stay_non_negative_after_a_fit_step():
    spen = small_spen(input_convex=True)
    global_energy = spen.energy.energies[1]
    assert global_energy.input_convex
    spen.compile(keras.optimizers.SGD(50.0), "binary_crossentropy")
    x = features(16, seed=5)
    y = (np.random.default_rng(5).random((16, LABELS)) < 0.4).astype(
        np.float32)
    before = [k.numpy().copy() for k in global_energy.kernels]
    spen.fit(x, y, batch_size=16, epochs=1, verbose=0)
    after = [k.numpy() for k in global_energy.kernels]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(after, before))
    for kernel in after[1:]:
        assert kernel.min() >= 0.0
    # The first layer (C1) is free; the constraint clipped something.
    assert (after[-1] == 0.0).any() or (after[-1] < before[-1]).any()


# === Gradient of the Eq. 9 loss by finite differences ===


def _float64_spen_loss_and_gradients():
    """Built under a float64 policy (restored afterwards)."""
    previous = keras.config.floatx(), keras.config.dtype_policy()
    # The global policy caches floatx once read: set both.
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        keras.utils.set_random_seed(7)
        mlp = mlc_models.mlp_classifier(4, 3, (5,), 0.0)
        spen = mlc_models.build_spen(mlp, 3, num_steps=3, global_units=(4,),
                                     step_size=0.7, inference="logits")
        spen.compile(keras.optimizers.SGD(0.0), "binary_crossentropy")
        rng = np.random.default_rng(7)
        x = tf.constant(rng.normal(size=(5, 4)))
        y = tf.constant((rng.random((5, 3)) < 0.5).astype(np.float64))
        global_kernel = spen.energy.energies[1].kernels[0]
        raw_steps = spen.minimizer.raw_step_sizes
        assert global_kernel.dtype == "float64"

        def loss():
            return spen._total_loss(x, y, None)[0]

        with tf.GradientTape() as tape:
            value = loss()
        assert value.dtype == tf.float64
        gradients = tape.gradient(value, [global_kernel, raw_steps])

        def finite_difference(variable, index, h=1e-6):
            original = variable.numpy()
            values = []
            for sign in (1, -1):
                moved = original.copy()
                moved[index] += sign * h
                variable.assign(moved)
                values.append(float(loss()))
            variable.assign(original)
            return (values[0] - values[1]) / (2 * h)

        return [(float(gradients[0].numpy()[1, 2]),
                 finite_difference(global_kernel, (1, 2))),
                (float(gradients[1].numpy()[1]),
                 finite_difference(raw_steps, (1,)))]
    finally:
        keras.config.set_floatx(previous[0])
        keras.config.set_dtype_policy(previous[1])


def test_eq9_loss_gradient_matches_finite_differences_in_float64():
    """The global energy enters the loss only through dE/dy in the unrolled
    steps, so its weight's gradient needs second derivatives."""
    for analytic, numeric in _float64_spen_loss_and_gradients():
        assert abs(analytic) > 1e-6
        assert analytic == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_the_numpy_stream_gives_the_tf_data_streams_batches(monkeypatch):
    """Without TensorFlow the multi-label stream is an `IndexedStream` with
    the very batches of the tf.data one (the same per-pass permutations),
    across pass boundaries and after `skip`."""
    from spen_keras.mlc import mlc_data
    from spen_keras.presets.training import IndexedStream

    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 3)).astype(np.float32)
    y = (rng.uniform(size=(10, 2)) > 0.5).astype(np.float32)
    reference = [tuple(np.asarray(t) for t in batch) for batch in
                 mlc_data.training_dataset(x, y, 4, seed=5).take(7)]
    monkeypatch.setattr(mlc_data, "tensorflow_installed", lambda: False)
    stream = mlc_data.training_dataset(x, y, 4, seed=5)
    assert isinstance(stream, IndexedStream)
    for k, (ref_x, ref_y) in enumerate(reference):  # 28 rows: 3 passes
        got_x, got_y = stream[k]
        np.testing.assert_array_equal(got_x, ref_x)
        np.testing.assert_array_equal(got_y, ref_y)
    np.testing.assert_array_equal(stream.skip(5)[1][0], reference[6][0])
