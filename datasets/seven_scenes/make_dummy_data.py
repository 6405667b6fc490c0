"""Regenerates `dummy_data/` from the real frames in `embedded/`, exactly.

Run from the repository root::

    python datasets/seven_scenes/make_dummy_data.py           # rewrite
    python datasets/seven_scenes/make_dummy_data.py --check   # compare

Output (deterministic: fixed zip timestamps, permissions and member order)::

    dummy_data/stairs.zip      laid out as Microsoft's stairs.zip: members
                               stairs/TrainSplit.txt, stairs/TestSplit.txt,
                               stairs/seq-01.zip ... stairs/seq-04.zip, each
                               holding seq-0N/frame-00000K.{depth.png,pose.txt}
                               byte-identical to embedded/stairs/ (ZIP_STORED)
    dummy_data/train.lst, val.lst, proximalnet/   synthetic-format ProximalNet
                               pairs derived from the real frames (see below)
    dummy_data/LICENSE-MSR-LA-7-Scenes.rtf, README.md

The ProximalNet pairs are test data for the file format only, not the
paper's data: `clean` is a 48x64 crop of a real frame in int16 millimetres
(invalid readings, 65535, set to 0 as ProximalNet's targets have them) and
`noisy` adds seeded Gaussian noise (sigma 10 mm) on valid pixels. The frames
themselves are never rewritten; the crops are new files.
"""

import argparse
import io
import pathlib
import shutil
import sys
import zipfile

import numpy as np
from PIL import Image

from spen_keras.datasets.seven_scenes import proximalnet_pairs

HERE = pathlib.Path(__file__).resolve().parent
LICENCE = "LICENSE-MSR-LA-7-Scenes.rtf"
# 1980-01-01 is the earliest time a zip can record; any fixed value works.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
# (split list, header dtype, sequence, frame): the validation file uses the
# int16 header so that the builder's header detection is exercised.
_PAIRS = (
    ("train.lst", "<i4", 2, 0),
    ("train.lst", "<i4", 3, 1),
    ("val.lst", "<i2", 1, 2),
)
_CROP = (slice(200, 248), slice(288, 352))
_README = """\
# Test data of the `seven_scenes` TFDS builder

Laid out as a user's `manual_dir` for both configs. Regenerate it with
`python datasets/seven_scenes/make_dummy_data.py` (`--check` compares).

- `stairs.zip`: Microsoft's 7-Scenes "stairs" archive layout
  (`stairs/TrainSplit.txt`, `stairs/TestSplit.txt`, `stairs/seq-0N.zip` holding
  `seq-0N/frame-00000K.depth.png` and `.pose.txt`), cut down to frames 0-2 of
  sequences 1-4. Every frame and split file is a byte-identical copy of
  Microsoft's release (from `../embedded/stairs/`), stored uncompressed. They
  are redistributed for non-commercial use under the Microsoft Research
  licence in `LICENSE-MSR-LA-7-Scenes.rtf`, which must stay beside them.
- `train.lst`, `val.lst`, `proximalnet/`: synthetic-format test data for the
  `proximalnet` config, NOT the paper's data: `clean` is a 48x64 crop of a
  real frame above (int16 millimetres, invalid readings set to 0) and `noisy`
  adds seeded Gaussian noise (sigma 10 mm). Files: int16 little-endian with a
  `[rows, cols]` header, int32 in the train pairs, int16 in the validation
  pair (the builder detects the header width from the file size).
"""


def _stored_zip(entries):
    """Returns the bytes of a zip of `(name, bytes)` entries, reproducibly."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3  # Unix, whatever the host, for -rw-r--r--.
            info.external_attr = 0o100644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _scene_zip(scene_dir):
    scene = scene_dir.name
    entries = [(f"{scene}/{name}", (scene_dir / name).read_bytes())
               for name in ("TestSplit.txt", "TrainSplit.txt")]
    for sequence_dir in sorted(scene_dir.glob("seq-*")):
        frames = sorted(p for p in sequence_dir.iterdir()
                        if p.name.endswith((".depth.png", ".pose.txt")))
        inner = _stored_zip(
            (f"{sequence_dir.name}/{p.name}", p.read_bytes()) for p in frames)
        entries.append((f"{scene}/{sequence_dir.name}.zip", inner))
    return _stored_zip(sorted(entries))


def _proximalnet_files(scene_dir):
    files, lists = {}, {"train.lst": [], "val.lst": []}
    rng = np.random.default_rng(20160101)
    for list_name, header, sequence, frame in _PAIRS:
        stem = f"stairs-seq-{sequence:02d}-frame-{frame:06d}.bin"
        depth_png = (scene_dir / f"seq-{sequence:02d}" /
                     f"frame-{frame:06d}.depth.png")
        with Image.open(depth_png) as image:
            raw = np.asarray(image).astype(np.int64)[_CROP]
        clean = np.where(raw == 65535, 0, raw)
        noise = np.rint(rng.normal(0.0, 10.0, clean.shape)).astype(np.int64)
        noisy = np.clip(np.where(clean > 0, clean + noise, 0), 0, 32767)
        for kind, depth in (("noisy", noisy), ("clean", clean)):
            files[f"proximalnet/{kind}/{stem}"] = (
                proximalnet_pairs.encode_int16_depth(depth, header))
        lists[list_name].append(
            f"_ proximalnet/noisy/{stem} proximalnet/clean/{stem}\n")
    for list_name, lines in lists.items():
        files[list_name] = "".join(lines).encode("ascii")
    return files


def build(embedded=HERE / "embedded"):
    """Returns {relative path: bytes} of every dummy_data file."""
    scene_dir = embedded / "stairs"
    files = {
        "stairs.zip": _scene_zip(scene_dir),
        LICENCE: (embedded / LICENCE).read_bytes(),
        "README.md": _README.encode("utf-8"),
    }
    files.update(_proximalnet_files(scene_dir))
    return files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path,
                        default=HERE / "dummy_data")
    parser.add_argument("--check", action="store_true",
                        help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        present = {p.relative_to(args.out).as_posix()
                   for p in args.out.rglob("*") if p.is_file()}
        differ = sorted(n for n, data in files.items()
                        if not (args.out / n).is_file()
                        or (args.out / n).read_bytes() != data)
        extra = sorted(present - set(files))
        if differ or extra:
            print(f"dummy_data differs: changed/missing {differ}, "
                  f"unexpected {extra}")
            return 1
        print(f"dummy_data matches ({len(files)} files).")
        return 0
    if args.out.exists():
        shutil.rmtree(args.out)
    for name, data in files.items():
        (args.out / name).parent.mkdir(parents=True, exist_ok=True)
        (args.out / name).write_bytes(data)
    print(f"wrote {len(files)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
