"""Candidate arguments of the SRL family (spen_keras.srl.candidates).

Hand-made trees with known Xue & Palmer (2004) candidate sets (the PP rule,
pre-terminal sisters, coordination), a real devel sentence, and the oracle
recall over the shipped devel split (section 24, Charniak parses).
"""

import pytest

from spen_keras.datasets.conll2005 import conll2005_layers as layers_io
from spen_keras.srl import candidates as cands

# John gave Mary a book in Paris France .
GAVE_POS = ["NNP", "VBD", "NNP", "DT", "NN", "IN", "NNP", "NNP", "."]
GAVE_BITS = ["(S1(S(NP*)", "(VP*", "(NP*)", "(NP*", "*)", "(PP*", "(NP*",
             "*)))", "*))"]

# He ate apples and drank milk
ATE_POS = ["PRP", "VBD", "NNS", "CC", "VBD", "NN"]
ATE_BITS = ["(S1(S(NP*)", "(VP(VP*", "(NP*))", "*", "(VP*", "(NP*)))))"]


def gave_tree():
    return cands.ParseTree.from_conll(GAVE_BITS, GAVE_POS)


def test_tree_nodes_parents_and_leaves():
    tree = gave_tree()
    spans = [(n.start, n.end, n.label) for n in tree.nodes]
    assert spans[:4] == [(0, 8, "S1"), (0, 8, "S"), (0, 0, "NP"),
                         (0, 0, "NNP")]
    assert len(tree) == 9 + 8  # 9 pre-terminals, 8 phrases
    assert tree.num_tokens == 9
    for token, leaf in enumerate(tree.leaves):
        node = tree.nodes[leaf]
        assert (node.start, node.end, node.label) == (token, token,
                                                      GAVE_POS[token])
        assert tree.is_preterminal[leaf] and tree.children[leaf] == []
    # Unary chain S1 -> S; S's children NP VP . ; the root has no parent.
    assert tree.nodes[0].parent == -1 and tree.nodes[1].parent == 0
    assert [tree.nodes[c].label for c in tree.children[1]] == [
        "NP", "VP", "."]
    vp = tree.children[1][1]
    assert [(tree.nodes[c].label, tree.span(c))
            for c in tree.children[vp]] == [
        ("VBD", (1, 1)), ("NP", (2, 2)), ("NP", (3, 4)), ("PP", (5, 7))]
    # Every child lies inside its parent.
    for node in tree.nodes[1:]:
        parent = tree.nodes[node.parent]
        assert parent.start <= node.start <= node.end <= parent.end


def test_xue_palmer_with_the_pp_rule():
    tree = gave_tree()
    # Level of "gave": NP Mary, NP a book, PP in Paris France and the PP's
    # children IN in, NP Paris France (not its grandchildren NNP Paris,
    # NNP France); level of the VP: NP John and the final "."; S has no
    # sisters under S1.
    assert cands.xue_palmer_candidates(tree, 1) == [
        (0, 0), (2, 2), (3, 4), (5, 5), (5, 7), (6, 7), (8, 8)]
    nodes = cands.xue_palmer_nodes(tree, 1)
    assert [tree.nodes[n].label for n in nodes] == [
        "NP", "NP", "PP", "IN", "NP", "NP", "."]
    # Phrases only: the pre-terminal sisters "." and IN "in" are dropped.
    assert cands.xue_palmer_candidates(
        tree, 1, include_preterminals=False) == [
        (0, 0), (2, 2), (3, 4), (5, 7), (6, 7)]


def test_xue_palmer_from_an_argument_token_and_the_predicate_excluded():
    tree = gave_tree()
    # From "book" (4): sister DT a; NP a book's sisters VBD, NP, PP (+ IN,
    # NP); the VP's sisters NP John and ".".
    got = cands.xue_palmer_candidates(tree, 4)
    assert got == [(0, 0), (1, 1), (2, 2), (3, 3), (5, 5), (5, 7), (6, 7),
                   (8, 8)]
    assert (4, 4) not in got and (3, 4) not in got


