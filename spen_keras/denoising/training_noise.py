"""The noise level a denoising preset was trained for, as its metadata says.

`denoise` compares a user's frame with it: a frame far quieter than the
training noise is smoothed into something worse than its input by a model
that expects that much noise (docs/denoising_safety.md). Both sides are
measured by the same estimator, `estimate_frame_noise_mm`, so they compare
directly whatever the noise model: the training side is the median, over
the training frames, of the estimate on each frame with the benchmark's
Kinect-like noise at the lowest and highest scale the preset saw (the two
are equal without noise-level augmentation).

>>> record = training_noise_record(load_frames("train")[:1], (1.0, 1.0))
>>> sorted(record)
['estimated_mm', 'estimator', 'noise_model', 'quiet_ratio']
>>> 140 < record["estimated_mm"][0] < 170
True
"""

import math

import numpy as np

from spen_keras.denoising.denoising_pipeline import noise_seed
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.kinect_noise import KinectNoiseModel
from spen_keras.denoising.noise_estimate import estimate_frame_noise_mm

#: The metadata key.
TRAINING_NOISE = "training_noise"
#: How a record's levels are measured.
ESTIMATOR = ("median over the training frames of estimate_frame_noise_mm "
             "(robust neighbour-difference noise std, mm)")


#: A frame is "quiet" for a preset, and `denoise` passes it through
#: unchanged, when its estimated noise is below this fraction of the
#: preset's typical training noise (`preset_training_noise`). Chosen on the
#: held-out validation sequence, where the denoisers' outputs stop getting
#: better once the input is clean enough and a quieter input is better
#: than the output (docs/denoising_safety.md): every learned preset fell
#: 0.5-3.6 dB below its input at 0.16 of its training noise and gained
#: 1-2 dB (those trained at one level) at 0.24.
QUIET_NOISE_RATIO = 0.2
#: BM3D and the Filter Forest hold up on quieter frames: on the validation
#: sequence they gained at 0.13 (2.3 and 2.96 dB) and fell below their
#: input at 0.075 of their training noise (bm3d also at 0.098: -0.57 dB).
QUIET_NOISE_RATIO_FILTERS = 0.12


def training_noise_record(frames, noise_scales=(1.0, 1.0),
                          noise=KinectNoiseModel(), seed=1234,
                          quiet_ratio=QUIET_NOISE_RATIO):
    """The metadata record of the noise a preset was trained on.

    Args:
        frames: the training frames (`load_frames` dicts).
        noise_scales: (low, high) multipliers of `noise.scale` the preset
            saw ((1, 1) without noise-level augmentation).
        noise: the benchmark noise model.
        seed: noise seed of the frames (`noise_seed(seed, sequence, frame)`).
        quiet_ratio: below this fraction of the typical training noise a
            frame is quiet (`QUIET_NOISE_RATIO`).

    Returns:
        {"noise_model": text, "estimated_mm": [low, high] (rounded to 0.1
        mm), "estimator": text, "quiet_ratio": quiet_ratio}.
    """
    estimated = []
    for factor in noise_scales:
        scaled = KinectNoiseModel(
            scale=noise.scale * float(factor),
            dropout_rate=noise.dropout_rate,
            sigma_offset_m=noise.sigma_offset_m,
            sigma_quadratic_m=noise.sigma_quadratic_m,
            sigma_center_m=noise.sigma_center_m)
        values = []
        for frame in frames:
            noisy, mask = scaled.apply_numpy(
                frame["depth"], frame["mask"],
                noise_seed(seed, frame["sequence"], frame["frame"]))
            values.append(estimate_frame_noise_mm(
                denormalize_depth(noisy, mask)))
        estimated.append(round(float(np.median(values)), 1))
    low, high = (float(s) for s in noise_scales)
    scales = (f"x {low:g}" if low == high
              else f"x [{low:g}, {high:g}] (augmentation)")
    return {
        "noise_model": (f"KinectNoiseModel(scale={noise.scale:g}, "
                        f"dropout_rate={noise.dropout_rate:g}) {scales}"),
        "estimated_mm": estimated,
        "estimator": ESTIMATOR,
        "quiet_ratio": float(quiet_ratio),
    }


