"""Reading and writing 16-bit depth PNGs with clear format checks.

Kinect depth maps, such as the Microsoft 7-Scenes frames, are stored as
single-channel 16-bit PNGs holding millimetres. Reading one of the matching
colour frames, an 8-bit visualisation or a half-written file by mistake would
otherwise give silently wrong depths, so `read_depth_png` checks the format and
raises an error that names both the problem and the file.

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
from PIL import Image, UnidentifiedImageError

# Pillow modes that hold one 16-bit (or wider integer) channel. Pillow opens a
# 16-bit greyscale PNG as "I;16" (older releases used "I", a 32-bit mode).
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_EIGHT_BIT_MODES = ("1", "L", "P")


class DepthImageError(ValueError):
    """Raised for a file that is not a single-channel 16-bit depth PNG."""


def read_depth_png(path):
    """Reads a single-channel 16-bit depth PNG.

    Args:
        path: path to the PNG file (str or `os.PathLike`).

    Returns:
        A `np.uint16` array of shape `(height, width)` holding the raw values
        (millimetres for Kinect/7-Scenes; 0 and 65535 mean "no reading").

    Raises:
        FileNotFoundError: if `path` does not exist.
        DepthImageError: if the file is empty, is not a readable PNG, is an
            8-bit image, has more than one channel, or has another pixel mode.
    """
    path = pathlib.Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(f"Depth image not found: {path}")
    if path.stat().st_size == 0:
        raise DepthImageError(
            f"Depth image {path} is an empty file (0 bytes); a 16-bit depth "
            "PNG is expected."
        )
    try:
        with Image.open(path) as image:
            image_format = image.format
            mode = image.mode
            bands = image.getbands()
            if image_format != "PNG":
                raise DepthImageError(
                    f"Depth image {path} is a {image_format} file, not a PNG; "
                    "a 16-bit depth PNG is expected."
                )
            # `load` decodes the pixel data: a truncated or damaged PNG whose
            # header still parses fails here, not in `Image.open`.
            image.load()
            pixels = np.asarray(image)
    except UnidentifiedImageError as error:
        raise DepthImageError(
            f"Depth image {path} is corrupt or not an image file "
            "(Pillow cannot identify it); a 16-bit depth PNG is expected."
        ) from error
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, DepthImageError):
            raise
        raise DepthImageError(
            f"Depth image {path} is corrupt or truncated: {error}"
        ) from error

    if len(bands) > 1:
        raise DepthImageError(
            f"Depth image {path} has {len(bands)} channels (mode {mode!r}, "
            f"bands {''.join(bands)}); a single-channel 16-bit depth PNG is "
            "expected. Is this a colour frame?"
        )
    if mode in _EIGHT_BIT_MODES:
        raise DepthImageError(
            f"Depth image {path} is an 8-bit image (mode {mode!r}); a 16-bit "
            "depth PNG is expected. 8-bit depth loses the millimetre values."
        )
    if mode not in _SIXTEEN_BIT_MODES:
        raise DepthImageError(
            f"Depth image {path} has unsupported pixel mode {mode!r}; a "
            "single-channel 16-bit depth PNG is expected."
        )
    if pixels.ndim != 2:
        raise DepthImageError(
            f"Depth image {path} decoded to shape {pixels.shape}; a 2-D depth "
            "map is expected."
        )
    if pixels.dtype != np.uint16:
        if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
            raise DepthImageError(
                f"Depth image {path} holds values outside the 16-bit range "
                f"[0, 65535] (mode {mode!r})."
            )
        pixels = pixels.astype(np.uint16)
    # `np.asarray` may share Pillow's read-only buffer.
    return np.array(pixels, dtype=np.uint16, copy=True)


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