def test_all_candidates_exclude_the_predicate_and_its_ancestors():
    tree = gave_tree()
    assert cands.all_candidates(tree, 1) == [
        (0, 0), (2, 2), (3, 3), (3, 4), (4, 4), (5, 5), (5, 7), (6, 6),
        (6, 7), (7, 7), (8, 8)]
    assert cands.all_candidates(tree, 1, include_preterminals=False) == [
        (0, 0), (2, 2), (3, 4), (5, 7), (6, 7)]
    for predicate in range(tree.num_tokens):
        pruned = set(cands.xue_palmer_candidates(tree, predicate))
        every = set(cands.all_candidates(tree, predicate))
        assert pruned <= every
        assert all(not s <= predicate <= e for s, e in every)


def test_coordination_option():
    tree = cands.ParseTree.from_conll(ATE_BITS, ATE_POS)
    # "ate": NP apples; then VP ate apples's sisters CC and, VP drank milk;
    # then NP He.
    assert cands.xue_palmer_candidates(tree, 1) == [
        (0, 0), (2, 2), (3, 3), (4, 5)]
    assert cands.xue_palmer_candidates(tree, 1, skip_coordinated=True) == [
        (0, 0), (2, 2)]


@pytest.mark.parametrize("bits", [
    ["(NP*)", "(NP*)"],            # two roots
    ["(S(NP*)", "*"],              # never closed
    ["(S*)", "*)"],                # closes nothing
    ["(S*", "*)x"],                # malformed
])
def test_malformed_parse_columns(bits):
    with pytest.raises(layers_io.Conll2005DataError):
        cands.ParseTree.from_conll(bits, ["NN"] * len(bits))


def test_length_mismatch():
    with pytest.raises(ValueError):
        cands.ParseTree.from_conll(["(S*)"], ["NN", "NN"])


@pytest.fixture(scope="module")
def devel():
    return list(cands.devel_sentences())


def test_first_devel_sentence(devel):
    key, tree, props = devel[0]
    assert key == "devel.24/00000" and tree.num_tokens == 25
    assert tree.nodes[0].label == "S1"
    [(position, spans)] = props
    assert position == 6 and tree.nodes[tree.leaves[6]].label == "VBN"
    assert cands.xue_palmer_candidates(tree, 6) == [
        (0, 3), (4, 4), (5, 5), (7, 7), (7, 10), (8, 10), (11, 12),
        (13, 13), (14, 14), (14, 23), (15, 23), (24, 24)]
    gold = cands.gold_items(spans)
    assert gold == [((0, 3),), ((4, 4),), ((7, 10),), ((11, 12),),
                    ((14, 23),)]
    result = cands.oracle_recall([devel[0]])
    assert (result.found, result.total, result.predicates) == (5, 5, 1)


def test_gold_items_continuations():
    spans = [(0, 1, "A1"), (2, 2, "V"), (3, 5, "C-A1"), (6, 6, "R-A0"),
             (7, 7, "C-V"), (8, 9, "C-A2")]
    assert cands.gold_items(spans) == [((0, 1),), ((3, 5),), ((6, 6),),
                                       ((8, 9),)]
    assert cands.gold_items(spans, whole_arguments=True) == [
        ((0, 1), (3, 5)), ((6, 6),), ((8, 9),)]


def test_devel_oracle_recall(devel):
    """Measured: 85.47% (7223 / 8451 pieces) Xue-Palmer, 10.44 candidates
    per predicate; 91.36% (7721 / 8451) all constituents, 41.84 per
    predicate (references: about 85.5% and 91.4%)."""
    assert len(devel) == 1346
    pruned = cands.oracle_recall(devel)
    every = cands.oracle_recall(devel, cands.all_candidates)
    assert pruned.predicates == every.predicates == 3248
    assert pruned.total == every.total == 8451
    assert abs(pruned.recall - 0.8547) < 0.003
    assert abs(every.recall - 0.9136) < 0.003
    assert 10.0 < pruned.candidates_per_predicate < 11.0
    assert 41.0 < every.candidates_per_predicate < 43.0
    whole = cands.oracle_recall(devel, whole_arguments=True)
    assert whole.total == 8346 and abs(whole.recall - 0.8541) < 0.003
