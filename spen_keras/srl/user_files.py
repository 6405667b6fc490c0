"""Reading a user's CoNLL-format file and labelling it with a preset.

The input is the CoNLL-2005 column format, one token per line and a blank
line after each sentence (gzip when the name ends in .gz), with at least
five whitespace-separated columns:

    WORD  POS  PARSE  NE  LEMMA  [ARG_1 ... ARG_n]

- WORD: the token (read only by presets trained with words, see
  `spen-keras train --data-dir`; "-" is fine for the shipped presets);
- POS and PARSE: the POS tag and the Charniak-style parse bit, as in the
  release's synt.cha layer ("(S1(S(NP*", "*", "*))");
- NE: the named-entity Start-End tag as in the ne layer ("(PER*", "*", "*)");
- LEMMA: the predicate's lemma on a target verb, "-" elsewhere;
- ARG_1..ARG_n (optional): gold Start-End argument columns of the n
  predicates, as in the props layer. When present the predictions are
  scored against them with the official rules.

`label_file` writes the predictions in the props format (lemma column, one
argument column per predicate), which srl-eval.pl reads beside a gold props
file.
"""

import gzip
import pathlib

from spen_keras.datasets.conll2005.conll2005_layers import Conll2005DataError
from spen_keras.presets.family import check_preset_family
from spen_keras.srl import conll_scoring
from spen_keras.srl.arc_features import sentence_arcs
from spen_keras.presets.user_files import check_output_file
from spen_keras.presets.user_files import write_atomically

MIN_COLUMNS = 5


class SrlInputError(ValueError):
    """A user's SRL input or output file is unusable (one line, names the
    file)."""


def open_text(path):
    """A CoNLL text file for reading (gzip when its name ends in .gz)."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _blocks(path):
    """(first line number, rows) per sentence."""
    rows, first = [], None
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields:
                    if rows:
                        yield first, rows
                    rows, first = [], None
                    continue
                if first is None:
                    first = number
                rows.append((number, fields))
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise SrlInputError(f"{path}: cannot be read as CoNLL text "
                            f"({type(error).__name__}: {error})") from None
    if rows:
        yield first, rows


def read_conll_file(path):
    """The sentences of a user's file as `arc_features.SentenceArcs`
    (without feature ids), and whether it carries gold argument columns.

    Raises:
        SrlInputError: missing file, too few or uneven columns, a malformed
            tag or tree (naming the file and line).
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise SrlInputError(f"{path}: no such file")
    if path.is_dir():
        raise SrlInputError(f"{path} is a directory, not a CoNLL file")
    sentences, has_gold = [], None
    for index, (first, rows) in enumerate(_blocks(path)):
        widths = {len(fields) for _, fields in rows}
        if len(widths) != 1:
            line = next(n for n, f in rows if len(f) != len(rows[0][1]))
            raise SrlInputError(f"{path}:{line}: this sentence's lines have "
                                f"different numbers of columns {sorted(widths)}")
        width = widths.pop()
        if width < MIN_COLUMNS:
            raise SrlInputError(
                f"{path}:{first}: {width} columns; expected at least "
                f"{MIN_COLUMNS}: WORD POS PARSE NE LEMMA [ARGS...]")
        lemmas = [fields[4] for _, fields in rows]
        predicates = [i for i, lemma in enumerate(lemmas) if lemma != "-"]
        gold_columns = width - MIN_COLUMNS
        if gold_columns and gold_columns != len(predicates):
            raise SrlInputError(
                f"{path}:{first}: {len(predicates)} predicate lemmas but "
                f"{gold_columns} argument columns")
        if predicates:
            if has_gold is None:
                has_gold = bool(gold_columns)
            elif has_gold != bool(gold_columns):
                raise SrlInputError(
                    f"{path}:{first}: {len(predicates)} predicate lemmas and "
                    f"{gold_columns} argument columns, but earlier sentences "
                    f"{'have' if has_gold else 'have no'} argument columns; "
                    "give them on every sentence or on none")
        if gold_columns:
            props = [[fields[4]] + fields[5:] for _, fields in rows]
        else:
            props = [[lemma] + ["(V*)" if i == p else "*"
                                for p in predicates]
                     for i, lemma in enumerate(lemmas)]
        layers = {"key": f"{path.name}/{index:05d}", "props": props,
                  "synt.cha": [[f[1], f[2]] for _, f in rows],
                  "ne": [[f[3]] for _, f in rows],
                  "words": [[f[0]] for _, f in rows],
                  "paths": dict.fromkeys(("props", "synt.cha", "ne"),
                                         str(path)),
                  "lines": dict.fromkeys(("props", "synt.cha", "ne"), first)}
        try:
            sentences.append(sentence_arcs(layers))
        except (Conll2005DataError, ValueError) as error:
            raise SrlInputError(str(error).splitlines()[0]) from None
    if not sentences:
        raise SrlInputError(f"{path}: no sentences")
    return sentences, bool(has_gold)


