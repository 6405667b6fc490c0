"""Sparse features of (predicate, candidate span) arcs for the local model.

The local SRL model of Belanger et al. (2017, Sec. 6.2, Eq. 17/18) scores
each arc (predicate, candidate argument span) from sparse features in the
style of Gildea & Jurafsky (2002) and Xue & Palmer (2004). The public
CoNLL-2005 layers have no words, so the features are delexicalised: only
predicate lemmas and senses (props, senses), POS tags and the parse
(synt.cha / synt.col2) and named entities (ne) are used.

`arc_features(tree, pred_index, span, sentence_layers)` gives one value per
template of `TEMPLATES`:

- ``lemma``: the predicate lemma (props column 0);
- ``sense``: its sense (senses layer), "-" where the split has none (the
  test splits);
- ``voice``: "passive" or "active". Approximation (no words, so forms of
  "be"/"get" cannot be seen): passive iff the predicate's POS is VBN and one
  of the VPs on its chain of VP ancestors (its parent VP, that VP's parent if
  also a VP, ...) has as first child a verb pre-terminal (VB*, MD) other than
  the predicate, where Charniak's AUX / AUXG tags (synt.cha tags the
  auxiliaries "be", "have", "do" so) count as verbs. "was eaten", "has been
  eaten" are passive; so is the perfect "has eaten" (a known error of the
  rule: AUX does not tell "be" from "have"); a reduced relative ("the book
  written by") is active.
- ``phrase_type``: the label of the candidate's constituent (the outermost
  node with exactly that span; the POS tag for a one-token pre-terminal);
- ``head_pos``: the POS of the candidate's head token, by `HEAD_RULES`, a
  small Collins-style table (NP: rightmost noun; VP: leftmost verb, MD or
  AUX; PP:
  leftmost IN/TO; S: leftmost VP; SBAR: leftmost IN/WH*; ADJP: leftmost
  adjective; ADVP: leftmost adverb; ...) applied recursively down to a
  pre-terminal; a label without a rule, or no matching child, takes the
  last child (so, ultimately, the last token);
- ``path``: labels from the candidate up to the lowest common ancestor and
  down to the predicate's pre-terminal, e.g. "NP↑S↓VP↓VBD";
- ``short_path``: the path cut after its first 4 steps (arrows), with "…"
  appended when cut;
- ``position``: "before" / "after" the predicate ("contains" for a span
  over the predicate, which a candidate never is);
- ``distance``: tokens strictly between the span and the predicate (0 for
  adjacent), bucketed "0", "1", "2", "3-4", "5-8", "9+";
- ``ne``: the label of a named entity containing the head token, else of the
  first named entity overlapping the span, else "O";
- ``lemma_path``: lemma + "|" + path;
- ``type_position_voice``: phrase type + "|" + position + "|" + voice;
- ``predicate_pos``: the predicate's POS tag;
- ``subcat``: the predicate's parent phrase and its children's labels, the
  predicate's own tag marked, e.g. "VP>VBD*+NP+PP" (Gildea & Jurafsky's
  sub-categorisation);
- ``first_pos`` / ``last_pos``: POS of the span's first / last token;
- ``before_pos`` / ``after_pos``: POS of the token just before / after the
  span ("<s>" / "</s>" at the sentence's ends);
- ``left_sister`` / ``right_sister``: label of the constituent's left /
  right sister ("-" where none);
- ``length``: the span's length in tokens, bucketed like distance;
- ``parent_type``: the label of the constituent's parent;
- ``lemma_type_position`` and ``voice_position_subcat``: conjunctions;
- ``head_lemma``: the props lemma of the candidate's head token when that
  token is itself a predicate (the only words the public layers have),
  else "-";
- ``partial_path``: the path from the candidate up to the lowest common
  ancestor only; ``common_ancestor``: that ancestor's label;
- ``position_distance`` and ``type_head_pos``: conjunctions.

With the `words` layer (`read_sentences(..., words=True)` on a full release)
two word templates follow (`WORD_TEMPLATES`): ``head_word``, the lower-cased
head token of the candidate, and ``predicate_word``, the lower-cased
predicate token; the model embeds them like every other feature (learned
word embeddings). A vocabulary fitted without them ignores them; one fitted
with them reads "<unk>" for sentences without words.

`FeatureVocabulary` maps values to integer ids per template (id 0 is
"<unk>" in each template), fitted on train with a minimum count, saved to
and loaded from JSON. `build_split` reads a split, takes the Xue & Palmer
candidates (`candidates.xue_palmer_candidates`) of each predicate and gives
their features, ids and gold roles.
"""

