"""CoNLL-2005 scoring and the props writer (spen_keras.srl.conll_scoring).

Hand-made propositions with known P / R / F1 (discontinuous C-X arguments,
R-X, V, empty predictions, label and span mismatches), and the shipped devel
props: written back byte for byte, and scored against themselves.
"""

import gzip
import pathlib

import pytest

from spen_keras.datasets.conll2005 import conll2005_layers as layers_io
from spen_keras.srl import conll_scoring as cs

DEVEL = (pathlib.Path(layers_io.__file__).parent / "public" / "devel"
         / "props" / "devel.24.props.gz")
# Non-V arguments of the devel props (section 24) after joining C-X to X:
# 8453 non-V phrases, of which 107 continuation pieces (96 C-A1, 5 C-A0,
# 3 C-A2, 1 C-AM-MNR, 2 C-V).
DEVEL_ARGUMENTS = 8346

# "Mr. X , who said the deal , they expect , will close" style proposition:
# A0 (0-1), R-A0 (2), V (3), A1 (4) continued by C-A1 (6-7), AM-TMP (5).
GOLD = [(0, 1, "A0"), (2, 2, "R-A0"), (3, 3, "V"), (4, 4, "A1"),
        (5, 5, "AM-TMP"), (6, 7, "C-A1")]


def _replace(spans, old, new):
    return [new if span == old else span for span in spans
            if span != old or new is not None]


def _one(gold_spans, pred_spans, **kwargs):
    return cs.score([[gold_spans]], [[pred_spans]], **kwargs)


def _check(result, correct, predicted, gold, p, r, f1):
    assert (result.correct, result.predicted, result.gold) == (
        correct, predicted, gold)
    assert result.precision == pytest.approx(p)
    assert result.recall == pytest.approx(r)
    assert result.f1 == pytest.approx(f1)


def test_perfect_prediction_counts_the_joined_non_v_arguments():
    _check(_one(GOLD, GOLD), 4, 4, 4, 100, 100, 100)
    assert cs.arguments(GOLD) == [
        ("A0", ((0, 1),)), ("R-A0", ((2, 2),)), ("V", ((3, 3),)),
        ("A1", ((4, 4), (6, 7))), ("AM-TMP", ((5, 5),))]


def test_discontinuous_argument_wrong_in_one_piece_is_wrong():
    pred = _replace(GOLD, (6, 7, "C-A1"), (6, 6, "C-A1"))
    _check(_one(GOLD, pred), 3, 4, 4, 75, 75, 75)
    # Right head and continuation spans but a wrong head span.
    pred = _replace(GOLD, (4, 4, "A1"), (4, 5, "A1"))
    pred = _replace(pred, (5, 5, "AM-TMP"), None)
    _check(_one(GOLD, pred), 2, 3, 4, 200 / 3, 50, 400 / 7)


def test_discontinuous_argument_needs_all_its_pieces():
    # Only the head piece: a single phrase never matches a split argument.
    pred = _replace(GOLD, (6, 7, "C-A1"), None)
    _check(_one(GOLD, pred), 3, 4, 4, 75, 75, 75)
    # One contiguous A1 over the same first and last words: still wrong.
    pred = [(0, 1, "A0"), (2, 2, "R-A0"), (3, 3, "V"), (4, 7, "A1")]
    _check(_one(GOLD, pred), 2, 3, 4, 200 / 3, 50, 400 / 7)
    # The C-X piece labelled as a plain argument of its own: 2 wrong args.
    pred = _replace(GOLD, (6, 7, "C-A1"), (6, 7, "A1"))
    _check(_one(GOLD, pred), 3, 5, 4, 60, 75, 200 / 3)


def test_reference_argument_is_scored_under_its_own_label():
    pred = _replace(GOLD, (2, 2, "R-A0"), (2, 2, "A0"))
    result = _one(GOLD, pred, per_label=True)
    _check(result, 3, 4, 4, 75, 75, 75)
    _check(result.per_label["R-A0"], 0, 0, 1, 0, 0, 0)
    _check(result.per_label["A0"], 1, 2, 1, 50, 100, 200 / 3)
    _check(result.per_label["A1"], 1, 1, 1, 100, 100, 100)
    assert "V" not in result.per_label and "C-A1" not in result.per_label


def test_v_is_ignored():
    without_v = _replace(GOLD, (3, 3, "V"), None)
    _check(_one(GOLD, without_v), 4, 4, 4, 100, 100, 100)
    _check(_one(without_v, GOLD), 4, 4, 4, 100, 100, 100)
    wrong_v = _replace(GOLD, (3, 3, "V"), (8, 8, "V"))
    _check(_one(GOLD, wrong_v), 4, 4, 4, 100, 100, 100)
    # C-V continues V and is left out with it.
    _check(_one(GOLD + [(9, 9, "C-V")], GOLD), 4, 4, 4, 100, 100, 100)


def test_empty_predictions_give_zero_as_the_script_defines():
    _check(_one(GOLD, []), 0, 0, 4, 0, 0, 0)
    _check(_one(GOLD, [(3, 3, "V")]), 0, 0, 4, 0, 0, 0)
    _check(_one([(3, 3, "V")], [(3, 3, "V")]), 0, 0, 0, 0, 0, 0)
    _check(cs.score([], []), 0, 0, 0, 0, 0, 0)
    _check(_one([], [(0, 0, "A0")]), 0, 1, 0, 0, 0, 0)


def test_label_mismatch_with_the_right_span_is_wrong():
    pred = _replace(GOLD, (0, 1, "A0"), (0, 1, "A2"))
    _check(_one(GOLD, pred), 3, 4, 4, 75, 75, 75)


