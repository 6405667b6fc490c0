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


import numpy as np

from spen_keras.denoising.denoising_task import predict_frames
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.denoising.depth_normalization import check_depth_range
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.noise_estimate import check_noise_sigma_mm
from spen_keras.denoising.noise_estimate import estimate_noise_sigma
from spen_keras.denoising.noise_estimate import find_data_term
from spen_keras.denoising.noise_estimate import noise_sigma_mm_to_reference
from spen_keras.denoising.noise_estimate import reference_to_noise_sigma_mm
from spen_keras.tiled_inference import DEFAULT_TILE_SIZE
from spen_keras.tiled_inference import TilingError
from spen_keras.tiled_inference import predict_tiled
from spen_keras.tiled_inference import receptive_margin
from spen_keras.user_files import check_output_file
from spen_keras.user_files import write_atomically

#: Frames with more pixels than this (640 x 480, a Kinect frame) are denoised
#: in overlapping tiles by SPEN presets (see `denoise_depth`).
MAX_UNTILED_PIXELS = 640 * 480


class DenoisingError(ValueError):
    """The input cannot be denoised, or the model's output is unusable."""


def denoise_depth(model, raw_uint16, tile_size=None,
                  max_untiled_pixels=MAX_UNTILED_PIXELS, noise_sigma_mm=None,
                  on_noise_level=None):
    """Denoises one raw depth frame.

    Large frames and memory: a SPEN keeps every intermediate of one energy
    gradient for the whole frame alive at once, so whole-frame memory grows
    with the frame (1.8 GB of RSS for 1920x1080 with `dp_3` here, in a
    `tf.function`; 4.3 GB for an eager `model(x)` call). A frame of more
    than `max_untiled_pixels` pixels (default 640 x 480) given to a SPEN
    whose result can be tiled exactly is therefore run in overlapping tiles
    (`spen_keras.tiled_inference.predict_tiled`): each tile reaches
    T x `energy.gradient_radius()` pixels (the margin; 36 for `dp_3`) past
    the part it keeps, so the output equals whole-frame processing up to
    float rounding (max abs difference 6e-8 on normalised depth at
    1920x1080; at most 1e-5 is tested). The default tile is at most
    512 x 512 pixels, margins included, or 4 x the margin when that is
    larger (so at least half of each tile side is kept): peak RSS for a
    1920x1080 `dp_3` frame is then 0.84 GB instead of 1.8 GB, for about 1.1x
    the CPU time, and 1.25 GB for 4096x3072, most of it TensorFlow itself and
    this function's whole-frame numpy pre- and post-processing
    (benchmarks/tiled_inference.py). Frames of at most
    `max_untiled_pixels`, SPENs that cannot be tiled exactly (early stopping
    on a `tolerance`, or an energy without a gradient radius), the other
    Keras presets and the numpy denoisers (BM3D, Filter Forest) take the
    whole-frame path, as before.

    Args:
        model: a denoising preset: a Keras model mapping (1, H, W, 1)
            normalised depth to the same shape, or a numpy denoiser
            (e.g. `load_preset("filter_forest")`).
        raw_uint16: (H, W) uint16 millimetres; 0 and 65535 mean "no reading".
        tile_size: largest tile side in pixels, margins included, when the
            frame is tiled; None: max(512, 4 x margin).
        max_untiled_pixels: frames with at most this many pixels are never
            tiled.
        noise_sigma_mm: for a noise-aware SPEN (its `QuadraticDataEnergy`
            has `noise_estimate`): the input's noise standard deviation in
            millimetres at the frame's median valid depth. None: the
            model's own per-frame estimate (or the data term's
            `noise_override`, if the caller set one). Either way the level
            is written to the data term's `noise_override` for this frame
            (so tiles share the whole frame's level and tiling stays exact)
            and the previous value is restored afterwards.
        on_noise_level: optional callable, called for a noise-aware model
            with (sigma_mm, median_depth_mm, given): the noise level used,
            in millimetres at the median valid depth.

    Returns:
        (H, W) uint16 millimetres; pixels without a reading keep their
        original code (0 or 65535).

    Raises:
        DenoisingError: for a frame without any valid pixel, a frame smaller
            than the SPEN's energy accepts, a model whose output is not
            finite on a valid pixel, or `noise_sigma_mm` that is not a
            finite number > 0 or given to a model that is not noise-aware.
    """
    if noise_sigma_mm is not None:
        _check_noise_option(model, noise_sigma_mm, "this model")
    raw = np.asarray(raw_uint16)
    if raw.ndim != 2:
        raise DenoisingError(f"Expected a 2-D (H, W) depth frame; got shape "
                             f"{raw.shape}.")
    mask = valid_mask(raw)
    if not mask.any():
        raise DenoisingError("The depth frame has no valid pixel.")
    _check_frame_size(model, raw.shape)
    x = fill_invalid(normalize_depth(raw), mask)[None, ..., None]
    term = find_data_term(model)
    if term is None or term.noise_estimate is None:
        y = _predict(model, x, raw.size > max_untiled_pixels, tile_size)
    else:
        frame = x[0, ..., 0].astype(np.float32)
        observed = np.where(mask, frame, 0.0)
        if not term.built:
            term(x[:, :1, :1].astype(np.float32), x[:, :1, :1].astype(
                np.float32))  # creates noise_override
        previous = float(term.noise_override.numpy())
        given = noise_sigma_mm is not None or previous > 0
        if noise_sigma_mm is not None:
            level = noise_sigma_mm_to_reference(noise_sigma_mm, observed,
                                                term.noise_profile)
        elif previous > 0:
            level = previous
        else:
            level = estimate_noise_sigma(frame, term.noise_profile,
                                         term.noise_estimate)
        if on_noise_level is not None:
            on_noise_level(
                reference_to_noise_sigma_mm(level, observed,
                                            term.noise_profile),
                float(np.median(raw[mask])), given)
        term.noise_override.assign(level)
        try:
            y = _predict(model, x, raw.size > max_untiled_pixels, tile_size)
        finally:
            term.noise_override.assign(previous)
    bad = ~np.isfinite(y) & mask
    if bad.any():
        raise DenoisingError(f"The model's output is not finite on "
                             f"{int(bad.sum())} valid pixels; nothing was "
                             "written.")
    return np.where(mask, denormalize_depth(y, mask), raw).astype(np.uint16)


