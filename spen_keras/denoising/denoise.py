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

import dataclasses
import math
import warnings

import numpy as np

from spen_keras.denoising.denoising_task import predict_frames
from spen_keras.denoising.depth_io import read_depth_png, write_depth_png
from spen_keras.denoising.depth_normalization import check_depth_range
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.noise_estimate import check_noise_sigma_mm
from spen_keras.denoising.noise_estimate import estimate_frame_noise_mm
from spen_keras.denoising.noise_estimate import estimate_noise_sigma
from spen_keras.denoising.noise_estimate import find_data_term
from spen_keras.denoising.noise_estimate import is_noise_aware
from spen_keras.denoising.noise_estimate import noise_sigma_mm_to_reference
from spen_keras.denoising.noise_estimate import reference_to_noise_sigma_mm
from spen_keras.denoising.training_noise import QUIET_NOISE_RATIO
from spen_keras.denoising.training_noise import preset_quiet_ratio
from spen_keras.denoising.training_noise import preset_training_noise
from spen_keras.core.tiled_inference import DEFAULT_TILE_SIZE
from spen_keras.core.tiled_inference import TilingError
from spen_keras.core.tiled_inference import predict_tiled
from spen_keras.core.tiled_inference import receptive_margin
from spen_keras.presets.user_files import check_output_file
from spen_keras.presets.user_files import write_atomically

#: Frames with more pixels than this (640 x 480, a Kinect frame) are denoised
#: in overlapping tiles by SPEN presets (see `denoise_depth`).
MAX_UNTILED_PIXELS = 640 * 480


class DenoisingError(ValueError):
    """The input cannot be denoised, or the model's output is unusable."""


class QuietFrameWarning(UserWarning):
    """The frame is far quieter than the noise the preset was trained for."""


#: The plausibility rule: with s the frame's estimated noise in mm and c the
#: absolute change |output - input| in mm over the input's valid pixels, an
#: output is implausible when median(c) > MEDIAN_FACTOR s + MEDIAN_SLACK_MM
#: or the 95th percentile of c > P95_FACTOR s + P95_SLACK_MM (more than 5%
#: of the pixels moved that far). A denoiser removes noise of about the
#: frame's level, and moves more only along depth edges (a few percent of
#: the pixels); a diverged model moves the median pixel by metres. The
#: margins were chosen on the validation sequence (docs/denoising_safety.md).
MEDIAN_FACTOR, MEDIAN_SLACK_MM = 3.0, 10.0
P95_FACTOR, P95_SLACK_MM = 10.0, 50.0


@dataclasses.dataclass(frozen=True)
class DenoisingReport:
    """What `denoise_frame` did to one frame, and why.

    Attributes:
        noise_mm: the frame's estimated noise std in mm (nan if it has no
            two differing neighbours).
        training_noise_mm: the preset's typical training noise, in the
            same units, or None when unknown.
        quiet: whether noise_mm < quiet_ratio x training_noise_mm.
        action: "denoised" or "passed through" (a quiet frame given to a
            preset that is not noise-aware: the output is the input).
        median_change_mm, p95_change_mm, p99_change_mm: median, 95th and
            99th percentile of |output - input| over the input's valid
            pixels.
        median_limit_mm, p95_limit_mm: the plausibility rule's limits.
        plausible: whether both changes are within their limits.
        valid_pixels: the number of valid input pixels.
    """

    noise_mm: float
    training_noise_mm: object
    quiet: bool
    action: str
    median_change_mm: float
    p95_change_mm: float
    p99_change_mm: float
    median_limit_mm: float
    p95_limit_mm: float
    plausible: bool
    valid_pixels: int


def plausibility_limits(noise_mm):
    """(median limit, 95th-percentile limit) in mm for a frame whose
    estimated noise is `noise_mm` (nan counts as 0)."""
    s = noise_mm if math.isfinite(noise_mm) else 0.0
    return (MEDIAN_FACTOR * s + MEDIAN_SLACK_MM, P95_FACTOR * s + P95_SLACK_MM)


def denoise_depth(model, raw_uint16, **options):
    """Denoises one raw depth frame: `denoise_frame` without the report.

    Args:
        model, raw_uint16: as for `denoise_frame`.
        **options: `denoise_frame`'s keyword arguments.

    Returns:
        (H, W) uint16 millimetres; pixels without a reading keep their
        original code (0 or 65535).
    """
    return denoise_frame(model, raw_uint16, **options)[0]