import collections
import json
import os
import pathlib

import numpy as np

from spen_keras.datasets.conll2005 import conll2005_layers as layers_io
from spen_keras.srl import candidates as cands

TEMPLATES = ("lemma", "sense", "voice", "phrase_type", "head_pos", "path",
             "short_path", "position", "distance", "ne", "lemma_path",
             "type_position_voice", "predicate_pos", "subcat", "first_pos",
             "last_pos", "before_pos", "after_pos", "left_sister",
             "right_sister", "length", "lemma_type_position",
             "voice_position_subcat", "parent_type", "head_lemma",
             "partial_path", "common_ancestor", "position_distance",
             "type_head_pos")
#: Word templates, added when the sentences carry the `words` layer (the
#: `full` config: a user's release with the LDC Penn Treebank words).
WORD_TEMPLATES = ("head_word", "predicate_word")
UNKNOWN = "<unk>"
NO_ROLE = "O"
UP, DOWN = "\u2191", "\u2193"
SHORT_PATH_STEPS = 4

_NOUNS = ("NN", "NNS", "NNP", "NNPS", "NX", "PRP", "POS")
# Label -> (direction, [preference lists, tried in order]); a preference is
# a tuple of labels or of prefixes ending in "*".
HEAD_RULES = {
    "NP": ("right", [_NOUNS, ("NP",), ("CD", "JJ*", "QP", "$", "PRP$")]),
    "NX": ("right", [_NOUNS, ("NX", "NP")]),
    "NAC": ("right", [_NOUNS, ("NP", "NAC")]),
    "WHNP": ("left", [("WDT", "WP", "WP$", "WHNP", "NN*")]),
    "VP": ("left", [("VB*", "MD", "AUX*", "TO"), ("VP",)]),
    "PP": ("left", [("IN", "TO"), ("VBG", "VBN", "RP")]),
    "WHPP": ("left", [("IN", "TO")]),
    "S": ("left", [("VP",), ("S", "SINV", "SQ"), ("ADJP", "NP")]),
    "SINV": ("left", [("VB*", "MD", "AUX*"), ("VP",), ("S",)]),
    "SQ": ("left", [("VB*", "MD", "AUX*"), ("VP",), ("SQ",)]),
    "SBAR": ("left", [("IN", "WH*"), ("S", "SQ", "SINV", "SBAR")]),
    "SBARQ": ("left", [("SQ", "S", "SINV", "SBARQ")]),
    "ADJP": ("left", [("JJ*",), ("ADJP",), ("VBN", "VBG", "RB*")]),
    "ADVP": ("left", [("RB*",), ("ADVP",)]),
    "WHADVP": ("left", [("WRB", "RB*")]),
    "QP": ("right", [("CD",), ("QP",)]),
    "PRT": ("left", [("RP",)]),
    "S1": ("left", [("S", "SINV", "SQ", "SBARQ", "NP", "FRAG")]),
}

_DISTANCE_BUCKETS = ((0, "0"), (1, "1"), (2, "2"), (4, "3-4"), (8, "5-8"))
_VERBS = ("VB*", "MD", "AUX*")


def _matches(label, patterns):
    return any(label.startswith(p[:-1]) if p.endswith("*") else label == p
               for p in patterns)


def head_token(tree, node):
    """The head token index of a node of a `candidates.ParseTree`, by
    `HEAD_RULES` (last child where no rule applies)."""
    while not tree.is_preterminal[node]:
        children = tree.children[node]
        direction, preferences = HEAD_RULES.get(
            tree.nodes[node].label, ("right", []))
        ordered = children if direction == "left" else children[::-1]
        chosen = None
        for preference in preferences:
            chosen = next((c for c in ordered
                           if _matches(tree.nodes[c].label, preference)),
                          None)
            if chosen is not None:
                break
        node = children[-1] if chosen is None else chosen
    return tree.nodes[node].start


def _ancestors(tree, node):
    """The node and its ancestors, bottom up."""
    chain = [node]
    while tree.nodes[chain[-1]].parent >= 0:
        chain.append(tree.nodes[chain[-1]].parent)
    return chain


def tree_path(tree, node, target):
    """The list of path steps from node up to the lowest common ancestor
    and down to target: labels joined by UP / DOWN arrows, as a list
    [label, arrow, label, arrow, ...]."""
    up = _ancestors(tree, node)
    down = _ancestors(tree, target)
    down_set = set(down)
    top = next(i for i, n in enumerate(up) if n in down_set)
    common = up[top]
    pieces = [tree.nodes[up[0]].label]
    for n in up[1:top + 1]:
        pieces += [UP, tree.nodes[n].label]
    below = down[:down.index(common)]
    for n in reversed(below):
        pieces += [DOWN, tree.nodes[n].label]
    return pieces