def _predict(model, x, large, tile_size):
    """The model's (H, W) output for a (1, H, W, 1) input: whole-frame, or
    in tiles for a large frame and a SPEN that tiles exactly."""
    margin = _tiling_margin(model) if large else None
    if margin is None:
        return predict_frames(model, x.astype(np.float32))[0][0, ..., 0]
    if tile_size is None:
        tile_size = max(DEFAULT_TILE_SIZE, 4 * margin)
    return predict_tiled(model, x.astype(np.float32), tile_size=tile_size,
                         margin=margin)[0, ..., 0]


def _check_noise_option(model, noise_sigma_mm, label):
    """One-line DenoisingErrors for a bad `--noise-sigma` or a model that
    does not use it."""
    try:
        check_noise_sigma_mm(noise_sigma_mm)
    except ValueError:
        raise DenoisingError(
            f"--noise-sigma must be a finite number of millimetres > 0; got "
            f"{noise_sigma_mm!r} ({label}).") from None
    if model is None:
        return
    term = find_data_term(model)
    if term is None or term.noise_estimate is None:
        raise DenoisingError(
            f"{label} does not estimate the noise level; use a "
            "noise-aware preset such as dp_3_noise_aware, or drop "
            "--noise-sigma.")


def _tiling_margin(model):
    """The exact tiling margin of a SPEN, or None for a model that is not
    tiled (not a SPEN, or one that cannot be tiled exactly)."""
    if getattr(model, "minimizer", None) is None:
        return None
    try:
        return receptive_margin(model)
    except TilingError:
        return None


def _check_frame_size(model, shape):
    """A frame smaller than the SPEN's energy accepts fails here, in one
    line, rather than inside the model's graph."""
    energy = getattr(model, "energy", None)
    minimum = getattr(energy, "minimum_spatial_size", None)
    if getattr(model, "minimizer", None) is None or not callable(minimum):
        return
    if (getattr(model, "feature_network", None) is not None
            or getattr(model, "init_network", None) is not None):
        return
    minimum = minimum()
    if minimum is not None and min(shape) < minimum:
        raise DenoisingError(
            f"The depth frame is {shape[0]}x{shape[1]} pixels; this model "
            f"needs at least {minimum}x{minimum}.")


def check_output_path(input_path, output_path, overwrite=False):
    """Refuses an output that would lose data or land nowhere, before any
    model runs (`spen_keras.user_files.check_output_file`: not a directory,
    ends in .png, its folder exists and is writable, not the input, not an
    existing file unless `overwrite`)."""
    check_output_file(output_path, input_path, overwrite, suffix=".png",
                      suffix_reason="the output is a 16-bit depth PNG",
                      error=DenoisingError)


def write_depth_png_atomically(path, depth_uint16):
    """Writes the PNG beside `path` under a temporary name, then renames it
    over `path`: an existing file is replaced only by a complete one.

    Raises:
        DenoisingError: naming `path` (never the temporary file) when it
            cannot be written.
    """
    write_atomically(path, lambda temporary: write_depth_png(
        temporary, depth_uint16), error=DenoisingError)


def denoise_file(input_path, output_path, preset="dp_3", overwrite=False,
                 noise_sigma_mm=None, on_noise_level=None):
    """Reads a 16-bit depth PNG, denoises it with a preset, writes a PNG.

    Everything that can be checked is checked before the model runs: the
    input (exists, is a single-channel 16-bit PNG), the output (ends in
    .png, its folder exists and is writable, it is not the input, it does
    not exist unless `overwrite`), a `noise_sigma_mm` (see
    `denoise_depth`; finite and > 0, and only for a noise-aware preset).
    The output is written atomically; a model output that is not finite
    raises and writes nothing.

    Warns:
        DepthRangeWarning: if the depths do not look like millimetres.

    Returns:
        The number of valid pixels.
    """
    from spen_keras.presets import load_preset

    raw = read_depth_png(input_path)
    check_output_path(input_path, output_path, overwrite)
    if noise_sigma_mm is not None:
        _check_noise_option(None, noise_sigma_mm, f"preset {preset}")
    check_depth_range(raw, str(input_path))
    model = load_preset(preset)
    if noise_sigma_mm is not None:
        _check_noise_option(model, noise_sigma_mm, f"preset {preset}")
    out = denoise_depth(model, raw, noise_sigma_mm=noise_sigma_mm,
                        on_noise_level=on_noise_level)
    write_depth_png_atomically(output_path, out)
    return int(valid_mask(raw).sum())
