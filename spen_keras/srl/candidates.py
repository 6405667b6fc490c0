"""Candidate arguments from parse constituents (Xue & Palmer 2004 pruning).

The semantic role labeller of the paper (Sec. 6.2) scores candidate argument
spans of each predicate; the candidates are constituents of the predicted
(Charniak) parse of the sentence. This module builds the constituent tree
from the CoNLL-2005 ``synt.cha`` column and gives, per predicate,

- `xue_palmer_candidates`: the pruned set of Xue & Palmer (2004), "Calibrating
  features for semantic role labeling", EMNLP, Sec. 3.1: designate the
  predicate as the current node and collect its sisters (if a sister is a PP,
  also collect its immediate children); reset the current node to its parent
  and repeat until the root is reached;
- `all_candidates`: every constituent that does not contain the predicate
  token (the unpruned set);

and `oracle_recall`, the fraction of gold argument spans that are among the
candidates (an upper bound on the recall of a labeller that labels
candidates).

Choices (see the module's tests for examples):

- Pre-terminals (the tokens, labelled with their POS tag) are leaves of the
  tree and are constituents: the paper's Step 1 collects the *sisters* of the
  current node, i.e. every constituent attached at the same level, and a
  pre-terminal sister (e.g. a particle, an adverb, a punctuation mark) is
  one. `include_preterminals=False` gives the variant that keeps only phrase
  sisters (pre-terminal children of a PP sister are then dropped too).
- The paper's exception "unless its sisters are coordinated with the
  predicate" is not applied by default (`skip_coordinated=True` applies it:
  at a level whose children include a CC or CONJP, the sisters are not
  collected, but the walk goes on upward).
- The predicate's own pre-terminal is never a candidate, and neither is any
  node containing it (a sister never does; the parents on the way up do not
  count as sisters).
- Spans are (start, end) token indices, end inclusive, as in
  `conll2005_layers.parse_start_end`. A unary chain (e.g. ``(S1(S`` or
  ``(NP(NN``) gives one span; candidate lists are of distinct spans, sorted.
- Oracle recall counts spans: each piece of an argument (a continuation
  ``C-X`` piece is its own span; ``R-X`` references are arguments of their
  own) must be exactly a candidate span. `whole_arguments=True` counts an
  argument with continuations as one item, found when all its pieces are.
"""

import collections

from spen_keras.datasets.conll2005 import conll2005_layers as layers_io

Constituent = collections.namedtuple(
    "Constituent", ["start", "end", "label", "parent"])
Constituent.__doc__ = """One node of a `ParseTree`: tokens start..end
(inclusive), its phrase label (the POS tag for a pre-terminal) and the index
of its parent node (-1 for the root)."""

_PP_LABELS = ("PP",)
_COORDINATION = ("CC", "CONJP")


class ParseTree:
    """A constituent tree over the tokens of one sentence.

    Attributes:
        nodes: list of `Constituent` in pre-order (a parent before its
            children, children left to right); for nodes with the same span
            (a unary chain) the outer one first, and a pre-terminal after
            the phrases over that single token.
        leaves: per token, the index of its pre-terminal node.
        children: per node, the indices of its children, left to right.
        is_preterminal: per node, whether it is a token's pre-terminal.
    """

    def __init__(self, nodes, leaves):
        self.nodes = list(nodes)
        self.leaves = list(leaves)
        self.children = [[] for _ in self.nodes]
        for index, node in enumerate(self.nodes):
            if node.parent >= 0:
                self.children[node.parent].append(index)
        leaf_set = set(self.leaves)
        self.is_preterminal = [i in leaf_set for i in range(len(self.nodes))]

    def __len__(self):
        return len(self.nodes)

    @property
    def num_tokens(self):
        return len(self.leaves)

    def span(self, index):
        node = self.nodes[index]
        return node.start, node.end

    @classmethod
    def from_conll(cls, parse_bits, pos_tags, origin="<synt.cha>"):
        """The tree of a sentence's CoNLL parse column.

        Args:
            parse_bits: per token its parse bit, e.g. "(S1(S(NP*", "*",
                "*))"; the "*" stands for the token's pre-terminal.
            pos_tags: per token its POS tag (the label of its pre-terminal),
                e.g. the first column of ``synt.cha``.
            origin: names the place in errors (see `parse_start_end`).

        Raises:
            conll2005_layers.Conll2005DataError: on a malformed bit or
                unbalanced brackets, or when the bits are not one tree
                (several roots or tokens outside every phrase, when there is
                more than one token).
            ValueError: when parse_bits and pos_tags differ in length.
        """
        if len(parse_bits) != len(pos_tags):
            raise ValueError(f"{len(parse_bits)} parse bits but "
                             f"{len(pos_tags)} POS tags")
        phrases = layers_io.parse_start_end(parse_bits, origin)
        # Sort key: start, outer first, phrases before the pre-terminal of a
        # single token, then opening order (outer first in a unary chain).
        items = [((start, -end, 0, order), start, end, label, False)
                 for order, (start, end, label) in enumerate(phrases)]
        items += [((i, -i, 1, 0), i, i, tag, True)
                  for i, tag in enumerate(pos_tags)]
        items.sort(key=lambda item: item[0])
        nodes, leaves, stack = [], [None] * len(pos_tags), []
        for _, start, end, label, is_leaf in items:
            while stack and nodes[stack[-1]].end < start:
                stack.pop()
            parent = stack[-1] if stack else -1
            if parent < 0 and nodes:
                raise layers_io.Conll2005DataError(
                    f"{_where(origin, start)}: not one tree (a second root "
                    f"or a token outside every phrase)")
            nodes.append(Constituent(start, end, label, parent))
            if is_leaf:
                leaves[start] = len(nodes) - 1
            else:
                stack.append(len(nodes) - 1)
        return cls(nodes, leaves)

    def sisters(self, index):
        """The other children of the node's parent, left to right."""
        parent = self.nodes[index].parent
        if parent < 0:
            return []
        return [c for c in self.children[parent] if c != index]


