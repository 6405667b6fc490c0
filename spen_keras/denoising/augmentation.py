r"""Training-data augmentation for depth denoising.

The embedded 7-Scenes "stairs" frames cover one room, one range of depths
and one noise level; users feed other rooms, nearer or farther scenes and
other sensors. `Augmentation` describes random changes that make the
training crops cover more of that (see `make_training_dataset(...,
augmentation=...)`), and `augment_crop` applies them to one square region of
a clean frame, in numpy:

1. rotate the region by k * 90 degrees (k uniform in 0..3) and flip it
   left-right and up-down at random (geometry; the noise model is isotropic);
2. multiply the clean depth by s, log-uniform in `depth_scale`, then add o,
   uniform in `depth_offset` (normalised units, millimetres / 5000), on
   valid pixels only; the result is clipped to [1, 65534] mm / 5000 so a
   valid pixel stays a valid reading and invalid pixels stay exactly 0;
3. noise the result with the `KinectNoiseModel` whose `scale` is multiplied
   by a factor log-uniform in `noise_scale`, and fill every hole of the noisy
   region with its nearest valid noisy pixel (`fill_invalid`);
4. centre-crop the region to the crop size.

Every random draw comes from the `numpy.random.Generator` passed in, in a
fixed order whatever the switches, so a stream seeded per element is a
deterministic function of its seed.

Example:

>>> augmentation = Augmentation()
>>> print(augmentation.describe().replace("], ", "],\n"))
depth x[0.6, 1.7] log-uniform, offset [-0.02, 0.06],
90-degree rotations, flips, noise x[0.5, 2] log-uniform
>>> Augmentation.from_config(augmentation.get_config()) == augmentation
True
"""

import dataclasses
import math

import numpy as np

from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM
from spen_keras.denoising.depth_normalization import fill_invalid

_MIN_VALID = 1.0 / DEPTH_SCALE_MM
_MAX_VALID = 65534.0 / DEPTH_SCALE_MM


def _check_range(name, value, positive):
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a (low, high) pair of numbers, got {value!r}."
        ) from None
    finite = math.isfinite(low) and math.isfinite(high)
    if positive and not (finite and 0 < low <= high):
        raise ValueError(
            f"{name} must be (low, high) with 0 < low <= high, got {value!r}."
        )
    if not positive and not (finite and low <= high):
        raise ValueError(
            f"{name} must be (low, high) with low <= high, got {value!r}."
        )
    return (low, high)


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random changes of depth range, geometry and noise level of crops.

    Args:
        depth_scale: `(low, high)`, 0 < low <= high: the clean depth is
            multiplied by s drawn log-uniformly in this range (valid pixels
            only). Default (0.6, 1.7): the stairs frames, mostly 1-3 m,
            cover about 0.6-5 m.
        depth_offset: `(low, high)`, low <= high: then o drawn uniformly in
            this range is added, in normalised units (millimetres / 5000).
            Default (-0.02, 0.06), i.e. -100 mm to +300 mm. Valid pixels are
            clipped to [1, 65534] mm / 5000 so they stay valid readings.
        rotations: whether to rotate by k * 90 degrees, k uniform in 0..3.
        flips: whether to flip left-right and up-down at random.
        noise_scale: `(low, high)`, 0 < low <= high: the noise model's
            `scale` is multiplied by a factor drawn log-uniformly in this
            range. Default (0.5, 2.0): noise from half to twice the
            benchmark's level.

    Raises:
        ValueError: on an invalid range or a non-bool switch, naming the
            field.
    """

    depth_scale: tuple = (0.6, 1.7)
    depth_offset: tuple = (-0.02, 0.06)
    rotations: bool = True
    flips: bool = True
    noise_scale: tuple = (0.5, 2.0)

    def __post_init__(self):
        for name, positive in (("depth_scale", True), ("depth_offset", False),
                               ("noise_scale", True)):
            checked = _check_range(name, getattr(self, name), positive)
            object.__setattr__(self, name, checked)
        for name in ("rotations", "flips"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got "
                                 f"{value!r}.")
            object.__setattr__(self, name, bool(value))

    def describe(self):
        """Returns a one-line human description, e.g. for run metadata."""

        def log_uniform(low, high):
            if low == high:
                return f"x{low:g}"
            return f"x[{low:g}, {high:g}] log-uniform"

        low, high = self.depth_offset
        offset = (f"offset {low:g}" if low == high
                  else f"offset [{low:g}, {high:g}]")
        return ", ".join([
            "depth " + log_uniform(*self.depth_scale),
            offset,
            "90-degree rotations" if self.rotations else "no rotations",
            "flips" if self.flips else "no flips",
            "noise " + log_uniform(*self.noise_scale),
        ])

    def get_config(self):
        """Returns the constructor arguments as a JSON-able dict."""
        return {
            "depth_scale": list(self.depth_scale),
            "depth_offset": list(self.depth_offset),
            "rotations": self.rotations,
            "flips": self.flips,
            "noise_scale": list(self.noise_scale),
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds an `Augmentation` from `get_config()`'s dict."""
        return cls(**config)


