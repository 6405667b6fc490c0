"""Denoising a user's depth frame with any denoising preset.

`denoise_depth(model, raw)` is the one place that turns raw 16-bit depth
into a model input and the model's output back into raw depth; the
`spen-keras denoise` command and Python users share it:

>>> from spen_keras.presets import load_preset
>>> raw = read_depth_png(embedded_frames_dir() / "seq-01/frame-000000.depth.png")
>>> out = denoise_depth(load_preset("foe_3"), raw)
>>> out.dtype, out.shape
(dtype('uint16'), (480, 640))
"""

import os
import pathlib

import numpy as np

from spen_keras.denoising.denoising_task import predict_frames
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask


class DenoisingError(ValueError):
    """The input cannot be denoised, or the model's output is unusable."""


def denoise_depth(model, raw_uint16):
    """Denoises one raw depth frame.

    Args:
        model: a denoising preset: a Keras model mapping (1, H, W, 1)
            normalised depth to the same shape, or a numpy denoiser
            (e.g. `load_preset("filter_forest")`).
        raw_uint16: (H, W) uint16 millimetres; 0 and 65535 mean "no reading".

    Returns:
        (H, W) uint16 millimetres; pixels without a reading keep their
        original code (0 or 65535).

    Raises:
        DenoisingError: for a frame without any valid pixel, or a model whose
            output is not finite on a valid pixel.
    """
    raw = np.asarray(raw_uint16)
    if raw.ndim != 2:
        raise DenoisingError(f"Expected a 2-D (H, W) depth frame; got shape "
                             f"{raw.shape}.")
    mask = valid_mask(raw)
    if not mask.any():
        raise DenoisingError("The depth frame has no valid pixel.")
    x = fill_invalid(normalize_depth(raw), mask)[None, ..., None]
    y = predict_frames(model, x.astype(np.float32))[0][0, ..., 0]
    bad = ~np.isfinite(y) & mask
    if bad.any():
        raise DenoisingError(f"The model's output is not finite on "
                             f"{int(bad.sum())} valid pixels; nothing was "
                             "written.")
    return np.where(mask, denormalize_depth(y, mask), raw).astype(np.uint16)


def check_output_path(input_path, output_path, overwrite=False):
    """Refuses an output that would lose data or land nowhere, before any
    model runs."""
    source, target = pathlib.Path(input_path), pathlib.Path(output_path)
    if target.suffix.lower() != ".png":
        raise DenoisingError(f"Output {target} must be a .png file (16-bit "
                             "depth PNG).")
    if target.is_dir():
        raise DenoisingError(f"Output {target} is a directory.")
    if not target.parent.is_dir():
        raise DenoisingError(f"Output folder {target.parent} does not exist.")
    if target.exists() and os.path.samefile(source, target):
        raise DenoisingError(f"Output {target} is the input file; choose "
                             "another output.")
    if target.exists() and not overwrite:
        raise DenoisingError(f"Output {target} exists; pass --force to "
                             "replace it.")


def denoise_file(input_path, output_path, preset="dp_3", overwrite=False):
    """Reads a 16-bit depth PNG, denoises it with a preset, writes a PNG.

    Returns:
        The number of valid pixels.
    """
    from spen_keras.presets import load_preset

    raw = read_depth_png(input_path)
    check_output_path(input_path, output_path, overwrite)
    out = denoise_depth(load_preset(preset), raw)
    write_depth_png(output_path, out)
    return int(valid_mask(raw).sum())