def test_span_mismatch_with_the_right_label_is_wrong():
    pred = _replace(GOLD, (0, 1, "A0"), (0, 0, "A0"))
    _check(_one(GOLD, pred), 3, 4, 4, 75, 75, 75)
    pred = _replace(GOLD, (5, 5, "AM-TMP"), None) + [(8, 8, "AM-TMP")]
    _check(_one(GOLD, pred), 3, 4, 4, 75, 75, 75)


def test_extra_argument_lowers_precision_only():
    _check(_one(GOLD, GOLD + [(8, 9, "AM-LOC")]), 4, 5, 4, 80, 100,
           800 / 9)


def test_micro_average_over_predicates_and_sentences():
    other_gold = [(0, 0, "A0"), (1, 1, "V"), (2, 3, "A1")]
    other_pred = [(0, 0, "A0"), (1, 1, "V"), (2, 2, "A1")]
    gold = [[GOLD, other_gold], [other_gold]]
    pred = [[GOLD, other_pred], [[]]]
    # correct 4 + 1 + 0, predicted 4 + 2 + 0, gold 4 + 2 + 2.
    _check(cs.score(gold, pred), 5, 6, 8, 500 / 6, 62.5, 500 / 7)


def test_orphan_continuation_becomes_its_base_argument():
    assert cs.arguments([(1, 2, "C-A1"), (4, 4, "A1")]) == [
        ("A1", ((1, 2),)), ("A1", ((4, 4),))]
    _check(_one([(1, 2, "A1")], [(1, 2, "C-A1")]), 1, 1, 1, 100, 100, 100)


def test_continuation_joins_the_latest_argument_of_its_label():
    spans = [(0, 0, "A1"), (2, 2, "C-A1"), (4, 4, "A1"), (6, 6, "C-A1"),
             (7, 7, "C-A1"), (8, 8, "R-A1"), (9, 9, "C-R-A1")]
    assert cs.arguments(spans) == [
        ("A1", ((0, 0), (2, 2))), ("A1", ((4, 4), (6, 6), (7, 7))),
        ("R-A1", ((8, 8), (9, 9)))]


def test_mismatched_structure_and_crossing_spans_are_rejected():
    with pytest.raises(ValueError, match="sentences"):
        cs.score([[GOLD]], [])
    with pytest.raises(ValueError, match="predicates"):
        cs.score([[GOLD]], [[GOLD, GOLD]])
    with pytest.raises(ValueError, match="cross"):
        cs.score([[GOLD]], [[[(0, 2, "A0"), (1, 3, "A1")]]])
    with pytest.raises(ValueError, match="label"):
        cs.spans_to_tags([(0, 0, "A 0")], 1)
    with pytest.raises(ValueError, match="within"):
        cs.spans_to_tags([(0, 3, "A0")], 2)


def test_tags_round_trip_through_the_dataset_parser():
    spans = [(0, 3, "A0"), (0, 0, "A1"), (2, 2, "V"), (5, 5, "AM-NEG")]
    tags = cs.spans_to_tags(spans, 6)
    assert tags == ["(A0(A1*)", "*", "(V*)", "*)", "*", "(AM-NEG*)"]
    assert layers_io.parse_start_end(tags) == spans


def test_format_props_adds_v_and_follows_the_release_layout():
    text = cs.format_props(["-", "say", "-"], [[(0, 0, "A0")]])
    # Lemma in 15 characters, each "*" on character 24 (+ 16 per column),
    # lines padded to 15 + 16 per column, as in the release's props files.
    assert text == ("-" + " " * 20 + "(A0*)" + " " * 5 + "\n"
                    + "say" + " " * 19 + "(V*)" + " " * 5 + "\n"
                    + "-" + " " * 23 + "*" + " " * 6 + "\n\n")
    assert [len(line) for line in text.splitlines()] == [31, 31, 31, 0]
    with pytest.raises(ValueError, match="predicate"):
        cs.format_props(["-", "say"], [])


def test_written_predictions_score_like_the_spans(tmp_path):
    lemmas = ["-"] * 10
    lemmas[3] = "expect"
    pred = _replace(GOLD, (2, 2, "R-A0"), (2, 2, "A0"))
    gold_file, pred_file = tmp_path / "gold.props.gz", tmp_path / "p.gz"
    cs.write_props(gold_file, [(lemmas, [GOLD])])
    cs.write_props(pred_file, [(lemmas, [pred])])
    assert cs.score_props_files(gold_file, pred_file) == _one(GOLD, pred)


@pytest.fixture(scope="module")
def devel():
    return list(cs.read_props(DEVEL))


def test_devel_props_are_written_back_byte_for_byte(devel, tmp_path):
    with gzip.open(DEVEL, "rb") as stream:
        original = stream.read()
    assert cs.props_text(devel).encode("utf-8") == original
    written = tmp_path / "devel.24.props.gz"
    cs.write_props(written, devel)
    with gzip.open(written, "rb") as stream:
        assert stream.read() == original


def test_devel_gold_against_itself_scores_100(devel):
    gold = [predicates for _, predicates in devel]
    result = cs.score(gold, gold, per_label=True)
    _check(result, DEVEL_ARGUMENTS, DEVEL_ARGUMENTS, DEVEL_ARGUMENTS,
           100, 100, 100)
    assert sum(r.gold for r in result.per_label.values()) == DEVEL_ARGUMENTS
    assert not any(label.startswith("C-") for label in result.per_label)
    assert len(devel) == 1346
    assert sum(len(predicates) for predicates in gold) == 3248
