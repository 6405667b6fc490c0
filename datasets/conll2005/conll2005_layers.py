"""Reading the CoNLL-2005 shared task release's column layers (plain Python).

The release (Carreras & Marquez 2005) keeps each annotation layer of a split
in its own folder, one gzipped file per WSJ section::

    train/props/train.02.props.gz ... train.21.props.gz
    devel/props/devel.24.props.gz
    test.wsj/props/test.wsj.props.gz      test.brown/props/test.brown.props.gz

Every file has one line per token (whitespace-separated columns) and a blank
line after each sentence, so the layers of a split align line by line.

Columns per layer:
    props      predicate lemma ("-" on other tokens), then one Start-End
               argument column per predicate, in sentence order.
    synt.cha   POS tag and full parse predicted by Charniak's parser.
    synt.col2  POS tag and full parse predicted by Collins' parser.
    ne         named entities (Start-End).
    senses     VerbNet sense of the predicates ("-" elsewhere); train and
               devel only.
    words      the words; not part of the public release (Penn Treebank
               text, LDC licence), built by users (see README.md).

This module is the one reader of these files; the TFDS builder and the tests
go through it. Errors about the data are `Conll2005DataError`, one line
naming the file (and line).
"""

import gzip
import re
import zlib

from spen_keras.datasets import epath

# TFDS split name -> (release folder, section suffixes of its files).
SPLITS = {
    "train": ("train", tuple(f"{n:02d}" for n in range(2, 22))),
    "devel": ("devel", ("24",)),
    "test_wsj": ("test.wsj", (None,)),
    "test_brown": ("test.brown", (None,)),
}
# Layer -> number of columns per token line (None: props, 1 + predicates).
LAYER_COLUMNS = {"props": None, "synt.cha": 2, "synt.col2": 2, "ne": 1,
                 "senses": 1, "words": 1}
PUBLIC_LAYERS = ("props", "synt.cha", "synt.col2", "ne", "senses")
# Splits whose release has no senses layer (hand-made; not given for tests).
SPLITS_WITHOUT_SENSES = ("test_wsj", "test_brown")

WORDS_HOWTO = (
    "build it from the LDC Penn Treebank II (WSJ) with the srlconll scripts, "
    "as the release README says, e.g. for section 02: zcat WSJ/02/* | "
    "wsj-removetraces.pl | wsj-to-se.pl -w 1 | awk '{print $1}' | gzip > "
    "train/words/train.02.words.gz (test.brown words come with the LDC "
    "CoNLL-2005 collection)")

_TAG = re.compile(r"^((?:\([^()*\s]+)*)\*(\)*)$")
_OPEN = re.compile(r"\(([^()*\s]+)")


class Conll2005DataError(ValueError):
    """Raised for a CoNLL-2005 file that cannot be read or is malformed."""


def layer_path(root, split, layer, section):
    """The path of one layer file, e.g. root/train/props/train.02.props.gz."""
    folder, _ = SPLITS[split]
    stem = folder if section is None else f"{folder}.{section}"
    return epath.Path(root) / folder / layer / f"{stem}.{layer}.gz"


def layer_paths(root, split, layer):
    """The paths of a layer's files for `split`, in section order."""
    return [layer_path(root, split, layer, section)
            for section in SPLITS[split][1]]


def read_layer(path):
    """Yields (line number of the first token, [columns per token]) per
    sentence of the gzipped layer file `path`.

    A missing final blank line is tolerated.

    Raises:
        Conll2005DataError: when the file is not readable gzip text.
    """
    path = epath.Path(path)
    rows, first = [], None
    number = 0
    try:
        with path.open("rb") as raw, gzip.open(raw, "rt",
                                               encoding="utf-8") as text:
            for number, line in enumerate(text, start=1):
                columns = line.split()
                if columns:
                    if not rows:
                        first = number
                    rows.append(columns)
                elif rows:
                    yield first, rows
                    rows = []
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise Conll2005DataError(
            f"{path}: not a readable gzipped CoNLL-2005 layer (after line "
            f"{number}): {type(error).__name__}: {error}") from None
    if rows:
        yield first, rows


