"""Writes `dummy_data/`, the builder's test data, from the shipped files.

For each dataset, in the shipped layout: the train and test ARFF files cut
to their header (copied unchanged, so the attribute names and counts are
the real ones) and the first `KEEP` data rows, and the `*.xml` labels file
unchanged. Run from anywhere: `python make_dummy_data.py`.
"""

import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
# Data rows kept from the start of each file. 20 train rows give 2 rows
# (indices 9 and 19) to the validation split and 18 to
# train_without_validation.
KEEP = {"train": 20, "test": 3}


def first_rows(path, count):
    """The header lines of an ARFF file and its first `count` data rows."""
    kept, in_data, rows = [], False, 0
    with open(path, encoding="utf-8") as text:
        for line in text:
            if in_data and line.strip() and not line.startswith("%"):
                if rows == count:
                    break
                rows += 1
            kept.append(line)
            in_data = in_data or line.strip().lower() == "@data"
    return kept


def main():
    for name in ("bibtex", "delicious"):
        target = DUMMY / name
        target.mkdir(parents=True, exist_ok=True)
        for split, count in KEEP.items():
            source = HERE / name / f"{name}-{split}.arff"
            (target / source.name).write_text(
                "".join(first_rows(source, count)), encoding="utf-8")
        shutil.copyfile(HERE / name / f"{name}.xml", target / f"{name}.xml")


if __name__ == "__main__":
    main()