def measured_noise_record(noisy_raws, noise_model,
                          quiet_ratio=QUIET_NOISE_RATIO):
    """The training-noise record of real noisy frames (a user's
    noisy/clean pairs): `training_noise_record`'s keys, the estimate taken
    on the noisy frames (raw uint16) themselves."""
    values = [estimate_frame_noise_mm(raw) for raw in noisy_raws]
    level = round(float(np.nanmedian(values)), 1)
    return {"noise_model": noise_model, "estimated_mm": [level, level],
            "estimator": ESTIMATOR,
            "quiet_ratio": float(quiet_ratio)}


def spec_training_noise(spec):
    """The training-noise record a denoising preset spec trains with: its
    task's (Keras presets: the task's frames and augmentation), the default
    task's for BM3D with the noise model's sigma and the Filter Forest
    (tuned or fitted on the benchmark noise; QUIET_NOISE_RATIO_FILTERS),
    None for BM3D with a per-frame sigma estimate (it adapts to any
    level)."""
    recipe = spec.recipe
    task = getattr(recipe, "task", None)
    if task is not None and hasattr(task, "training_noise"):
        return task.training_noise()
    if getattr(recipe, "sigma_mode", None) == "estimated":
        return None
    from spen_keras.denoising.denoising_task import DENOISING_TASK

    return DENOISING_TASK.training_noise(
        quiet_ratio=QUIET_NOISE_RATIO_FILTERS)


def training_noise_of(name_or_dir):
    """A preset's training-noise record (a dict), or None when it has none
    (another family's preset, one that estimates the noise itself, one
    saved before the record existed, or a folder that does not resolve)."""
    from spen_keras import presets

    try:
        record = presets.read_metadata(name_or_dir).get(TRAINING_NOISE)
    except presets.PresetError:
        return None
    return record if isinstance(record, dict) else None


def _levels(record):
    """(lowest, highest) estimated training noise of a record, or None."""
    try:
        levels = [float(v) for v in record["estimated_mm"]]
        return min(levels), max(levels)
    except (KeyError, TypeError, ValueError):
        return None


def preset_training_noise(name_or_dir):
    """The typical training noise of a preset, in mm
    (`estimate_frame_noise_mm` units): the geometric mean of its record's
    lowest and highest level (the 1x level of a preset trained with noise
    scaled by 0.5-2), or None without a record (`training_noise_of`)."""
    levels = _levels(training_noise_of(name_or_dir) or {})
    if levels is None or not (levels[0] > 0 and levels[1] > 0):
        return None
    return math.sqrt(levels[0] * levels[1])


def preset_quiet_ratio(name_or_dir):
    """The fraction of its training noise below which a frame is quiet for
    this preset: its record's "quiet_ratio", else QUIET_NOISE_RATIO."""
    try:
        value = float((training_noise_of(name_or_dir) or {})["quiet_ratio"])
    except (KeyError, TypeError, ValueError):
        return QUIET_NOISE_RATIO
    return value if math.isfinite(value) and value >= 0 else QUIET_NOISE_RATIO


def describe_training_noise(name_or_dir):
    """`zoo list`'s note on a denoising preset: the noise it was trained at
    ('145 mm noise', '72-288 mm noise'), noise-aware ones marked, or
    'any noise (estimates it per frame)' for one without a record."""
    from spen_keras import presets

    levels = _levels(training_noise_of(name_or_dir) or {})
    if levels is None:
        return "any noise (estimates it per frame)"
    low, high = levels
    text = (f"{low:.0f} mm noise" if low == high
            else f"{low:.0f}-{high:.0f} mm noise")
    if "noise_aware" in presets.get_spec(name_or_dir).tags:
        text += "; any quieter (noise-aware)"
    return text


#: `zoo list`'s line under the denoising presets.
LIST_FOOTER = (
    "Denoising presets: 'suits' is the noise (robust std, mm) of the frames "
    "they were trained on, Kinect-like noise at 28-30 dB PSNR; `spen-keras "
    "denoise` prints your frame's noise, and passes a frame far quieter "
    "than the preset's training noise through unchanged (with a warning; "
    "--always-denoise overrides). For a sensor of unknown noise use "
    "dp_3_noise_aware (its data term follows each frame's estimated noise, "
    "--noise-sigma sets it).")