def denoise_frame(model, raw_uint16, tile_size=None,
                  max_untiled_pixels=MAX_UNTILED_PIXELS, noise_sigma_mm=None,
                  on_noise_level=None, training_noise_mm=None,
                  always_denoise=False, allow_implausible=False,
                  quiet_ratio=QUIET_NOISE_RATIO):
    """Denoises one raw depth frame, refusing to make it worse.

    Two safeguards run on every frame (docs/denoising_safety.md):

    - Quiet frames. The frame's noise is estimated
      (`estimate_frame_noise_mm`). When `training_noise_mm` (the preset's
      typical training noise: `preset_training_noise(name)`;
      `denoise_file` passes it) is given and the frame's noise is below
      `quiet_ratio` times it (0.2; 0.12 for BM3D and the Filter Forest:
      `preset_quiet_ratio(name)`), a `QuietFrameWarning` is issued and,
      unless `always_denoise`, a preset that is not noise-aware passes the
      frame through unchanged: a learned denoiser trained on 150 mm noise
      smooths a raw Kinect frame (about 10 mm) into something worse than
      its input. A noise-aware preset (`QuadraticDataEnergy(noise_estimate=
      ...)`) adapts its data term to the frame and still runs.
    - Plausibility. An output whose change from the input is far beyond the
      frame's noise (`plausibility_limits`: median |change| above 3 s + 10
      mm, or its 95th percentile above 10 s + 50 mm, s the frame's
      estimated noise in mm, or `noise_sigma_mm` when that is larger) is
      refused with a `DenoisingError`, unless
      `allow_implausible`.

    Large frames and memory: a SPEN keeps every intermediate of one energy
    gradient for the whole frame alive at once, so whole-frame memory grows
    with the frame (1.8 GB of RSS for 1920x1080 with `dp_3` here, in a
    `tf.function`; 4.3 GB for an eager `model(x)` call). A frame of more
    than `max_untiled_pixels` pixels (default 640 x 480) given to a SPEN
    whose result can be tiled exactly is therefore run in overlapping tiles
    (`spen_keras.core.tiled_inference.predict_tiled`): each tile reaches
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
        training_noise_mm: the model's typical training noise (estimated
            as `estimate_frame_noise_mm` does, in mm:
            `preset_training_noise(name)`), or None (no quiet-frame
            check).
        always_denoise: run the model on a quiet frame too (still warns).
        quiet_ratio: the fraction of `training_noise_mm` below which a
            frame is quiet (`preset_quiet_ratio(name)`).
        allow_implausible: return an implausible output instead of raising.

    Returns:
        (depth, output, report): depth is (H, W) uint16 millimetres, pixels
        without a reading keeping their original code (0 or 65535); output
        is the (H, W) float32 normalised result on every pixel (holes
        filled: what PSNR against a clean frame is computed on); report a
        `DenoisingReport`.

    Raises:
        DenoisingError: for a frame without any valid pixel, a frame smaller
            than the SPEN's energy accepts, a model whose output is not
            finite on a valid pixel or is implausible (above), or
            `noise_sigma_mm` that is not a finite number > 0 or given to a
            model that is not noise-aware.
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
    noise_mm = estimate_frame_noise_mm(raw)
    quiet = (training_noise_mm is not None and math.isfinite(noise_mm)
             and noise_mm < quiet_ratio * float(training_noise_mm))
    noise_aware = is_noise_aware(model)
    passed_through = quiet and not always_denoise and not noise_aware
    if quiet:
        if passed_through:
            consequence = ("passing it through unchanged (always_denoise / "
                           "--always-denoise runs the model anyway)")
        elif noise_aware:
            consequence = "its noise-aware data term adapts to it"
        else:
            consequence = "denoising it anyway, as asked"
        warnings.warn(
            f"the frame's noise ({noise_mm:.1f} mm) is far below the "
            f"{float(training_noise_mm):.0f} mm this preset was trained "
            f"for; {consequence}.", QuietFrameWarning, stacklevel=2)
    if passed_through:
        y = x[0, ..., 0]
    else:
        y = _run_model(model, x, mask, raw, max_untiled_pixels, tile_size,
                       noise_sigma_mm, on_noise_level)
    bad = ~np.isfinite(y) & mask
    if bad.any():
        raise DenoisingError(f"The model's output is not finite on "
                             f"{int(bad.sum())} valid pixels; nothing was "
                             "written.")
    depth = np.where(mask, denormalize_depth(y, mask), raw).astype(np.uint16)
    change = np.abs(depth[mask].astype(np.float64) - raw[mask])
    median_change = float(np.median(change))
    p95_change, p99_change = (float(v) for v in np.percentile(change,
                                                               [95, 99]))
    # A level the user gave (--noise-sigma) vouches for more noise than the
    # estimate may see.
    allowed_noise = noise_mm if noise_sigma_mm is None else max(
        float(noise_sigma_mm), noise_mm if math.isfinite(noise_mm) else 0.0)
    median_limit, p95_limit = plausibility_limits(allowed_noise)
    report = DenoisingReport(
        noise_mm=noise_mm, training_noise_mm=training_noise_mm, quiet=quiet,
        action="passed through" if passed_through else "denoised",
        median_change_mm=median_change, p95_change_mm=p95_change,
        p99_change_mm=p99_change, median_limit_mm=median_limit,
        p95_limit_mm=p95_limit,
        plausible=median_change <= median_limit and p95_change <= p95_limit,
        valid_pixels=int(mask.sum()))
    if not report.plausible and not allow_implausible:
        raise DenoisingError(
            f"The model's output is implausible: it moves valid pixels by a "
            f"median of {median_change:.0f} mm (95th percentile "
            f"{p95_change:.0f} mm) where the frame's noise of "
            f"{allowed_noise:.1f} mm allows {median_limit:.0f} ({p95_limit:.0f}) "
            "mm; nothing was written (allow_implausible / "
            "--allow-implausible keeps it).")
    return depth, np.asarray(y, np.float32), report


def _run_model(model, x, mask, raw, max_untiled_pixels, tile_size,
               noise_sigma_mm, on_noise_level):
    """The model's (H, W) output; a noise-aware SPEN's data term gets the
    frame's level (given or estimated) for this frame only."""
    large = raw.size > max_untiled_pixels
    term = find_data_term(model)
    if term is None or term.noise_estimate is None:
        return _predict(model, x, large, tile_size)
    frame = x[0, ..., 0].astype(np.float32)
    observed = np.where(mask, frame, 0.0)
    if not term.built:
        term(x[:, :1, :1].astype(np.float32), x[:, :1, :1].astype(
            np.float32))  # creates noise_override
    previous = float(term.noise_override)
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
            reference_to_noise_sigma_mm(level, observed, term.noise_profile),
            float(np.median(raw[mask])), given)
    term.noise_override.assign(level)
    try:
        return _predict(model, x, large, tile_size)
    finally:
        term.noise_override.assign(previous)


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


