"""The SRL grid: `srl_data` (role sets, sentence grids, padded batches),
`srl_layers` (ArcF1, grid_cross_entropy, ArcEncoder) and the SRL SPEN on a
tiny hand-made structured (dict) input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spen_keras.srl import srl_data
from spen_keras.srl.arc_features import PredicateArcs, SentenceArcs
from spen_keras.srl.srl_layers import ArcEncoder, ArcF1, grid_cross_entropy
from spen_keras.srl.srl_spen import build_srl_spen

# --- srl_data ---------------------------------------------------------------

ROLES = srl_data.RoleSet(["O", "A1", "AM-TMP", "A0"])


def test_role_set_ids_core_roles_and_validation():
    assert len(ROLES) == 4 and ROLES.roles == ("O", "A1", "AM-TMP", "A0")
    assert [ROLES.id(r) for r in ("O", "A1", "AM-TMP", "A0")] == [0, 1, 2, 3]
    assert ROLES.id("A4") == 0  # a role the set does not predict is "O"
    assert ROLES.core_ids == [3, 1]  # in CORE_ROLES order: A0, A1
    assert ROLES == srl_data.RoleSet(("O", "A1", "AM-TMP", "A0"))
    assert ROLES != srl_data.RoleSet(["O", "A0", "A1", "AM-TMP"])
    for bad in (["A0", "O"], [], ["O", "A0", "A0"]):
        with pytest.raises(ValueError, match="a RoleSet starts with 'O'"):
            srl_data.RoleSet(bad)


def predicate(position, spans, roles, ids):
    return PredicateArcs("s", position, [tuple(s) for s in spans],
                         [{} for _ in spans], np.asarray(ids, np.int32),
                         list(roles))


def test_role_set_fit_keeps_frequent_roles_most_frequent_first():
    arcs = [predicate(0, [(0, 0)] * 6,
                      ["A1", "A1", "A1", "A0", "A0", "AM-LOC"],
                      np.zeros((6, 2))),
            predicate(1, [(0, 0)] * 3, ["A0", "O", "AM-LOC"],
                      np.zeros((3, 2)))]
    sentence = SentenceArcs("s", ["-"] * 3, arcs, [[], []])
    assert srl_data.RoleSet.fit([sentence], min_count=2).roles == (
        "O", "A0", "A1", "AM-LOC")  # ties broken by name
    assert srl_data.RoleSet.fit([sentence], min_count=3).roles == (
        "O", "A0", "A1")


# Two predicates; spans (1, 2), (4, 4) and (1, 4) for the first, (4, 4),
# (0, 0), (5, 6) for the second. Union sorted: (0,0) (1,2) (1,4) (4,4) (5,6).
SENTENCE = SentenceArcs("s", ["-"] * 7, [
    predicate(3, [(1, 2), (1, 4), (4, 4)], ["A0", "O", "A1"],
              [[1, 1], [2, 2], [3, 3]]),
    predicate(5, [(0, 0), (4, 4), (5, 6)], ["AM-TMP", "A3", "A1"],
              [[4, 4], [5, 1], [1, 2]]),
], [[], []])


def test_sentence_grid_places_ids_and_roles_in_sorted_span_columns():
    grid = srl_data.sentence_grid(SENTENCE, ROLES, num_templates=2)
    np.testing.assert_array_equal(
        grid.spans, [[0, 0], [1, 2], [1, 4], [4, 4], [5, 6]])
    assert grid.spans.dtype == np.int32 and grid.ids.dtype == np.int32
    expected_ids = np.full((2, 5, 2), -1)
    expected_ids[0, 1], expected_ids[0, 2], expected_ids[0, 3] = (
        [1, 1], [2, 2], [3, 3])
    expected_ids[1, 0], expected_ids[1, 3], expected_ids[1, 4] = (
        [4, 4], [5, 1], [1, 2])
    np.testing.assert_array_equal(grid.ids, expected_ids)
    # A3 is not in the role set: "O" (0); invalid cells -1.
    np.testing.assert_array_equal(grid.roles, [[-1, 3, 0, 1, -1],
                                               [2, -1, -1, 0, 1]])


def test_sentence_grid_overlap_and_core_pairs():
    grid = srl_data.sentence_grid(SENTENCE, ROLES, num_templates=2)
    overlap = {tuple(map(tuple, pair)) for pair in grid.overlap_pairs}
    # Predicate 0: (1,2)-(1,4) and (1,4)-(4,4) overlap, (1,2)-(4,4) do not.
    # Predicate 1: no two of (0,0), (4,4), (5,6) overlap.
    assert overlap == {((0, 1), (0, 2)), ((0, 2), (0, 3))}
    assert grid.overlap_pairs.shape == (2, 2, 2)
    core = {tuple(map(tuple, pair)) for pair in grid.core_pairs}
    expected = set()
    for p, cols in ((0, (1, 2, 3)), (1, (0, 3, 4))):
        for i in range(3):
            for j in range(i + 1, 3):
                for r in (1, 3):  # A1, A0 (AM-TMP is not core)
                    expected.add(((p, cols[i], r), (p, cols[j], r)))
    assert core == expected and grid.core_pairs.shape == (12, 2, 3)
    # No core role in the set: no core pairs, shape kept.
    none = srl_data.sentence_grid(SENTENCE, srl_data.RoleSet(["O", "AM-TMP"]),
                                  2)
    assert none.core_pairs.shape == (0, 2, 3)


def test_sentence_grid_needs_feature_ids():
    sentence = SentenceArcs("s", ["-"], [PredicateArcs(
        "s", 0, [(0, 0)], [{}], None, ["O"])], [[]])
    with pytest.raises(ValueError, match="sentence_grid needs feature ids"):
        srl_data.sentence_grid(sentence, ROLES, 2)


def small_grid():
    sentence = SentenceArcs("t", ["-"] * 3, [
        predicate(0, [(1, 1), (1, 2)], ["A1", "A0"], [[0, 3], [2, 4]])],
        [[]])
    return srl_data.sentence_grid(sentence, ROLES, num_templates=2)


def test_pad_batch_shapes_fill_and_one_hot_targets():
    big = srl_data.sentence_grid(SENTENCE, ROLES, 2)
    small = small_grid()
    x, y = srl_data.pad_batch([small, big], num_roles=4)
    assert x["ids"].shape == (2, 2, 5, 2)
    assert x["overlap_pairs"].shape == (2, 2, 2, 2)
    assert x["core_pairs"].shape == (2, 12, 2, 3)
    assert y.shape == (2, 2, 5, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(x["ids"][1], big.ids)
    np.testing.assert_array_equal(x["ids"][0, :1, :2], small.ids)
    assert np.all(x["ids"][0, 1:] == -1) and np.all(x["ids"][0, :, 2:] == -1)
    # small has one overlapping pair and 2 core pairs; the rest is -1 rows.
    np.testing.assert_array_equal(x["overlap_pairs"][0, 0], [[0, 0], [0, 1]])
    assert np.all(x["overlap_pairs"][0, 1:] == -1)
    np.testing.assert_array_equal(x["core_pairs"][0, :2],
                                  small.core_pairs)
    assert np.all(x["core_pairs"][0, 2:] == -1)
    # One-hot targets; invalid and padded cells one-hot "O".
    np.testing.assert_array_equal(y.sum(-1), np.ones((2, 2, 5)))
    roles = np.argmax(y, -1)
    np.testing.assert_array_equal(roles[1], np.maximum(big.roles, 0))
    np.testing.assert_array_equal(roles[0], [[1, 3, 0, 0, 0],
                                             [0, 0, 0, 0, 0]])


def sized_grids(sizes):
    return [srl_data.SentenceGrid(None, np.zeros((p, a, 1), np.int32),
                                  None, None, None) for p, a in sizes]


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_indices_cover_every_index_once(shuffle):
    rng = np.random.RandomState(0)
    grids = sized_grids(rng.randint(1, 6, size=(23, 2)))
    batches = srl_data.batch_indices(grids, 4, shuffle=shuffle, seed=3)
    assert all(1 <= len(b) <= 4 for b in batches)
    assert sum(len(b) == 4 for b in batches) == 5  # 23 = 5 x 4 + 3
    assert sorted(np.concatenate(batches).tolist()) == list(range(23))
    again = srl_data.batch_indices(grids, 4, shuffle=shuffle, seed=3)
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]
    if not shuffle:
        # Sorted by P x A (stable) within the window of 50 batches.
        sizes = [grids[i].ids.shape[0] * grids[i].ids.shape[1]
                 for i in np.concatenate(batches)]
        assert sizes == sorted(sizes)


def test_batch_indices_shuffle_depends_on_the_seed():
    grids = sized_grids([(1, 1)] * 40)
    first = [b.tolist() for b in srl_data.batch_indices(grids, 4, True, 1)]
    second = [b.tolist() for b in srl_data.batch_indices(grids, 4, True, 2)]
    plain = [b.tolist() for b in srl_data.batch_indices(grids, 4)]
    assert first != second and first != plain
    assert plain == [list(range(i, i + 4)) for i in range(0, 40, 4)]


# --- srl_layers ------------------------------------------------------------

def test_grid_cross_entropy_closed_form():
    rng = np.random.RandomState(1)
    y_pred = rng.dirichlet(np.ones(3), size=(2, 2, 3)).astype(np.float32)
    y_pred[0, 0, 0] = [0.0, 1.0, 0.0]  # log(0) would be -inf: clipped
    y_true = np.eye(3, dtype=np.float32)[rng.randint(0, 3, size=(2, 2, 3))]
    y_true[0, 0, 0] = [1.0, 0.0, 0.0]
    expected = -np.sum(y_true * np.log(np.clip(y_pred, 1e-7, 1.0)),
                       axis=(1, 2, 3))
    loss = grid_cross_entropy(tf.constant(y_true), tf.constant(y_pred))
    assert loss.shape == (2,)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert loss.numpy()[0] >= -np.log(1e-7) - 1e-3


def test_arc_f1_with_integer_targets_ignores_negative_ids():
    # Predictions (argmax): 1, 2, 0, 1, 2, 1 ; gold: 1, 1, 2, 0, 2, -1
    guess = np.array([1, 2, 0, 1, 2, 1])
    y_pred = np.eye(3, dtype=np.float32)[guess] * 0.8 + 0.1
    gold = np.array([1, 1, 2, 0, 2, -1], np.int32)
    metric = ArcF1()
    metric.update_state(gold.reshape(2, 3), y_pred.reshape(2, 3, 3))
    # correct 2 (cells 0, 4), predicted 4 (cells 0,1,3,4), gold 4 (0,1,2,4)
    precision, recall = 2 / 4, 2 / 4
    assert float(metric.result()) == pytest.approx(
        100 * 2 * precision * recall / (precision + recall), rel=1e-6)
    # Accumulates over updates; reset clears.
    metric.update_state(np.array([[2]]), np.eye(3, dtype=np.float32)[[[2]]])
    p, r = 3 / 5, 3 / 5
    assert float(metric.result()) == pytest.approx(100 * 2 * p * r / (p + r))
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_arc_f1_with_one_hot_targets():
    y_true = np.eye(4, dtype=np.float32)[[[0, 1, 2], [3, 0, 1]]]
    y_pred = np.eye(4, dtype=np.float32)[[[1, 1, 3], [3, 0, 0]]]
    metric = ArcF1()
    metric.update_state(y_true, y_pred)
    # correct 2, predicted 4, gold 4 -> P = R = F = 0.5
    assert float(metric.result()) == pytest.approx(50.0)
    perfect = ArcF1()
    perfect.update_state(y_true, y_true)
    assert float(perfect.result()) == pytest.approx(100.0)
    empty = ArcF1()
    empty.update_state(y_true, np.eye(4, dtype=np.float32)[
        np.zeros((2, 3), int)])
    assert float(empty.result()) == 0.0


def test_arc_encoder_reads_negative_ids_as_zero_and_concatenates():
    keras.utils.set_random_seed(0)
    encoder = ArcEncoder([3, 5], embedding_dim=4)
    assert encoder.output_dim == 8
    ids = np.array([[[0, 0], [-1, -1], [2, 4], [1, -7]]], np.int32)
    out = encoder(ids).numpy()
    assert out.shape == (1, 4, 8)
    table = encoder.table.numpy()
    assert table.shape == (8, 4)
    np.testing.assert_allclose(out[0, 0], out[0, 1])
    np.testing.assert_allclose(out[0, 2], np.concatenate([table[2],
                                                          table[3 + 4]]))
    np.testing.assert_allclose(out[0, 3], np.concatenate([table[1],
                                                          table[3]]))
    hidden = ArcEncoder([3, 5], embedding_dim=4, hidden_units=6)
    assert hidden.output_dim == 6
    assert hidden(ids).shape == (1, 4, 6)
    with pytest.raises(ValueError, match="ArcEncoder expects 2 feature ids"):
        ArcEncoder([3, 5])(np.zeros((1, 3), np.int32))


# --- the SRL SPEN on a structured input ------------------------------------

VOCAB = [6, 5]
NUM_ROLES = 4


def tiny_batch():
    grids = [srl_data.sentence_grid(SENTENCE, ROLES, 2), small_grid()]
    return srl_data.pad_batch(grids, NUM_ROLES)


def make_spen(**kwargs):
    keras.utils.set_random_seed(0)
    return build_srl_spen(VOCAB, NUM_ROLES, embedding_dim=4,
                          global_units=(8,), num_steps=3, **kwargs)


def test_srl_spen_output_is_a_distribution_clamped_on_invalid_cells():
    x, _ = tiny_batch()
    model = make_spen()
    y = model(x, training=False).numpy()
    assert y.shape == (2, 2, 5, NUM_ROLES)
    np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    assert np.all(y >= 0)
    invalid = x["ids"][..., 0] < 0
    assert invalid.sum() == 12
    assert np.all(y[invalid][:, 0] > 0.999)
    # Arcs are not clamped: they leave the one-hot "O" corner.
    assert np.all(y[~invalid][:, 0] < 0.99)


def test_srl_spen_fits_without_nan():
    x, y = tiny_batch()
    model = make_spen()
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=grid_cross_entropy, metrics=[ArcF1()])
    history = model.fit(x, y, batch_size=1, epochs=1, shuffle=False,
                        verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
    prediction = model.predict(x, batch_size=2, verbose=0)
    assert prediction.shape == (2, 2, 5, NUM_ROLES)
    assert np.isfinite(prediction).all()


def test_srl_spen_fits_as_an_ssvm():
    x, y = tiny_batch()
    model = make_spen(training_mode="ssvm")
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=grid_cross_entropy)
    model(x, training=False)  # builds every sub-layer
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    weights = model.get_weights()
    assert all(np.isfinite(w).all() for w in weights)
    assert any(not np.allclose(a, b) for a, b in zip(before, weights))


def test_nan_in_a_float_entry_of_a_dict_input_names_the_key():
    x, _ = tiny_batch()
    model = make_spen()
    x = dict(x, weights=np.array([1.0, np.nan], np.float32))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"SPEN input x\['weights'\] contains NaN or Inf"):
        model(x, training=False)
    # Also in a compiled (graph) forward pass, where the entry is unused.
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"x\['weights'\] contains NaN or Inf"):
        model.predict(x, batch_size=2, verbose=0)
    finite = dict(x, weights=np.array([1.0, 2.0], np.float32))
    assert model(finite, training=False).shape == (2, 2, 5, NUM_ROLES)
