"""Per-frame noise level of a depth frame, for noise-aware data terms.

`estimate_noise_sigma` is the numpy reference of the estimate that a
`QuadraticDataEnergy(noise_estimate=s_ref, noise_profile=(a, b, c))` makes
in TensorFlow: horizontal neighbour differences d = x[:, j+1] - x[:, j],
divided by the profile's relative noise r(x) = (a + b (x - c)^2) / a at the
pair's mean, exact zeros (hole-filled runs) and non-finite values left out,
s = median(|d| / r) / (0.6745 sqrt(2)): the noise standard deviation at
r = 1, robust to depth edges (a Gaussian's median absolute value is
0.6745 sigma; the difference of two independent draws has std sqrt(2) sigma).

`noise_sigma_mm_to_reference` turns a user's noise level (millimetres at the
frame's median depth) into the same units, for the data term's
`noise_override`; `find_data_term` finds that data term in a SPEN.

>>> x = np.full((4, 6), 0.4) + 0.01 * (-1.0) ** np.arange(6)
>>> s = estimate_noise_sigma(x, (1.0, 0.0, 0.0))
>>> round(s * MAD_TO_SIGMA * math.sqrt(2), 6)
0.02
>>> round(noise_sigma_mm_to_reference(10.0, x, (1.0, 0.0, 0.0)), 6)
0.002
"""

import math

import numpy as np

from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM

#: The median absolute value of a standard normal variable.
MAD_TO_SIGMA = 0.6745


def _profile(noise_profile):
    a, b, c = (float(v) for v in noise_profile)
    if not (a > 0 and b >= 0 and math.isfinite(b) and math.isfinite(c)):
        raise ValueError("`noise_profile` (a, b, c) needs a > 0 and finite "
                         f"b >= 0, c; got {noise_profile!r}.")
    return a, b, c


def relative_noise(x, noise_profile):
    """r(x) = (a + b (x - c)^2) / a, elementwise."""
    a, b, c = _profile(noise_profile)
    return 1.0 + (b / a) * np.square(np.asarray(x, np.float64) - c)


def _frame(x):
    x = np.asarray(x, np.float64)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError("Expected an (H, W) or (H, W, 1) frame; got shape "
                         f"{x.shape}.")
    return x


def estimate_noise_sigma(x, noise_profile, noise_estimate=None):
    """The robust noise standard deviation at r = 1 of one frame.

    Args:
        x: (H, W) or (H, W, 1) array (normalised depth, holes filled).
        noise_profile: (a, b, c) of the data term.
        noise_estimate: the data term's s_ref, or None. With it, the result
            is floored at 1e-3 s_ref and is s_ref for a frame without a
            usable pair, exactly as the data term does; without it, a frame
            without a usable pair gives nan.

    Returns:
        s_hat, a float.
    """
    x = _frame(x)
    with np.errstate(invalid="ignore", over="ignore"):
        d = x[:, 1:] - x[:, :-1]
        scaled = np.abs(d) / relative_noise(0.5 * (x[:, 1:] + x[:, :-1]),
                                            noise_profile)
    usable = np.isfinite(d) & (d != 0) & np.isfinite(scaled)
    if not usable.any():
        return math.nan if noise_estimate is None else float(noise_estimate)
    level = float(np.median(scaled[usable])) / (MAD_TO_SIGMA * math.sqrt(2))
    if noise_estimate is not None:
        level = max(level, 1e-3 * float(noise_estimate))
    return level


def estimate_frame_noise_mm(raw_uint16):
    """The robust noise standard deviation of a raw depth frame, in mm.

    `estimate_noise_sigma` with a flat profile on the frame's valid pixels
    (normalised, holes filled by their nearest valid pixel, so filled runs
    give exact zeros and drop out), in millimetres: about the noise at the
    frame's typical depth. The same number is recorded, on the training
    data, as a denoising preset's training noise (metadata
    "training_noise"), so the two compare directly. On a raw Kinect frame
    it is the sensor's quantisation and noise, 8-18 mm on the embedded
    7-Scenes frames.

    Returns:
        A float >= 0, or nan for a frame without two differing neighbours.
    """
    from spen_keras.denoising.depth_normalization import fill_invalid
    from spen_keras.denoising.depth_normalization import normalize_depth
    from spen_keras.denoising.depth_normalization import valid_mask

    mask = valid_mask(raw_uint16)
    if not mask.any():
        return math.nan
    frame = fill_invalid(normalize_depth(raw_uint16), mask)
    return estimate_noise_sigma(frame, (1.0, 0.0, 0.0)) * DEPTH_SCALE_MM


def median_valid_depth(x):
    """The median of a frame over its pixels with x > 0."""
    x = np.asarray(x, np.float64)
    valid = x[np.isfinite(x) & (x > 0)]
    if valid.size == 0:
        raise ValueError("The frame has no pixel with depth > 0.")
    return float(np.median(valid))


def noise_sigma_mm_to_reference(sigma_mm, x, noise_profile):
    """A noise std in millimetres at the frame's median valid depth, as the
    std at r = 1 in normalised units (millimetres / 5000).

    Returns:
        (sigma_mm / 5000) / r(median of x over x > 0).

    Raises:
        ValueError: for a non-positive or non-finite `sigma_mm`, or a frame
            without any pixel > 0.
    """
    check_noise_sigma_mm(sigma_mm)
    r = float(relative_noise(median_valid_depth(x), noise_profile))
    return float(sigma_mm) / DEPTH_SCALE_MM / r


def reference_to_noise_sigma_mm(sigma, x, noise_profile):
    """The inverse of `noise_sigma_mm_to_reference`: a std at r = 1 as
    millimetres at the frame's median valid depth."""
    r = float(relative_noise(median_valid_depth(x), noise_profile))
    return float(sigma) * r * DEPTH_SCALE_MM


def check_noise_sigma_mm(sigma_mm):
    """Raises a one-line ValueError unless `sigma_mm` is finite and > 0."""
    try:
        value = float(sigma_mm)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ValueError("The noise standard deviation must be a finite "
                         f"number of millimetres > 0; got {sigma_mm!r}.")
    return value


def find_data_term(model):
    """The `QuadraticDataEnergy` of a SPEN (searching `SumEnergy` terms),
    or None for a model without one (another Keras model, a numpy
    denoiser)."""
    from spen_keras.core.energies import QuadraticDataEnergy

    minimizer = getattr(model, "minimizer", None)
    energy = getattr(model, "energy", None)
    if energy is None and minimizer is not None:
        energy = getattr(minimizer, "energy", None)
    pending, seen = [energy], set()
    while pending:
        term = pending.pop(0)
        if term is None or id(term) in seen:
            continue
        seen.add(id(term))
        if isinstance(term, QuadraticDataEnergy):
            return term
        pending.extend(getattr(term, "energies", None) or ())
    return None


def is_noise_aware(model):
    """Whether the model's data term estimates the noise level."""
    term = find_data_term(model)
    return term is not None and term.noise_estimate is not None
