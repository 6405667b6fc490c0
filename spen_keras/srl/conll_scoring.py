"""The official CoNLL-2005 SRL scoring rules and the props-format writer.

Scoring follows srl-eval.pl (its 2005/04/21 revision, srlconll package;
Carreras & Marquez), the program the release README names as the official
scorer ("For an argument to be correctly recognized, both the words
spanning the argument and its type have to be correct ... arguments
annotating the verb predicate (i.e., V args) will not be considered"). The
README says no more than that; the rules below are those of the script's
code (srl-eval.pl's `evaluate_proposition` / `precrecf1`, SRL::prop
`load_SE_tagging` / `discriminate_args`, SRL::phrase_set
`load_SE_tagging` / `phrases`), reproduced here:

1. Phrases. Every span of one predicate's column is a phrase, nested
   spans included; of several spans with the same start and end only the
   last one written (the innermost) is kept. Phrases are taken by start,
   then end descending. (The release's columns have no nested spans; the
   script's quirks with nesting, rule 4, are reproduced, not endorsed.)
2. Continuations. Phrases are taken in that order. A phrase
   labelled C-X is joined to the most recent argument labelled X of the
   same predicate (before it): the argument X becomes one discontinuous
   argument whose pieces are the X phrase and all its C-X phrases. A C-X
   phrase with no X before it becomes an ordinary argument labelled X
   (the script warns "turned into regular X argument"). Any prefix works
   this way, e.g. C-R-A1 continues R-A1 and C-V continues V.
3. Reference arguments R-X are ordinary arguments with their own label
   "R-X" (no special treatment; they are not joined to X).
4. Matching. Each gold argument is keyed by its start and end (the first
   and last word it covers, pieces included; a later one with the same key
   replaces an earlier one). A predicted argument is correct when the gold
   argument with its key has the same label X and, if either has several
   pieces, both have exactly the same pieces: a discontinuous argument is
   correct only when all its pieces are, and a single phrase never matches
   a discontinuous argument (nor the reverse), even over the same words.
   Each gold argument is matched at most once. (In the script a phrase
   with spans nested in it has those as its "pieces"; so here too.)
5. Counting. Arguments labelled V (the predicate, including one joined
   with C-V) are left out of every count. correct = matched predicted
   arguments, predicted ("corr." + "excess" in the script) = all predicted
   arguments, gold ("corr." + "missed") = all gold arguments (keyed as in
   rule 4), summed over all predicates of all sentences (micro average).
6. Measures, in percent as the script prints them:
   precision = 100 correct / predicted (0 when nothing is predicted),
   recall = 100 correct / gold (0 when there is no gold argument),
   F1 = 2 P R / (P + R) (0 when P + R = 0). Per-label scores group
   arguments by their (joined) label X, as the script's per-type rows.

The script's handling of a predicted proposition missing from the file
("Counting all arguments as missed") corresponds here to an empty argument
set; `score` itself requires gold and predicted to have the same sentences
and predicates (the script requires the same too).

The writer produces the props format of the release (as in
devel/props/devel.24.props.gz): per token the predicate lemma (or "-")
left-justified in 15 characters, then one Start-End column per predicate
in sentence order, each tag placed so that its "*" falls on character
24 + 16 k of the line (k = column index; a tag that would touch the text
before it is shifted right to leave one space) and the line padded with
spaces to 15 + 16 (k + 1) characters after column k; a blank line after
each sentence. This reproduces the WSJ files of the release (train, devel,
test.wsj) byte for byte; test.brown was written by another tool that
aligns each sentence's columns to their widest tag. srl-eval.pl splits
lines on whitespace, so the spacing never affects the score.
"""

import collections
import gzip
import io
import re
import typing

from spen_keras.datasets.conll2005 import conll2005_layers

__all__ = [
    "SrlScore",
    "arguments",
    "format_props",
    "props_text",
    "read_props",
    "score",
    "score_props_files",
    "spans_to_tags",
    "write_props",
]

EXCLUDED_LABELS = frozenset({"V"})
CONTINUATION_PREFIX = "C-"
LEMMA_WIDTH = 15
COLUMN_WIDTH = 16
FIRST_STAR = 24  # character position of column 0's "*"
_FORBIDDEN = frozenset("()* \t\n\r\f\v")
_OPEN = re.compile(r"\(([^()*]+)")


