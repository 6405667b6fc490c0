"""Arc features of the SRL local model (spen_keras.srl.arc_features).

A hand-made tree with known path, head, position, distance, voice and named
entity values; the vocabulary (fit, ids, unknowns, JSON round trip, refusal
to overwrite); and the shipped devel split: features for all 3,248
predicates, and gold roles over the Xue & Palmer candidates that recover the
oracle-recall count of `candidates` (7,223 pieces).
"""

import json
import time

import numpy as np
import pytest

from spen_keras.srl import arc_features as af
from spen_keras.srl import candidates as cands

# John was given a book by Mary .
GIVEN_POS = ["NNP", "AUX", "VBN", "DT", "NN", "IN", "NNP", "."]
GIVEN_BITS = ["(S1(S(NP*)", "(VP*", "(VP*", "(NP*", "*)", "(PP*",
              "(NP*))))", "*))"]
GIVEN_NE = ["(PER*)", "*", "*", "*", "*", "*", "(ORG*)", "*"]
GIVEN_ARGS = ["(A1*)", "*", "(V*)", "(A2*", "*)", "(A0*", "*)", "*"]


def given():
    tree = cands.ParseTree.from_conll(GIVEN_BITS, GIVEN_POS)
    layers = {
        "props": [["give" if i == 2 else "-", tag]
                  for i, tag in enumerate(GIVEN_ARGS)],
        "ne": [[tag] for tag in GIVEN_NE],
        "senses": [["01" if i == 2 else "-"] for i in range(8)],
    }
    return tree, layers


def test_templates_and_simple_values():
    tree, layers = given()
    features = af.arc_features(tree, 2, (3, 4), layers)
    assert tuple(features) == af.TEMPLATES
    assert features == {
        "lemma": "give", "sense": "01", "voice": "passive",
        "phrase_type": "NP", "head_pos": "NN", "path": "NP↑VP↓VBN",
        "short_path": "NP↑VP↓VBN", "position": "after", "distance": "0",
        "ne": "O", "lemma_path": "give|NP↑VP↓VBN",
        "type_position_voice": "NP|after|passive",
        "predicate_pos": "VBN", "subcat": "VP>VBN*+NP+PP",
        "first_pos": "DT", "last_pos": "NN", "before_pos": "VBN",
        "after_pos": "IN", "left_sister": "VBN", "right_sister": "PP",
        "length": "2", "lemma_type_position": "give|NP|after",
        "voice_position_subcat": "passive|after|VP>VBN*+NP+PP",
        "parent_type": "VP", "head_lemma": "-", "partial_path": "NP↑VP",
        "common_ancestor": "VP", "position_distance": "after|0",
        "type_head_pos": "NP|NN"}


def test_boundary_features_at_sentence_ends_and_head_lemma():
    tree, layers = given()
    # The subject, seen from "given": first token, no left sister.
    subject = af.arc_features(tree, 2, (0, 0), layers)
    assert subject["before_pos"] == "<s>" and subject["left_sister"] == "-"
    assert subject["partial_path"] == "NP↑S"
    assert subject["common_ancestor"] == "S"
    # The final period: after it, "</s>".
    period = af.arc_features(tree, 2, (7, 7), layers)
    assert period["after_pos"] == "</s>" and period["right_sister"] == "-"
    # Seen from the AUX "was" as a (made-up) predicate, the VP headed by
    # "given" has the head lemma "give", the only words the layers have.
    layers["props"][1][0] = "be"
    vp = af.arc_features(tree, 1, (2, 6), layers)
    assert vp["head_lemma"] == "give" and vp["predicate_pos"] == "AUX"