def is_passive(tree, pred_index):
    """The voice approximation of the module docstring."""
    leaf = tree.leaves[pred_index]
    if tree.nodes[leaf].label != "VBN":
        return False
    node = tree.nodes[leaf].parent
    while node >= 0 and tree.nodes[node].label == "VP":
        first = tree.children[node][0]
        if (first != leaf and tree.is_preterminal[first]
                and _matches(tree.nodes[first].label, _VERBS)):
            return True
        node = tree.nodes[node].parent
    return False


def distance_bucket(distance):
    for limit, name in _DISTANCE_BUCKETS:
        if distance <= limit:
            return name
    return "9+"


def span_nodes(tree):
    """(start, end) -> the outermost node with that span."""
    table = {}
    for index, node in enumerate(tree.nodes):  # pre-order: outer first
        table.setdefault((node.start, node.end), index)
    return table


class _Sentence:
    """What the features need of one sentence's layers, parsed once."""

    def __init__(self, tree, sentence_layers):
        self.tree = tree
        self.lemmas = [row[0] for row in sentence_layers["props"]]
        senses = sentence_layers.get("senses")
        self.senses = None if senses is None else [r[0] for r in senses]
        ne = sentence_layers.get("ne")
        self.entities = ([] if ne is None else
                         layers_io.parse_start_end([r[0] for r in ne],
                                                   "<ne>"))
        self.nodes = span_nodes(tree)
        words = sentence_layers.get("words")
        self.words = None if words is None else [r[0] for r in words]

    def subcat(self, pred_index):
        """The predicate's sub-categorisation frame (see the module doc)."""
        tree = self.tree
        leaf = tree.leaves[pred_index]
        parent = tree.nodes[leaf].parent
        if parent < 0:
            return tree.nodes[leaf].label + "*"
        labels = [tree.nodes[c].label + ("*" if c == leaf else "")
                  for c in tree.children[parent]]
        return tree.nodes[parent].label + ">" + "+".join(labels)

    def entity(self, head, start, end):
        for e_start, e_end, label in self.entities:
            if e_start <= head <= e_end:
                return label
        for e_start, e_end, label in self.entities:
            if e_start <= end and start <= e_end:
                return label
        return NO_ROLE


def _features(sentence, pred_index, span, voice):
    tree = sentence.tree
    start, end = span
    try:
        node = sentence.nodes[(start, end)]
    except KeyError:
        raise ValueError(f"span {span} is not a constituent of the tree")
    lemma = sentence.lemmas[pred_index]
    sense = "-" if sentence.senses is None else sentence.senses[pred_index]
    pieces = tree_path(tree, node, tree.leaves[pred_index])
    path = "".join(pieces)
    short = "".join(pieces[:2 * SHORT_PATH_STEPS + 1])
    if len(pieces) > 2 * SHORT_PATH_STEPS + 1:
        short += "\u2026"
    if end < pred_index:
        position, gap = "before", pred_index - end - 1
    elif start > pred_index:
        position, gap = "after", start - pred_index - 1
    else:
        position, gap = "contains", 0
    phrase = tree.nodes[node].label
    head = head_token(tree, node)
    pos = [tree.nodes[leaf].label for leaf in tree.leaves]
    parent = tree.nodes[node].parent
    siblings = tree.children[parent] if parent >= 0 else [node]
    where = siblings.index(node)
    left = tree.nodes[siblings[where - 1]].label if where > 0 else "-"
    right = (tree.nodes[siblings[where + 1]].label
             if where + 1 < len(siblings) else "-")
    subcat = sentence.subcat(pred_index)
    up_steps = 0
    while 2 * up_steps + 1 < len(pieces) and pieces[2 * up_steps + 1] == UP:
        up_steps += 1
    return {
        "lemma": lemma,
        "sense": sense,
        "voice": voice,
        "phrase_type": phrase,
        "head_pos": tree.nodes[tree.leaves[head]].label,
        "path": path,
        "short_path": short,
        "position": position,
        "distance": distance_bucket(gap),
        "ne": sentence.entity(head, start, end),
        "lemma_path": f"{lemma}|{path}",
        "type_position_voice": f"{phrase}|{position}|{voice}",
        "predicate_pos": pos[pred_index],
        "subcat": subcat,
        "first_pos": pos[start],
        "last_pos": pos[end],
        "before_pos": pos[start - 1] if start > 0 else "<s>",
        "after_pos": pos[end + 1] if end + 1 < len(pos) else "</s>",
        "left_sister": left,
        "right_sister": right,
        "length": distance_bucket(end - start + 1),
        "lemma_type_position": f"{lemma}|{phrase}|{position}",
        "voice_position_subcat": f"{voice}|{position}|{subcat}",
        "parent_type": (tree.nodes[parent].label if parent >= 0 else "-"),
        "head_lemma": sentence.lemmas[head],
        "partial_path": "".join(pieces[:2 * up_steps + 1]),
        "common_ancestor": pieces[2 * up_steps],
        "position_distance": f"{position}|{distance_bucket(gap)}",
        "type_head_pos": f"{phrase}|{tree.nodes[tree.leaves[head]].label}",
        **({} if sentence.words is None else {
            "head_word": sentence.words[head].lower(),
            "predicate_word": sentence.words[pred_index].lower()}),
    }


