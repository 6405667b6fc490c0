"""ProximalNet-style noisy/clean depth pairs: pair lists and int16 files.

Wang, Fidler & Urtasun (NIPS 2016) trained and evaluated depth denoising on
pre-processed 7-Scenes pairs. Their release is described by two pair lists
in one folder::

    train.lst, val.lst     one pair per line: "_ <noisy path> <clean path>"
                           (the first field is a placeholder; paths are
                           relative to the folder holding the lists)

and each depth file is a raw little-endian binary: a header of two integers
`[rows, cols]` followed by `rows * cols` int16 values in row-major order.

The header width is not documented with the data, so it is detected from the
file size: `size == header_bytes + 2 * rows * cols`, trying int32 (8-byte
header, what `write_int16_depth` writes) then int16 (4-byte header). The two
cannot both fit one file: an int32 header read as int16 gives `cols == 0`.
Row-major order and little-endian byte order are assumptions of this reader;
a file written column-major would load transposed, which a glance at one
decoded frame reveals.

Example:

>>> data = encode_int16_depth(np.array([[0, 1200, 4000]], np.int16))
>>> decode_int16_depth(data, "example").tolist()
[[0, 1200, 4000]]
"""

import numpy as np

from spen_keras.datasets.seven_scenes.seven_scenes_archives import (
    SevenScenesDataError)

PAIR_LISTS = {"train": "train.lst", "validation": "val.lst"}
# Header dtypes in detection order; see the module docstring.
HEADER_DTYPES = (np.dtype("<i4"), np.dtype("<i2"))
_PIXEL_DTYPE = np.dtype("<i2")


def parse_pair_list(text, origin):
    """Parses a `train.lst`/`val.lst` pair list.

    Args:
        text: file contents. Blank lines are skipped; fields may be separated
            by any run of whitespace. A line holds `_ noisy clean` (three
            fields, the first ignored) or just `noisy clean`.
        origin: where the text came from, for error messages.

    Returns:
        A list of `(line number, noisy path, clean path)` tuples.

    Raises:
        SevenScenesDataError: on a line with another number of fields.
    """
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (2, 3):
            raise SevenScenesDataError(
                f"{origin}, line {number}: expected '_ noisy clean', got "
                f"{line.strip()!r}."
            )
        pairs.append((number, fields[-2], fields[-1]))
    return pairs


def decode_int16_depth(data, origin):
    """Decodes one `[rows, cols]`-headed int16 depth file.

    Args:
        data: the file's bytes.
        origin: file name for error messages.

    Returns:
        An `np.int16` array of shape `(rows, cols)`.

    Raises:
        SevenScenesDataError: if no header width matches the file size.
    """
    for header_dtype in HEADER_DTYPES:
        header_bytes = 2 * header_dtype.itemsize
        if len(data) < header_bytes:
            continue
        rows, cols = (int(v) for v in np.frombuffer(data[:header_bytes],
                                                    dtype=header_dtype))
        pixel_bytes = _PIXEL_DTYPE.itemsize * rows * cols
        if rows > 0 and cols > 0 and len(data) == header_bytes + pixel_bytes:
            pixels = np.frombuffer(data, dtype=_PIXEL_DTYPE,
                                   offset=header_bytes)
            return pixels.reshape(rows, cols).astype(np.int16)
    raise SevenScenesDataError(
        f"{origin} ({len(data)} bytes) is not an int16 depth file with a "
        "[rows, cols] header: its size matches neither an int32 header "
        "(8 + 2*rows*cols bytes) nor an int16 header (4 + 2*rows*cols)."
    )


def encode_int16_depth(depth, header_dtype="<i4"):
    """Encodes an int16 depth map in the `[rows, cols]`-headed format.

    Args:
        depth: 2-D array whose values fit in int16.
        header_dtype: "<i4" (default) or "<i2", the header's integer type.

    Returns:
        The file's bytes.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"Expected a 2-D depth map, got shape {depth.shape}.")
    if depth.size and (depth.min() < -32768 or depth.max() > 32767):
        raise ValueError("Depth values do not fit in int16.")
    header = np.array(depth.shape, dtype=np.dtype(header_dtype))
    return header.tobytes() + depth.astype(_PIXEL_DTYPE).tobytes()