def _where(origin, token):
    return origin(token) if callable(origin) else f"{origin} token {token}"


def xue_palmer_nodes(tree, predicate, include_preterminals=True,
                     skip_coordinated=False):
    """Node indices of the Xue & Palmer (2004) candidates of a predicate.

    Args:
        tree: a `ParseTree`.
        predicate: the token index of the predicate.
        include_preterminals: whether pre-terminal sisters (and pre-terminal
            children of PP sisters) are candidates (the paper: yes).
        skip_coordinated: whether to skip the sisters at a level where the
            current node is coordinated (a CC or CONJP child there).

    Returns:
        node indices in collection order (bottom up, left to right per
        level), without repeats.
    """
    current = tree.leaves[predicate]
    found, seen = [], set()

    def keep(node):
        if node not in seen and (include_preterminals
                                 or not tree.is_preterminal[node]):
            seen.add(node)
            found.append(node)

    while tree.nodes[current].parent >= 0:
        sisters = tree.sisters(current)
        coordinated = skip_coordinated and any(
            tree.nodes[s].label in _COORDINATION for s in sisters)
        if not coordinated:
            for sister in sisters:
                keep(sister)
                if tree.nodes[sister].label in _PP_LABELS:
                    for child in tree.children[sister]:
                        keep(child)
        current = tree.nodes[current].parent
    return found


def xue_palmer_candidates(tree, predicate, **options):
    """Distinct (start, end) spans of `xue_palmer_nodes`, sorted."""
    return sorted({tree.span(n)
                   for n in xue_palmer_nodes(tree, predicate, **options)})


def all_candidates(tree, predicate, include_preterminals=True):
    """Distinct (start, end) spans of all constituents that do not contain
    the predicate token, sorted (the unpruned candidate set)."""
    return sorted({(node.start, node.end)
                   for index, node in enumerate(tree.nodes)
                   if not node.start <= predicate <= node.end
                   and (include_preterminals
                        or not tree.is_preterminal[index])})


def gold_items(spans, whole_arguments=False):
    """The gold items of one predicate, from `parse_props` spans.

    Returns:
        a list of tuples of (start, end) pieces: one piece per item (every
        non-V span, C-X pieces included) or, with `whole_arguments`, one
        item per argument (its span and the spans of its C-X pieces, matched
        to the nearest preceding span of the base label).
    """
    arguments = [(start, end, label) for start, end, label in spans
                 if label != "V" and not label.endswith("-V")]
    if not whole_arguments:
        return [((start, end),) for start, end, _ in arguments]
    items, last = [], {}
    for start, end, label in sorted(arguments):
        if label.startswith("C-") and label[2:] in last:
            items[last[label[2:]]].append((start, end))
        else:
            last[label] = len(items)
            items.append([(start, end)])
    return [tuple(item) for item in items]


def devel_sentences(root=None, split="devel", parse_layer="synt.cha"):
    """Yields (key, tree, [(predicate token, spans)]) per sentence of a
    split of the release, read with `conll2005_layers.read_split`.

    Args:
        root: the release folder; the package's shipped public layers by
            default.
        split: a `conll2005_layers.SPLITS` name.
        parse_layer: "synt.cha" (Charniak) or "synt.col2" (Collins).
    """
    if root is None:
        import pathlib
        root = pathlib.Path(layers_io.__file__).parent / "public"
    for sentence in layers_io.read_split(root, split,
                                         ["props", parse_layer]):
        rows = sentence[parse_layer]
        path = sentence["paths"][parse_layer]
        first = sentence["lines"][parse_layer]
        tree = ParseTree.from_conll(
            [row[1] for row in rows], [row[0] for row in rows],
            origin=lambda i, p=path, f=first: f"{p}:{f + i}")
        _, predicates = layers_io.parse_props(
            sentence["props"], sentence["lines"]["props"],
            sentence["paths"]["props"])
        yield sentence["key"], tree, [(position, spans) for position, _, _,
                                      spans in predicates]


OracleRecall = collections.namedtuple(
    "OracleRecall", ["recall", "found", "total", "predicates",
                     "candidates", "candidates_per_predicate"])
OracleRecall.__doc__ = """Oracle recall of a candidate set over a corpus:
found / total gold items, and the number of predicates and of candidates
(their mean per predicate)."""


def oracle_recall(sentences, candidates=xue_palmer_candidates,
                  whole_arguments=False):
    """The oracle recall of `candidates(tree, predicate)` over sentences.

    Args:
        sentences: iterable of (key, tree, [(predicate token, spans)]) as
            `devel_sentences` yields.
        candidates: callable (tree, predicate) -> iterable of (start, end).
        whole_arguments: see `gold_items`.
    """
    found = total = predicates = count = 0
    for _, tree, props in sentences:
        for position, spans in props:
            pool = set(candidates(tree, position))
            predicates += 1
            count += len(pool)
            for item in gold_items(spans, whole_arguments):
                total += 1
                found += all(piece in pool for piece in item)
    return OracleRecall(found / max(total, 1), found, total, predicates,
                        count, count / max(predicates, 1))