def check_output_path(output_path, input_path, overwrite=False):
    """Refuses an output that would lose data or land nowhere, before any
    model runs (`spen_keras.presets.user_files.check_output_file`: not a directory,
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
                 noise_sigma_mm=None, on_noise_level=None,
                 always_denoise=False, allow_implausible=False):
    """Reads a 16-bit depth PNG, denoises it with a preset, writes a PNG.

    Everything that can be checked is checked before the model runs: the
    input (exists, is a single-channel 16-bit PNG), the output (ends in
    .png, its folder exists and is writable, it is not the input, it does
    not exist unless `overwrite`), a `noise_sigma_mm` (see
    `denoise_depth`; finite and > 0, and only for a noise-aware preset).
    The frame is denoised by `denoise_frame` with the preset's recorded
    training noise (`preset_training_noise`), so a frame far quieter than
    that is passed through with a `QuietFrameWarning` unless
    `always_denoise`, and an implausible output raises unless
    `allow_implausible`. The output is written atomically; a model output
    that is not finite or implausible raises and writes nothing.

    Warns:
        DepthRangeWarning: if the depths do not look like millimetres.
        QuietFrameWarning: for a frame far quieter than the preset's
            training noise.

    Returns:
        The `DenoisingReport` of the frame (`valid_pixels` of it: the
        number of valid pixels).
    """
    from spen_keras.presets import load_preset

    raw = read_depth_png(input_path)
    check_output_path(output_path, input_path, overwrite)
    if noise_sigma_mm is not None:
        _check_noise_option(None, noise_sigma_mm, f"preset {preset}")
    check_depth_range(raw, str(input_path))
    model = load_preset(preset)
    if noise_sigma_mm is not None:
        _check_noise_option(model, noise_sigma_mm, f"preset {preset}")
    out, _, report = denoise_frame(
        model, raw, noise_sigma_mm=noise_sigma_mm,
        on_noise_level=on_noise_level,
        training_noise_mm=preset_training_noise(preset),
        quiet_ratio=preset_quiet_ratio(preset),
        always_denoise=always_denoise, allow_implausible=allow_implausible)
    write_depth_png_atomically(output_path, out)
    return report
