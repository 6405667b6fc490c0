"""Reading and writing 16-bit depth PNGs with clear format checks.

Kinect depth maps, such as the Microsoft 7-Scenes frames, are stored as
single-channel 16-bit PNGs holding millimetres. Reading one of the matching
colour frames, an 8-bit visualisation or a half-written file by mistake would
otherwise give silently wrong depths, so `read_depth_png` checks the format and
raises an error that names both the problem and the file.

The checks live in the dataset layer's `decode_depth_png`
(`spen_keras.datasets.seven_scenes.seven_scenes_archives`), the one decoder
that the 7-Scenes TFDS builder, `load_frames` and `read_depth_png` share;
`DepthImageError` is that module's error class.

Example:

>>> import tempfile, pathlib
>>> depth = np.array([[0, 1200], [65535, 4000]], dtype=np.uint16)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "frame.depth.png"
>>> write_depth_png(path, depth)
>>> read_depth_png(path).tolist()
[[0, 1200], [65535, 4000]]
"""

import os
import pathlib

import numpy as np
from PIL import Image

from spen_keras.datasets.seven_scenes.seven_scenes_archives import (
    DepthImageError,
)
from spen_keras.datasets.seven_scenes.seven_scenes_archives import (
    decode_depth_png,
)

__all__ = ["DepthImageError", "read_depth_png", "write_depth_png"]


def read_depth_png(path):
    """Reads a single-channel 16-bit depth PNG.

    Args:
        path: path to the PNG file (str or `os.PathLike`).

    Returns:
        A writable `np.uint16` array of shape `(height, width)` holding the
        raw values (millimetres for Kinect/7-Scenes; 0 and 65535 mean "no
        reading").

    Raises:
        FileNotFoundError: if `path` does not exist.
        DepthImageError: if `path` is a directory or another non-file, or the
            file is empty, is not a readable PNG, is an 8-bit image, has more
            than one channel, or has another pixel mode (see
            `decode_depth_png`).
    """
    path = pathlib.Path(os.fspath(path))
    if path.is_dir():
        raise DepthImageError(
            f"Depth image {path} is a directory, not a depth PNG."
        )
    if not path.exists():
        raise FileNotFoundError(f"Depth image not found: {path}")
    if not path.is_file():
        raise DepthImageError(
            f"Depth image {path} is not a regular file; a 16-bit depth PNG "
            "is expected."
        )
    return decode_depth_png(path.read_bytes(), str(path))


def write_depth_png(path, depth_uint16):
    """Writes a depth map as a single-channel 16-bit PNG.

    Args:
        path: destination path (str or `os.PathLike`); its folder must exist.
        depth_uint16: `np.uint16` array of shape `(height, width)`.

    Raises:
        TypeError: if `depth_uint16` is not a `np.uint16` array.
        ValueError: if `depth_uint16` is not 2-D.
    """
    depth = np.asarray(depth_uint16)
    if depth.dtype != np.uint16:
        raise TypeError(
            "write_depth_png expects a uint16 array, got dtype "
            f"{depth.dtype}; convert normalised depth with denormalize_depth "
            "first."
        )
    if depth.ndim != 2:
        raise ValueError(
            "write_depth_png expects a 2-D (height, width) array, got shape "
            f"{depth.shape}."
        )
    path = pathlib.Path(os.fspath(path))
    image = Image.fromarray(np.ascontiguousarray(depth))
    image.save(path, format="PNG")