def release_column_lines(split, root=None, limit=None):
    """The lines of a CoNLL-2005 release split in the column format this
    module reads (with the gold argument columns): for training on column
    files (`spen-keras train --data-dir` on a folder of them) or checking
    `srl-label`.

    Args:
        split: a release split ("train", "devel", "test_wsj", ...).
        root: the release folder (default: the public layers shipped with
            spen-keras, whose WORD column is then "-": they hold no words).
        limit: at most this many sentences (None: all).

    Yields:
        One line per token, an empty line after each sentence.
    """
    import itertools

    from spen_keras.datasets.conll2005 import conll2005_layers as layers_io
    from spen_keras.srl.arc_features import _default_root

    root = _default_root() if root is None else pathlib.Path(root)
    words = all(path.is_file() for path in
                layers_io.layer_paths(root, split, "words"))
    layers = ["props", "synt.cha", "ne"] + (["words"] if words else [])
    for sentence in itertools.islice(layers_io.read_split(root, split,
                                                          layers), limit):
        tokens = ([row[0] for row in sentence["words"]] if words
                  else ["-"] * len(sentence["props"]))
        for word, props, syntax, ne in zip(tokens, sentence["props"],
                                           sentence["synt.cha"],
                                           sentence["ne"]):
            yield " ".join([word, syntax[0], syntax[1], ne[0], props[0],
                            *props[1:]])
        yield ""


def write_release_column_file(split, output, root=None, limit=None,
                              overwrite=False):
    """Writes `release_column_lines(split, root, limit)` to `output` (gzip
    when it ends in .gz), completely or not at all; an existing file only
    with `overwrite`."""
    output = check_output_path(output, None, overwrite)

    def write(temporary):
        with (gzip.open(temporary, "wt", encoding="utf-8")
              if str(output).endswith(".gz")
              else open(temporary, "w", encoding="utf-8")) as handle:
            for line in release_column_lines(split, root, limit):
                handle.write(line + "\n")

    write_atomically(output, write, error=SrlInputError)
    return output


def check_output_path(output, input_path, overwrite=False):
    """Refuses an output that is the input, a directory, in a missing or
    read-only folder, or (without overwrite) an existing file
    (`spen_keras.presets.user_files.check_output_file`).

    Returns:
        The output as a `pathlib.Path`.
    """
    return check_output_file(output, input_path, overwrite,
                             error=SrlInputError)


def label_file(input_path, output_path, preset="srl_spen_lp", decoder=None,
               overwrite=False):
    """Labels a user's CoNLL file with a preset; writes props to output.

    The preset's family and the output are checked before the model
    loads; the output is written atomically.

    Returns:
        (number of sentences, number of predicates, `SrlScore` or None when
        the file has no gold columns).

    Raises:
        SrlInputError: for a preset of another family, an unusable input
            or output file (one line naming it).
    """
    from spen_keras.srl.srl_labeler import SrlLabeler

    check_preset_family(preset, "srl", "semantic role labelling",
                        SrlInputError)
    output = check_output_path(output_path, input_path, overwrite)
    sentences, has_gold = read_conll_file(input_path)
    labeler = SrlLabeler.from_preset(preset)
    prepared = labeler.prepare(sentences)
    predicted = labeler.label(prepared, decoder=decoder)
    text = conll_scoring.props_text(
        [(s.lemmas, spans) for s, spans in zip(sentences, predicted)])
    data = text.encode("utf-8")
    if output.name.endswith(".gz"):
        data = gzip.compress(data)
    write_atomically(output, lambda temporary: pathlib.Path(
        temporary).write_bytes(data), error=SrlInputError)
    score = (conll_scoring.score([s.gold for s in sentences], predicted)
             if has_gold else None)
    return len(sentences), sum(len(s.predicates) for s in sentences), score
