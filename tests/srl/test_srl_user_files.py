"""Reading a user's CoNLL file (`read_conll_file`) and checking an output
path (`check_output_path`): sentences, predicates and gold spans read, and
one-line `SrlInputError`s naming the file (and line) for unusable input."""

import gzip

import pytest

from spen_keras.srl.user_files import (
    MIN_COLUMNS,
    SrlInputError,
    check_output_path,
    read_conll_file,
)

# WORD POS PARSE NE LEMMA [ARG]
WORDS = ("The", "ate", "fish")
POS = ("NN", "VBD", "NN")
PARSE = ("(S1(S(NP*)", "(VP*", "(NP*))))")
LEMMAS = ("-", "eat", "-")
GOLD = ("(A0*)", "(V*)", "(A1*)")


def sentence(gold=True, parse=PARSE, extra=()):
    rows = []
    for i in range(3):
        fields = [WORDS[i], POS[i], parse[i], "*", LEMMAS[i]]
        if gold:
            fields.append(GOLD[i])
        fields.extend(e[i] for e in extra)
        rows.append(" ".join(fields))
    return "\n".join(rows) + "\n"


# A sentence without a predicate (lemma "-" everywhere), 5 columns.
NO_PREDICATE = "Dogs NNS (S1(S(NP*) * -\nbark VBP (VP*))) * -\n"