def _voice(tree, pred_index):
    return "passive" if is_passive(tree, pred_index) else "active"


def arc_features(tree, pred_index, span, sentence_layers):
    """The features of one arc: {template: value} for `TEMPLATES`.

    Args:
        tree: the sentence's `candidates.ParseTree`.
        pred_index: the predicate's token index.
        span: the candidate's (start, end), end inclusive; must be the span
            of a node of the tree.
        sentence_layers: the sentence's layers as `read_split` gives them:
            "props" rows (the lemma in column 0) and optionally "ne" and
            "senses" rows.

    Raises:
        ValueError: when span is no constituent of the tree.
    """
    return _features(_Sentence(tree, sentence_layers), pred_index,
                     tuple(span), _voice(tree, pred_index))


class FeatureVocabulary:
    """Per-template maps from feature values to ids (0 is "<unk>")."""

    FORMAT = "spen_keras.srl.arc_features.FeatureVocabulary"

    def __init__(self, values, templates=TEMPLATES, min_count=1):
        """values: per template, its known values in id order (from id 1);
        see `fit`."""
        self.templates = tuple(templates)
        self.min_count = int(min_count)
        self.values = {t: [UNKNOWN] + [v for v in values[t] if v != UNKNOWN]
                       for t in self.templates}
        self.ids = {t: {v: i for i, v in enumerate(vs)}
                    for t, vs in self.values.items()}

    @classmethod
    def fit(cls, feature_dicts, min_count=1, templates=TEMPLATES):
        """Values seen at least min_count times, most frequent first (ties
        by value)."""
        counts = {t: collections.Counter() for t in templates}
        for features in feature_dicts:
            for t in templates:
                counts[t][features.get(t, UNKNOWN)] += 1
        values = {t: [v for v, n in sorted(c.items(),
                                           key=lambda x: (-x[1], x[0]))
                      if n >= min_count]
                  for t, c in counts.items()}
        return cls(values, templates, min_count)

    @property
    def sizes(self):
        """Number of ids per template ("<unk>" included)."""
        return [len(self.values[t]) for t in self.templates]

    @property
    def offsets(self):
        """Where each template starts in one flat id space."""
        return np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(
            np.int64)

    def transform(self, feature_dicts, flat=False):
        """int32 array (num_arcs, num_templates) of ids; with flat, the
        template offsets are added (ids into one table of sum(sizes))."""
        feature_dicts = list(feature_dicts)
        out = np.zeros((len(feature_dicts), len(self.templates)), np.int32)
        for row, features in enumerate(feature_dicts):
            for col, t in enumerate(self.templates):
                out[row, col] = self.ids[t].get(features.get(t, UNKNOWN), 0)
        if flat:
            out += self.offsets.astype(np.int32)
        return out

    def to_json(self):
        return {"format": self.FORMAT, "version": 1,
                "templates": list(self.templates),
                "min_count": self.min_count,
                "values": {t: self.values[t][1:] for t in self.templates}}

    def save(self, path, overwrite=False):
        """Writes JSON to path; FileExistsError if it exists, unless
        overwrite."""
        path = pathlib.Path(path)
        text = json.dumps(self.to_json(), ensure_ascii=False, indent=1)
        mode = "w" if overwrite else "x"
        try:
            with open(path, mode, encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            raise FileExistsError(
                f"{path} exists; pass overwrite=True to replace it") from None
        return path

    @classmethod
    def load(cls, path):
        with open(os.fspath(path), encoding="utf-8") as handle:
            data = json.load(handle)
        if data.get("format") != cls.FORMAT:
            raise ValueError(f"{path}: not a saved {cls.__name__}")
        return cls(data["values"], data["templates"], data["min_count"])

    def __eq__(self, other):
        return (isinstance(other, FeatureVocabulary)
                and self.templates == other.templates
                and self.values == other.values
                and self.min_count == other.min_count)


PredicateArcs = collections.namedtuple(
    "PredicateArcs", ["key", "predicate", "spans", "features", "ids",
                      "roles"])
PredicateArcs.__doc__ = """The arcs of one predicate: sentence key,
predicate token, candidate spans (sorted), their feature dicts, their id
matrix (num_candidates, num_templates; None without a vocabulary) and
their gold roles ("O" where no gold argument piece has exactly the span)."""


def gold_roles(spans, props_spans):
    """Per candidate span, the label of the gold argument piece with exactly
    that span (C-X / R-X pieces keep their own labels; V and C-V are not
    arguments), else "O"; the first such piece where several share it."""
    gold = {}
    for start, end, label in props_spans:
        if label != "V" and not label.endswith("-V"):
            gold.setdefault((start, end), label)
    return [gold.get(tuple(span), NO_ROLE) for span in spans]


SentenceArcs = collections.namedtuple(
    "SentenceArcs", ["key", "lemmas", "predicates", "gold"])
SentenceArcs.__doc__ = """One sentence: its key, per-token predicate lemmas
("-" for other tokens), the `PredicateArcs` of its predicates in order, and
per predicate its gold spans (start, end inclusive, label) as `parse_props`
gives them (V included; empty lists where the props have no arguments)."""


def sentence_arcs(sentence, vocabulary=None, parse_layer="synt.cha",
                  **candidate_options):
    """The `SentenceArcs` of one sentence's layers as `read_split` gives
    them ("props", the parse layer, optionally "ne" and "senses")."""
    rows = sentence[parse_layer]
    path, first = (sentence["paths"][parse_layer],
                   sentence["lines"][parse_layer])
    tree = cands.ParseTree.from_conll(
        [row[1] for row in rows], [row[0] for row in rows],
        origin=lambda i, p=path, f=first: f"{p}:{f + i}")
    lemmas, predicates = layers_io.parse_props(
        sentence["props"], sentence["lines"]["props"],
        sentence["paths"]["props"])
    prepared = _Sentence(tree, sentence)
    arcs, gold = [], []
    for position, _, _, props_spans in predicates:
        spans = cands.xue_palmer_candidates(tree, position,
                                            **candidate_options)
        voice = _voice(tree, position)
        features = [_features(prepared, position, span, voice)
                    for span in spans]
        ids = (None if vocabulary is None else
               vocabulary.transform(features))
        arcs.append(PredicateArcs(
            sentence["key"], position, spans, features, ids,
            gold_roles(spans, props_spans)))
        gold.append(list(props_spans))
    return SentenceArcs(sentence["key"], list(lemmas), arcs, gold)


def _default_root():
    return pathlib.Path(layers_io.__file__).parent / "public"


def read_sentences(split="devel", vocabulary=None, root=None,
                   parse_layer="synt.cha", words=False, **candidate_options):
    """Yields the `SentenceArcs` of every sentence of a split (sentences
    without predicates included), in file order; arguments as
    `build_split`; with words=True the `words` layer is read too (a full
    release) and the word templates are filled."""
    if root is None:
        root = _default_root()
    layers = ["props", parse_layer, "ne"] + (["words"] if words else [])
    if split not in layers_io.SPLITS_WITHOUT_SENSES:
        layers.append("senses")
    for sentence in layers_io.read_split(root, split, layers):
        yield sentence_arcs(sentence, vocabulary, parse_layer,
                            **candidate_options)


def build_split(split="devel", vocabulary=None, root=None,
                parse_layer="synt.cha", **candidate_options):
    """The `PredicateArcs` of every predicate of a split, in file order,
    with Xue & Palmer candidates (`candidate_options` go to
    `candidates.xue_palmer_candidates`).

    Args:
        split: a `conll2005_layers.SPLITS` name (senses are read where the
            split has them).
        vocabulary: a `FeatureVocabulary` for the ids (None: ids are None).
        root: the release folder; the shipped public layers by default.
        parse_layer: "synt.cha" or "synt.col2".
    """
    return [arcs for sentence in read_sentences(
                split, vocabulary, root, parse_layer, **candidate_options)
            for arcs in sentence.predicates]