class SrlScore(typing.NamedTuple):
    """Counts and measures (percent) of `score`; per_label maps each label
    to its own SrlScore (with an empty per_label), or is empty."""

    correct: int
    predicted: int
    gold: int
    precision: float
    recall: float
    f1: float
    per_label: dict


def _measures(correct, predicted, gold):
    precision = 100.0 * correct / predicted if predicted > 0 else 0.0
    recall = 100.0 * correct / gold if gold > 0 else 0.0
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall > 0 else 0.0)
    return precision, recall, f1


def _make_score(correct, predicted, gold, per_label):
    return SrlScore(correct, predicted, gold,
                    *_measures(correct, predicted, gold), per_label)


def _ordered(spans):
    """Spans as a list sorted by start, then end descending (outer first);
    ties keep the given order."""
    spans = [tuple(span) for span in spans]
    for span in spans:
        if len(span) != 3:
            raise ValueError(f"a span is (start, end, label), got {span!r}")
    return sorted(spans, key=lambda span: (span[0], -span[1]))


def _normalise(spans):
    """Ordered spans; a set or frozenset is first sorted (deterministic)."""
    if isinstance(spans, (set, frozenset)):
        spans = sorted(spans, key=lambda span: (span[0], -span[1], span[2]))
    return _ordered(spans)


def _check_nesting(spans, length=None):
    """Raises ValueError unless the ordered spans form a bracketing."""
    stack = []
    for start, end, label in spans:
        if not (hasattr(start, "__index__") and hasattr(end, "__index__")):
            raise ValueError(f"span ({start!r}, {end!r}, {label!r}): start "
                             "and end must be integers")
        if start < 0 or end < start or (length is not None and end >= length):
            raise ValueError(
                f"span ({start}, {end}, {label!r}) is not within 0 <= start "
                f"<= end < {length if length is not None else 'length'}")
        if not label or _FORBIDDEN.intersection(str(label)):
            raise ValueError(f"label {label!r} is empty or contains one of "
                             "'(', ')', '*' or whitespace")
        while stack and stack[-1][1] < start:
            stack.pop()
        if stack and end > stack[-1][1]:
            raise ValueError(
                f"spans {stack[-1]} and {(start, end, label)} cross; the "
                "Start-End format (and srl-eval.pl) needs nested or disjoint "
                "spans")
        stack.append((start, end, label))


class _Phrase:
    """A phrase / argument of srl-eval.pl (SRL::phrase, SRL::arg): mutable,
    shared between its parent's pieces and the argument list, as there."""

    __slots__ = ("start", "end", "label", "pieces")

    def __init__(self, start, end, label):
        self.start, self.end, self.label, self.pieces = start, end, label, []

    def dfs(self):
        yield self
        for piece in self.pieces:
            yield from piece.dfs()


def _phrases(tags):
    """SRL::phrase_set->load_SE_tagging then ->phrases: every phrase (nested
    ones too), one per (start, end) (the last one stored wins), ordered by
    start, then end descending."""
    stack, table = [], {}
    for index, tag in enumerate(tags):
        star = tag.index("*")
        for label in _OPEN.findall(tag[:star]):
            stack.append(_Phrase(index, None, label))
        for _ in range(tag.count(")", star)):
            phrase = stack.pop()
            phrase.end = index
            if stack:
                stack[-1].pieces.append(phrase)
            else:
                for each in phrase.dfs():
                    table[(each.start, each.end)] = each
    return [table[key] for key in sorted(table,
                                         key=lambda k: (k[0], -k[1]))]


def _arguments(spans):
    """SRL::prop->load_SE_tagging of the column `spans` would be written as:
    the argument objects (rules 1-3)."""
    ordered = _normalise(spans)
    _check_nesting(ordered)
    length = max((end for _, end, _ in ordered), default=-1) + 1
    args, latest = [], {}
    for phrase in _phrases(spans_to_tags(ordered, length)):
        if phrase.label.startswith(CONTINUATION_PREFIX):
            base = phrase.label[len(CONTINUATION_PREFIX):]
            head = latest.get(base)
            if head is not None:
                if not head.pieces:
                    head.pieces.append(_Phrase(head.start, head.end, base))
                head.pieces.append(phrase)
                head.end = phrase.end
                continue
            phrase.label = base
        args.append(phrase)
        latest[phrase.label] = phrase
    return args