def _log_uniform(rng, low, high):
    draw = rng.uniform(math.log(low), math.log(high))
    return low if low == high else float(math.exp(draw))


def augment_crop(depth, mask, rng, noise, augmentation, crop_size):
    """Makes one augmented `(x, y)` crop pair from a clean square region.

    Args:
        depth: clean normalised depth of the region, `(S, S)`, 0 on invalid
            pixels, with S >= max(crop_size) (any rotation of the region can
            then be centre-cropped to `crop_size`).
        mask: boolean `(S, S)`, True on valid pixels.
        rng: a `numpy.random.Generator`, the only source of randomness.
        noise: the `KinectNoiseModel` to apply (its `scale` is multiplied by
            the drawn noise factor).
        augmentation: an `Augmentation`.
        crop_size: `(height, width)` of the returned crops.

    Returns:
        `(x, y)`, `np.float32` arrays of shape `crop_size`: `x` the noisy
        augmented crop with every hole filled (no zeros), `y` the clean
        augmented crop, exactly 0 on invalid pixels.

    Raises:
        ValueError: if the region is not square and at least max(crop_size)
            on a side, or if the region has no valid pixel to fill from.
    """
    depth = np.asarray(depth, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    crop_height, crop_width = (int(v) for v in crop_size)
    side = depth.shape[0] if depth.ndim == 2 else -1
    if (depth.shape != (side, side) or mask.shape != depth.shape
            or not (0 < crop_height <= side and 0 < crop_width <= side)):
        raise ValueError(
            f"augment_crop needs a square region and mask of side >= "
            f"max(crop_size) = {max(crop_height, crop_width)}, got depth "
            f"{depth.shape} and mask {mask.shape}."
        )
    # Every draw is made, in this order, whatever the switches.
    turns = int(rng.integers(4))
    flip_lr, flip_ud = (bool(b) for b in rng.integers(2, size=2))
    scale = _log_uniform(rng, *augmentation.depth_scale)
    offset = float(rng.uniform(*augmentation.depth_offset))
    noise_factor = _log_uniform(rng, *augmentation.noise_scale)
    noise_seed = int(rng.integers(2**63))

    if augmentation.rotations and turns:
        depth, mask = np.rot90(depth, turns), np.rot90(mask, turns)
    if augmentation.flips and flip_lr:
        depth, mask = depth[:, ::-1], mask[:, ::-1]
    if augmentation.flips and flip_ud:
        depth, mask = depth[::-1], mask[::-1]
    depth = np.ascontiguousarray(depth)
    mask = np.ascontiguousarray(mask)

    changed = np.clip(depth.astype(np.float64) * scale + offset,
                      _MIN_VALID, _MAX_VALID)
    clean = np.where(mask, changed, 0.0).astype(np.float32)
    noise = dataclasses.replace(noise, scale=noise.scale * noise_factor)
    if not mask.any():
        raise ValueError("augment_crop: the region has no valid pixel.")
    noisy, noisy_mask = noise.apply_numpy(clean, mask, noise_seed)
    if not noisy_mask.any():
        # Dropout removed every valid pixel (rare, few valid pixels): keep
        # them all rather than have nothing to fill from.
        noise = dataclasses.replace(noise, dropout_rate=0.0)
        noisy, noisy_mask = noise.apply_numpy(clean, mask, noise_seed)
    noisy = fill_invalid(noisy, noisy_mask)

    top = (side - crop_height) // 2
    left = (side - crop_width) // 2
    window = (slice(top, top + crop_height), slice(left, left + crop_width))
    return (noisy[window].astype(np.float32),
            clean[window].astype(np.float32))