def parse_start_end(tags, origin="<column>"):
    """Spans of a Start-End column: [(start, end, label)], end inclusive.

    Spans are ordered by start, then by end descending (outer first).

    Raises:
        Conll2005DataError: on a malformed tag or unbalanced brackets;
            `origin(i)` (a callable) or `origin` (a string) names the place.
    """
    where = origin if callable(origin) else (lambda i: f"{origin} token {i}")
    spans, stack = [], []
    for i, tag in enumerate(tags):
        match = _TAG.match(tag)
        if match is None:
            raise Conll2005DataError(
                f"{where(i)}: malformed Start-End tag {tag!r}")
        for label in _OPEN.findall(match.group(1)):
            stack.append((i, label, len(spans)))
            spans.append(None)
        for _ in match.group(2):
            if not stack:
                raise Conll2005DataError(
                    f"{where(i)}: ')' closes no open phrase in {tag!r}")
            start, label, slot = stack.pop()
            spans[slot] = (start, i, label)
    if stack:
        start, label, _ = stack[-1]
        raise Conll2005DataError(
            f"{where(start)}: phrase ({label} is never closed")
    return spans


def read_split(root, split, layers):
    """Yields one dict per sentence of `split`, reading `layers` under root.

    Each dict: "key" (e.g. "train.02/00007"), "section", per layer the
    list of its token rows (lists of columns), and "paths" / "lines": per
    layer its file and the line of the sentence's first token there. The layers are checked to
    have the same sentences and tokens, and the column counts.

    Raises:
        Conll2005DataError: on a malformed or misaligned file (one line
            naming the file and line).
    """
    folder, sections = SPLITS[split]
    for section in sections:
        paths = {layer: layer_path(root, split, layer, section)
                 for layer in layers}
        readers = {layer: read_layer(path) for layer, path in paths.items()}
        name = folder if section is None else f"{folder}.{section}"
        index = 0
        while True:
            got = {layer: next(reader, None)
                   for layer, reader in readers.items()}
            ended = [layer for layer, value in got.items() if value is None]
            if ended:
                if len(ended) != len(got):
                    short, other = ended[0], next(
                        layer for layer in got if layer not in ended)
                    raise Conll2005DataError(
                        f"{paths[short]}: ends after {index} sentences but "
                        f"{paths[other]} has more (line {got[other][0]})")
                break
            reference = layers[0]
            length = len(got[reference][1])
            sentence = {"key": f"{name}/{index:05d}", "section": name,
                        "paths": paths,
                        "lines": {layer: value[0]
                                  for layer, value in got.items()}}
            for layer, (first, rows) in got.items():
                if len(rows) != length:
                    raise Conll2005DataError(
                        f"{paths[layer]}:{first}: sentence {index} has "
                        f"{len(rows)} tokens but {len(rows) and length} in "
                        f"{paths[reference]} (line {got[reference][0]})")
                _check_columns(layer, rows, first, paths[layer])
                sentence[layer] = rows
            yield sentence
            index += 1


def _check_columns(layer, rows, first, path):
    expected = LAYER_COLUMNS.get(layer)
    if expected is None:
        expected = len(rows[0])
    for offset, row in enumerate(rows):
        if len(row) != expected:
            raise Conll2005DataError(
                f"{path}:{first + offset}: {len(row)} columns, expected "
                f"{expected} (as on line {first} of this sentence)")


def parse_props(rows, first, path):
    """Predicates of a sentence's props rows.

    Returns:
        (lemmas per token, [(token index, lemma, argument column tags,
        spans)] per predicate, in column order).

    Raises:
        Conll2005DataError: when the number of predicate lemmas differs from
            the number of argument columns, a column has no single (V*) on
            its predicate, or a tag is malformed; names file and line.
    """
    lemmas = [row[0] for row in rows]
    positions = [i for i, lemma in enumerate(lemmas) if lemma != "-"]
    count = len(rows[0]) - 1
    if len(positions) != count:
        raise Conll2005DataError(
            f"{path}:{first}: {len(positions)} predicate lemmas but {count} "
            "argument columns in this sentence")
    predicates = []
    for column, position in enumerate(positions, start=1):
        tags = [row[column] for row in rows]
        spans = parse_start_end(
            tags, lambda i, c=column: f"{path}:{first + i}: column {c + 1}")
        predicates.append((position, lemmas[position], tags, spans))
    return lemmas, predicates
