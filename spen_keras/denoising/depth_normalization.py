"""Depth units, validity masks and hole filling for the denoising benchmark.

Convention used throughout spen-keras (stated in README.md, "Protocols"):

* Normalised depth = millimetres / 5000 (`DEPTH_SCALE_MM`), so Kinect depths
  (0.5 m to 5 m) fall inside (0.1, 1.0] and PSNR uses a peak value of 1.
* Raw values 0 and 65535 (`INVALID_DEPTH_VALUES`) mean "no reading". They are
  normalised to exactly 0.0. **Every valid normalised depth is > 0**, so a
  target (`y_true`) value of 0 marks an invalid pixel: the masked loss and the
  PSNR metric (`spen_keras.denoising.masked_loss`, `spen_keras.denoising.psnr`) use `y_true > 0` as
  their mask, and nothing else needs to be passed around.
* Model inputs must not contain holes: fill them with `fill_invalid` (nearest
  valid pixel) before they are fed to a network.

Example:

>>> raw = np.array([[0, 2500], [5000, 65535]], dtype=np.uint16)
>>> normalize_depth(raw).tolist()
[[0.0, 0.5], [1.0, 0.0]]
>>> row = np.array([[2500, 0, 0, 5000, 65535]], dtype=np.uint16)
>>> fill_invalid(normalize_depth(row), valid_mask(row)).tolist()
[[0.5, 0.5, 1.0, 1.0, 1.0]]
"""

import warnings

import numpy as np
from scipy import ndimage

DEPTH_SCALE_MM = 5000.0
INVALID_DEPTH_VALUES = (0, 65535)

# Valid pixels are written back inside this range, so that a valid depth never
# turns into one of the "no reading" codes.
_MIN_VALID_RAW = 1
_MAX_VALID_RAW = 65534


def valid_mask(raw):
    """Returns which raw depth pixels hold a reading.

    Args:
        raw: integer array of raw depth values (millimetres), any shape.

    Returns:
        A boolean array of the same shape, False where `raw` is 0 or 65535.
    """
    raw = np.asarray(raw)
    mask = np.ones(raw.shape, dtype=bool)
    for code in INVALID_DEPTH_VALUES:
        mask &= raw != code
    return mask


def normalize_depth(raw_uint16):
    """Converts raw millimetres to normalised depth, with invalid pixels at 0.

    Args:
        raw_uint16: unsigned integer array of raw depth values (millimetres).

    Returns:
        A `np.float32` array of the same shape: millimetres / 5000 on valid
        pixels (always > 0) and exactly 0.0 where the raw value is 0 or 65535.

    Raises:
        TypeError: if `raw_uint16` is not an unsigned integer array (a float
            array is most likely already normalised).
    """
    raw = np.asarray(raw_uint16)
    if raw.dtype.kind != "u":
        raise TypeError(
            "normalize_depth expects raw unsigned integer depth (uint16 "
            f"millimetres), got dtype {raw.dtype}."
        )
    depth = raw.astype(np.float64) / DEPTH_SCALE_MM
    return np.where(valid_mask(raw), depth, 0.0).astype(np.float32)


def denormalize_depth(y, mask):
    """Converts normalised depth back to raw uint16 millimetres.

    Args:
        y: float array of normalised depth (millimetres / 5000).
        mask: boolean array broadcastable to `y`, True on valid pixels.

    Returns:
        A `np.uint16` array: `round(y * 5000)` clipped to [1, 65534] on valid
        pixels (so they never read as "no reading"), and 0 on invalid pixels.
    """
    y = np.asarray(y, dtype=np.float64)
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), y.shape)
    millimetres = np.clip(
        np.rint(y * DEPTH_SCALE_MM), _MIN_VALID_RAW, _MAX_VALID_RAW
    )
    return np.where(mask, millimetres, 0).astype(np.uint16)


def fill_invalid(depth, mask):
    """Fills every invalid pixel with the value of its nearest valid pixel.

    Nearness is Euclidean distance on the pixel grid, computed with
    `scipy.ndimage.distance_transform_edt(..., return_indices=True)`; valid
    pixels are returned unchanged.

    Args:
        depth: float array of shape `(H, W)` or `(H, W, 1)`.
        mask: boolean array of shape `(H, W)` or the shape of `depth`, True on
            valid pixels.

    Returns:
        A `np.float32` array with the shape of `depth` and no invalid pixels.

    Raises:
        ValueError: if the shapes are not as above, or if no pixel is valid
            (there is nothing to fill from).
    """
    depth = np.asarray(depth)
    mask = np.asarray(mask, dtype=bool)
    if depth.ndim == 3 and depth.shape[-1] == 1:
        plane = depth[..., 0]
    elif depth.ndim == 2:
        plane = depth
    else:
        raise ValueError(
            f"fill_invalid expects depth of shape (H, W) or (H, W, 1), got "
            f"{depth.shape}."
        )
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.shape != plane.shape:
        raise ValueError(
            f"fill_invalid: mask shape {mask.shape} does not match depth "
            f"shape {depth.shape}."
        )
    if not mask.any():
        raise ValueError(
            "fill_invalid: the depth map has no valid pixel to fill from."
        )
    if mask.all():
        return depth.astype(np.float32, copy=True)
    # For every pixel, the coordinates of the nearest pixel where the input is
    # zero, i.e. the nearest valid pixel (valid pixels point at themselves).
    nearest = ndimage.distance_transform_edt(
        ~mask, return_distances=False, return_indices=True
    )
    filled = plane[tuple(nearest)].astype(np.float32)
    return filled.reshape(depth.shape)


# Kinect-class sensors read roughly 0.4-8 m; a frame whose typical valid
# value lies far outside 100 mm - 20 m is almost surely in other units.
PLAUSIBLE_MEDIAN_MM = (100, 20000)


class DepthRangeWarning(UserWarning):
    """The depth values do not look like millimetres."""


def check_depth_range(raw_uint16, source="the depth frame"):
    """Warns (`DepthRangeWarning`) when the valid depths are implausible as
    millimetres, e.g. a PNG holding metres (values 0-8) or 0.1 mm units.

    Returns:
        The median valid depth in the frame's units (None if none is valid).
    """
    raw = np.asarray(raw_uint16)
    mask = valid_mask(raw)
    if not mask.any():
        return None
    median = float(np.median(raw[mask]))
    low, high = PLAUSIBLE_MEDIAN_MM
    if not low <= median <= high:
        warnings.warn(
            f"{source}: median depth {median:g} is outside {low}-{high}; "
            "spen-keras expects millimetres (e.g. metres x 1000), so the "
            "output will be unreliable.", DepthRangeWarning, stacklevel=2)
    return median