def arguments(spans):
    """The arguments srl-eval.pl reads from one predicate's spans.

    Args:
        spans: iterable of (start, end inclusive, label), V included or not.

    Returns:
        list of (label, pieces) in the script's order, pieces a tuple of
        (start, end): one piece for an ordinary argument, the X phrase and
        its C-X phrases for a discontinuous one (rules 1-3 of the module
        docstring; labels never start with "C-"). V is kept (the counts
        leave it out).

    Raises:
        ValueError: on crossing spans, a bad span or label.
    """
    return [(arg.label, tuple((piece.start, piece.end)
                              for piece in arg.pieces)
             or ((arg.start, arg.end),))
            for arg in _arguments(spans)]


def _discriminate(gold_args, pred_args):
    """SRL::prop->discriminate_args: (ok, missed, over-predicted)."""
    table = {}
    for arg in gold_args:
        table[(arg.start, arg.end)] = arg
    ok, excess = [], []
    for arg in pred_args:
        key = (arg.start, arg.end)
        gold = table.get(key)
        if gold is None or bool(gold.pieces) != bool(arg.pieces):
            excess.append(arg)
            continue
        same = gold.label == arg.label
        if same and gold.pieces:
            left = {(piece.start, piece.end) for piece in gold.pieces}
            for piece in arg.pieces:
                if (piece.start, piece.end) not in left:
                    same = False
                    break
                left.discard((piece.start, piece.end))
            same = same and not left
        if same:
            ok.append(arg)
            del table[key]
        else:
            excess.append(arg)
    return ok, list(table.values()), excess