@pytest.mark.parametrize("span, phrase, head, path, position, distance, ne", [
    # The subject: the outermost node of NP -> NNP is the NP.
    ((0, 0), "NP", "NNP", "NP↑S↓VP↓VP↓VBN", "before", "1", "PER"),
    ((1, 1), "AUX", "AUX", "AUX↑VP↓VP↓VBN", "before", "0", "O"),
    # PP: head IN "by" (no entity), the entity overlapping the span: ORG.
    ((5, 6), "PP", "IN", "PP↑VP↓VBN", "after", "2", "ORG"),
    ((6, 6), "NP", "NNP", "NP↑PP↑VP↓VBN", "after", "3-4", "ORG"),
    ((7, 7), ".", ".", ".↑S↓VP↓VP↓VBN", "after", "3-4", "O"),
])
def test_path_head_position_distance_ne(span, phrase, head, path, position,
                                        distance, ne):
    tree, layers = given()
    assert span in cands.xue_palmer_candidates(tree, 2)
    features = af.arc_features(tree, 2, span, layers)
    assert (features["phrase_type"], features["head_pos"], features["path"],
            features["position"], features["distance"], features["ne"]) == (
        phrase, head, path, position, distance, ne)
    assert features["short_path"] == path  # at most 4 steps here


def test_short_path_is_cut_after_four_steps():
    tree, layers = given()
    features = af.arc_features(tree, 0, (6, 6), layers)
    assert features["path"] == "NP↑PP↑VP↑VP↑S↓NP↓NNP"
    assert features["short_path"] == "NP↑PP↑VP↑VP↑S…"
    assert features["lemma"] == features["sense"] == "-"
    assert features["position"] == "after" and features["distance"] == "5-8"


def test_head_rules():
    tree, _ = given()
    table = af.span_nodes(tree)
    assert af.head_token(tree, table[(0, 7)]) == 1  # S1 -> S -> VP -> AUX
    assert af.head_token(tree, table[(2, 6)]) == 2  # VP: leftmost verb
    assert af.head_token(tree, table[(3, 4)]) == 4  # NP: rightmost noun
    assert af.head_token(tree, table[(5, 6)]) == 5  # PP: leftmost IN
    # SBAR -> IN; ADVP -> RB; an unknown label -> the last token.
    other = cands.ParseTree.from_conll(
        ["(S1(SBAR*", "(S(NP*)", "(VP*", "(ADVP*", "*)", "(UCP*", "*)))))"],
        ["IN", "PRP", "VBD", "RB", "RBR", "NN", "JJ"])
    table = af.span_nodes(other)
    assert af.head_token(other, table[(0, 6)]) == 0
    assert af.head_token(other, table[(1, 6)]) == 2  # S -> VP -> VBD
    assert af.head_token(other, table[(3, 4)]) == 3
    assert af.head_token(other, table[(5, 6)]) == 6


def test_voice_approximation():
    tree, layers = given()
    assert af.is_passive(tree, 2)
    # VBD: active; VBN without a verb before it in its VP chain (a reduced
    # relative, "the book written by Mary"): active.
    gave = cands.ParseTree.from_conll(
        ["(S1(S(NP*)", "(VP*", "(NP*))", "*))"], ["NNP", "VBD", "NNP", "."])
    assert not af.is_passive(gave, 1)
    written = cands.ParseTree.from_conll(
        ["(S1(NP(NP*", "*)", "(VP*", "(PP*", "(NP*)))))"],
        ["DT", "NN", "VBN", "IN", "NNP"])
    assert not af.is_passive(written, 2)
    # "will be taken": MD, then AUX in the VP chain.
    taken = cands.ParseTree.from_conll(
        ["(S1(S(NP*)", "(VP*", "(VP*", "(VP*)))))"],
        ["PRP", "MD", "AUX", "VBN"])
    assert af.is_passive(taken, 3)


def test_no_senses_a_span_over_the_predicate_and_a_non_constituent():
    tree, layers = given()
    del layers["senses"], layers["ne"]
    features = af.arc_features(tree, 2, (1, 6), layers)
    assert features["sense"] == "-" and features["ne"] == "O"
    assert features["position"] == "contains"
    with pytest.raises(ValueError, match="not a constituent"):
        af.arc_features(tree, 2, (3, 5), layers)


def test_distance_buckets():
    assert [af.distance_bucket(d) for d in range(11)] == [
        "0", "1", "2", "3-4", "3-4", "5-8", "5-8", "5-8", "5-8", "9+",
        "9+"]