def write(tmp_path, text, name="input.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(path, match, *args):
    with pytest.raises(SrlInputError) as info:
        read_conll_file(path, *args)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert match in message, message
    return message


def test_reads_sentences_predicates_and_gold_spans(tmp_path):
    path = write(tmp_path, sentence() + "\n" + sentence() + "\n\n")
    sentences, has_gold = read_conll_file(path)
    assert has_gold is True
    assert len(sentences) == 2
    first = sentences[0]
    assert first.key == "input.txt/00000" and sentences[1].key.endswith(
        "/00001")
    assert first.lemmas == ["-", "eat", "-"]
    assert [p.predicate for p in first.predicates] == [1]
    assert first.gold == [[(0, 0, "A0"), (1, 1, "V"), (2, 2, "A1")]]
    arcs = first.predicates[0]
    assert arcs.ids is None  # no vocabulary
    assert list(arcs.spans) == [(0, 0), (2, 2)]
    assert list(arcs.roles) == ["A0", "A1"]


def test_without_gold_columns_only_the_verb_is_known(tmp_path):
    path = write(tmp_path, sentence(gold=False) + "\n" + NO_PREDICATE)
    sentences, has_gold = read_conll_file(path)
    assert has_gold is False
    assert len(sentences) == 2
    assert sentences[0].gold == [[(1, 1, "V")]]
    assert list(sentences[0].predicates[0].roles) == ["O", "O"]
    assert sentences[1].predicates == [] and sentences[1].gold == []


def test_has_gold_is_decided_by_sentences_with_predicates(tmp_path):
    path = write(tmp_path, NO_PREDICATE + "\n" + sentence(gold=True))
    sentences, has_gold = read_conll_file(path)
    assert has_gold is True and len(sentences) == 2
    only = write(tmp_path, NO_PREDICATE, "only.txt")
    assert read_conll_file(only)[1] is False


def test_reads_gzip_files(tmp_path):
    path = tmp_path / "input.txt.gz"
    path.write_bytes(gzip.compress(sentence().encode("utf-8")))
    sentences, has_gold = read_conll_file(path)
    assert has_gold and len(sentences) == 1
    assert sentences[0].gold[0][0] == (0, 0, "A0")


def test_missing_file(tmp_path):
    path = tmp_path / "missing.txt"
    assert one_line_error(path, "no such file") == f"{path}: no such file"


def test_directory(tmp_path):
    message = one_line_error(tmp_path, "is a directory")
    assert message == f"{tmp_path} is a directory, not a CoNLL file"


def test_too_few_columns(tmp_path):
    path = write(tmp_path, sentence() + "\nx NN (S1(NP*)) *\n")
    message = one_line_error(path, "4 columns")
    assert message == (f"{path}:5: 4 columns; expected at least "
                       f"{MIN_COLUMNS}: WORD POS PARSE NE LEMMA [ARGS...]")


def test_uneven_columns_name_the_first_odd_line(tmp_path):
    lines = sentence().splitlines()
    lines[2] += " *"
    path = write(tmp_path, NO_PREDICATE + "\n" + "\n".join(lines) + "\n")
    message = one_line_error(path, "different numbers of columns")
    assert message == (f"{path}:6: this sentence's lines have different "
                       "numbers of columns [6, 7]")


def test_argument_columns_must_match_the_predicates(tmp_path):
    path = write(tmp_path, sentence(extra=[("*", "*", "*")]))
    message = one_line_error(path, "argument columns")
    assert message == f"{path}:1: 1 predicate lemmas but 2 argument columns"


@pytest.mark.parametrize("parse, line, match", [
    (("(S1(S(NP*)", "(VP*", "(NP*)))"), 1, "phrase (S1 is never closed"),
    (("(S1(S(NP*)", "(VP*", "(NP*)))))"), 3, "')' closes no open phrase"),
    (("(S1(S(NP*)", "(VP*", "(NP))))"), 3, "malformed Start-End tag"),
])
def test_malformed_parse_bits_name_file_and_line(tmp_path, parse, line,
                                                 match):
    # The bad sentence is the second one: line numbers count from the file.
    path = write(tmp_path, NO_PREDICATE + "\n" + sentence(parse=parse))
    message = one_line_error(path, match)
    assert message.startswith(f"{path}:{line + 3}: "), message


def test_malformed_gold_column(tmp_path):
    lines = sentence().splitlines()
    lines[0] = lines[0].replace("(A0*)", "(A0*")
    path = write(tmp_path, "\n".join(lines) + "\n")
    one_line_error(path, "(A0 is never closed")


def test_undecodable_and_empty_files(tmp_path):
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe NN (S1(NP*)) * -\n")
    one_line_error(binary, "cannot be read as CoNLL text (UnicodeDecodeError")
    fake = tmp_path / "fake.gz"
    fake.write_text("not gzip\n")
    one_line_error(fake, "cannot be read as CoNLL text")
    empty = write(tmp_path, "\n  \n\n", "empty.txt")
    assert one_line_error(empty, "no sentences") == f"{empty}: no sentences"


# --- check_output_path -------------------------------------------------------

def refused(match, *args, **kwargs):
    with pytest.raises(SrlInputError, match=match) as info:
        check_output_path(*args, **kwargs)
    assert "\n" not in str(info.value)


def test_output_may_not_be_the_input(tmp_path, monkeypatch):
    source = write(tmp_path, sentence())
    for overwrite in (False, True):
        refused("is the input file; choose another output", source, source,
                overwrite=overwrite)
    # The same file under another spelling.
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    refused(r"Output \.\./input\.txt is the input file", "../input.txt",
            source, overwrite=True)


def test_existing_output_needs_overwrite(tmp_path):
    source = write(tmp_path, sentence())
    output = write(tmp_path, "old", "out.props")
    refused(rf"^Output {output} exists; pass --overwrite to replace it\.$",
            output, source)
    assert check_output_path(output, source, overwrite=True) == output
    assert output.read_text() == "old"  # checking writes nothing


def test_output_folder_must_exist_and_output_be_a_file(tmp_path):
    source = write(tmp_path, sentence())
    missing = tmp_path / "nowhere" / "out.props"
    refused(rf"^Output folder {tmp_path / 'nowhere'} does not exist\.$",
            missing, source, overwrite=True)
    refused(rf"^Output {tmp_path} is a directory; give a file name\.$",
            tmp_path, source, overwrite=True)
    fresh = check_output_path(str(tmp_path / "new.props"), source)
    assert fresh == tmp_path / "new.props" and not fresh.exists()


@pytest.mark.parametrize("first_gold", [True, False])
def test_gold_columns_on_some_sentences_only_are_refused(tmp_path,
                                                         first_gold):
    path = write(tmp_path, sentence(gold=first_gold) + "\n"
                 + sentence(gold=not first_gold))
    one_line_error(path, "argument columns")