def score(gold, predicted, per_label=False):
    """CoNLL-2005 (srl-eval.pl) micro precision / recall / F1.

    Args:
        gold, predicted: lists (sentences) of lists (predicates, in the same
            order in both) of iterables of (start, end inclusive, label)
            spans, e.g. the spans `conll2005_layers.parse_props` gives
            (V spans may be present; they are not counted).
        per_label: also score each (joined) label separately.

    Returns:
        SrlScore(correct, predicted, gold, precision, recall, f1,
        per_label), measures in percent; rules in the module docstring.

    Raises:
        ValueError: when the sentences or predicates of gold and predicted
            differ in number, or on crossing spans or a malformed span.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} "
                         "predicted")
    totals = collections.Counter()
    labels = collections.defaultdict(collections.Counter)
    for index, (gold_props, pred_props) in enumerate(zip(gold, predicted)):
        if len(gold_props) != len(pred_props):
            raise ValueError(
                f"sentence {index}: {len(gold_props)} gold predicates but "
                f"{len(pred_props)} predicted")
        for gold_spans, pred_spans in zip(gold_props, pred_props):
            ok, missed, excess = _discriminate(_arguments(gold_spans),
                                               _arguments(pred_spans))
            for group, counts in ((ok, ("correct", "predicted", "gold")),
                                  (missed, ("gold",)),
                                  (excess, ("predicted",))):
                for arg in group:
                    if arg.label in EXCLUDED_LABELS:
                        continue
                    for name in counts:
                        totals[name] += 1
                        labels[arg.label][name] += 1
    by_label = {}
    if per_label:
        by_label = {label: _make_score(counts["correct"],
                                       counts["predicted"], counts["gold"],
                                       {})
                    for label, counts in sorted(labels.items())}
    return _make_score(totals["correct"], totals["predicted"],
                       totals["gold"], by_label)


def spans_to_tags(spans, length):
    """One predicate's Start-End tags ("(A0*", "*", "*)", "(V*)", ...).

    Spans are ordered by start, then end descending (outer first; equal
    spans keep their order), as `conll2005_layers.parse_start_end` returns
    them, so that parsing the tags gives the ordered spans back.

    Raises:
        ValueError: on crossing spans, a span outside [0, length), or a
            label that is empty or holds '(', ')', '*' or whitespace.
    """
    ordered = _normalise(spans)
    _check_nesting(ordered, length)
    opens = [[] for _ in range(length)]
    closes = [0] * length
    for start, end, label in ordered:
        opens[start].append(f"({label}")
        closes[end] += 1
    return ["".join(opens[i]) + "*" + ")" * closes[i] for i in range(length)]


def _format_line(lemma, tags):
    line = lemma.ljust(LEMMA_WIDTH)
    for k, tag in enumerate(tags):
        star = tag.index("*")
        left, right = tag[:star + 1], tag[star + 1:]
        position = FIRST_STAR + COLUMN_WIDTH * k
        begin = max(position - len(left) + 1, len(line) + 1)
        line = line.ljust(begin) + left + right
        line = line.ljust(LEMMA_WIDTH + COLUMN_WIDTH * (k + 1))
    return line


def format_props(lemmas, predicates, add_verb=True):
    """One sentence in the release's props format (lines + blank line).

    Args:
        lemmas: per token the predicate lemma, "-" for other tokens; the
            predicates are the tokens whose lemma is not "-", in order.
        predicates: per predicate (same order) its spans (start, end
            inclusive, label).
        add_verb: give a predicate column with no V span a (V*) on the
            predicate's token (srl-eval.pl ignores V; the release has it).

    Returns:
        the sentence's text: one line per token, then an empty line.

    Raises:
        ValueError: when the number of predicates differs from the number
            of lemmas other than "-", or on a bad span / label / lemma.
    """
    lemmas = [str(lemma) for lemma in lemmas]
    for lemma in lemmas:
        if not lemma or any(ch.isspace() for ch in lemma):
            raise ValueError(f"lemma {lemma!r} is empty or has whitespace")
    positions = [i for i, lemma in enumerate(lemmas) if lemma != "-"]
    if len(positions) != len(predicates):
        raise ValueError(f"{len(positions)} predicate lemmas but "
                         f"{len(predicates)} predicates")
    columns = []
    for position, spans in zip(positions, predicates):
        spans = list(_normalise(spans))
        if add_verb and not any(label == "V" for _, _, label in spans):
            spans.append((position, position, "V"))
        columns.append(spans_to_tags(spans, len(lemmas)))
    lines = [_format_line(lemma, [column[i] for column in columns])
             for i, lemma in enumerate(lemmas)]
    return "".join(line + "\n" for line in lines) + "\n"


def write_props(path_or_file, sentences, add_verb=True):
    """Writes sentences in the props format (gzip when path ends in .gz).

    Args:
        path_or_file: a path, or a text file object to write to.
        sentences: iterable of (lemmas, predicates) as `format_props` takes.
        add_verb: as in `format_props`.

    The file can be given to srl-eval.pl with the gold props file of the
    same split: srl-eval.pl gold.props predicted.props.
    """
    if hasattr(path_or_file, "write"):
        for lemmas, predicates in sentences:
            path_or_file.write(format_props(lemmas, predicates, add_verb))
        return
    path = str(path_or_file)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="\n") as stream:
        write_props(stream, sentences, add_verb)


def read_props(path):
    """Yields (lemmas, [spans per predicate]) per sentence of a gzipped props
    file, through the dataset reader (`conll2005_layers`)."""
    for first, rows in conll2005_layers.read_layer(path):
        lemmas, predicates = conll2005_layers.parse_props(rows, first, path)
        yield lemmas, [spans for _, _, _, spans in predicates]


def score_props_files(gold_path, predicted_path, per_label=False):
    """`score` of two gzipped props files, sentence by sentence.

    Raises:
        ValueError: when the files differ in sentences, sentence lengths or
            predicate positions (srl-eval.pl needs them equal).
    """
    gold, predicted = [], []
    gold_reader, pred_reader = read_props(gold_path), read_props(
        predicted_path)
    for index, (g, p) in enumerate(_zip_strict(gold_reader, pred_reader)):
        if g is None or p is None:
            raise ValueError(f"{gold_path} and {predicted_path} differ in "
                             f"number of sentences (after {index})")
        gold_positions = [i for i, lemma in enumerate(g[0]) if lemma != "-"]
        pred_positions = [i for i, lemma in enumerate(p[0]) if lemma != "-"]
        if len(g[0]) != len(p[0]) or gold_positions != pred_positions:
            raise ValueError(f"sentence {index}: tokens or predicate "
                             f"positions differ between {gold_path} and "
                             f"{predicted_path}")
        gold.append(g[1])
        predicted.append(p[1])
    return score(gold, predicted, per_label)


def _zip_strict(first, second):
    sentinel = object()
    first, second = iter(first), iter(second)
    while True:
        a, b = next(first, sentinel), next(second, sentinel)
        if a is sentinel and b is sentinel:
            return
        yield (None if a is sentinel else a), (None if b is sentinel else b)


def props_text(sentences, add_verb=True):
    """The props text of `sentences` (as `write_props` writes it)."""
    stream = io.StringIO()
    write_props(stream, sentences, add_verb)
    return stream.getvalue()