def test_gold_roles():
    spans = [(0, 1), (2, 2), (3, 5), (6, 6), (7, 7), (8, 9), (10, 10)]
    props = [(0, 1, "A1"), (2, 2, "V"), (3, 5, "C-A1"), (6, 6, "R-A0"),
             (7, 7, "C-V"), (8, 9, "AM-TMP"), (11, 12, "A2")]
    assert af.gold_roles(spans, props) == [
        "A1", "O", "C-A1", "R-A0", "O", "AM-TMP", "O"]


def vocabulary_data():
    base = dict.fromkeys(af.TEMPLATES, "x")
    return [dict(base, lemma="a"), dict(base, lemma="a"),
            dict(base, lemma="b"), dict(base, lemma="c", voice="y"),
            dict(base, lemma="c")]


def test_vocabulary_fit_ids_and_unknowns():
    vocabulary = af.FeatureVocabulary.fit(vocabulary_data(), min_count=2)
    assert vocabulary.values["lemma"] == ["<unk>", "a", "c"]
    assert vocabulary.values["voice"] == ["<unk>", "x"]
    assert vocabulary.sizes[:3] == [3, 2, 2]
    new = dict.fromkeys(af.TEMPLATES, "x")
    ids = vocabulary.transform([dict(new, lemma="c"), dict(new, lemma="z",
                                                           voice="q")])
    assert ids.shape == (2, len(af.TEMPLATES)) and ids.dtype == np.int32
    assert ids[0].tolist() == [2] + [1] * (len(af.TEMPLATES) - 1)
    assert ids[1, :3].tolist() == [0, 1, 0]
    flat = vocabulary.transform([dict(new, lemma="c")], flat=True)
    assert flat[0].tolist() == (ids[0] + vocabulary.offsets).tolist()
    assert flat.max() < sum(vocabulary.sizes)
    assert vocabulary.transform([]).shape == (0, len(af.TEMPLATES))


def test_vocabulary_save_load_and_refusal(tmp_path):
    vocabulary = af.FeatureVocabulary.fit(vocabulary_data())
    path = tmp_path / "vocabulary.json"
    vocabulary.save(path)
    loaded = af.FeatureVocabulary.load(path)
    assert loaded == vocabulary and loaded.ids == vocabulary.ids
    before = path.read_text()
    other = af.FeatureVocabulary.fit(vocabulary_data(), min_count=2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        other.save(path)
    assert path.read_text() == before
    other.save(path, overwrite=True)
    assert af.FeatureVocabulary.load(path) == other
    (tmp_path / "other.json").write_text(json.dumps({"format": "nope"}))
    with pytest.raises(ValueError, match="not a saved"):
        af.FeatureVocabulary.load(tmp_path / "other.json")


@pytest.fixture(scope="module")
def devel_arcs():
    begin = time.perf_counter()
    arcs = af.build_split("devel")
    return arcs, time.perf_counter() - begin


def test_devel_features_and_gold_roles(devel_arcs):
    """Measured: 0.6 s for 3,248 predicates, 33,904 arcs; 7,223 candidates
    with a gold role, as `candidates.oracle_recall` finds (7,223 / 8,451)."""
    arcs, seconds = devel_arcs
    assert len(arcs) == 3248
    assert sum(len(a.spans) for a in arcs) == 33904
    assert sum(role != af.NO_ROLE for a in arcs for role in a.roles) == 7223
    oracle = cands.oracle_recall(cands.devel_sentences())
    assert oracle.found == 7223
    features = [f for a in arcs for f in a.features]
    distinct = {t: len({f[t] for f in features}) for t in af.TEMPLATES}
    print(f"devel: {len(arcs)} predicates, {len(features)} arcs in "
          f"{seconds:.2f} s; distinct values: {distinct}")
    assert distinct["voice"] == 2 and distinct["position"] == 2
    assert distinct["distance"] == 6 and distinct["ne"] == 5
    assert distinct["lemma"] > 500 and distinct["path"] > 1000
    vocabulary = af.FeatureVocabulary.fit(features, min_count=2)
    with_ids = af.build_split("devel", vocabulary)
    first = with_ids[0]
    assert first.ids.shape == (len(first.spans), len(af.TEMPLATES))
    assert first.roles == arcs[0].roles
    assert first.features[0]["voice"] == "passive"  # "... will be taken"
