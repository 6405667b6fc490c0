"""Writes `dummy_data/`, the builder's test data, from the real release.

The first sentences of every layer file of the public release (`public/`,
lines copied unchanged) in the release's layout, plus a `words/` layer of
invented tokens ("tok0", "tok1", ...) so that the `full` config can be
tested: the real words are Penn Treebank text (LDC licence) and must never
be shipped. Run from anywhere: `python make_dummy_data.py`.
"""

import gzip
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
PUBLIC = HERE / "public"
DUMMY = HERE / "dummy_data"
# Release folder -> sentences kept from the start of each of its files.
KEEP = {"train": 1, "devel": 3, "test.wsj": 3, "test.brown": 3}


def first_sentences(path, count):
    """The raw lines of the first `count` sentences, blank lines included."""
    kept, sentences = [], 0
    with gzip.open(path, "rt", encoding="utf-8") as text:
        for line in text:
            kept.append(line)
            if not line.strip():
                sentences += 1
                if sentences == count:
                    break
    return kept


def write_gzip(path, lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        # mtime=0: the same bytes on every run.
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                           mtime=0) as packed:
            packed.write("".join(lines).encode("utf-8"))


def main():
    for folder, count in KEEP.items():
        for source in sorted((PUBLIC / folder).glob("*/*.gz")):
            lines = first_sentences(source, count)
            write_gzip(DUMMY / source.relative_to(PUBLIC), lines)
            if source.parent.name == "props":
                # Invented words, one per token: never real text.
                stem = source.name[:-len(".props.gz")]
                words, index = [], 0
                for line in lines:
                    if line.strip():
                        words.append(f"tok{index}\n")
                        index += 1
                    else:
                        words.append("\n")
                        index = 0
                write_gzip(DUMMY / folder / "words" / f"{stem}.words.gz",
                           words)


if __name__ == "__main__":
    main()
