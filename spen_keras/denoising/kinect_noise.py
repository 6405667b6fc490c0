"""Seeded synthetic Kinect-like noise for the 7-Scenes denoising benchmark.

The 7-Scenes frames hold raw Kinect depth only, with no clean/noisy pairs, so
the benchmark treats the raw frame as the clean target and adds synthetic
noise at run time (README.md, "Protocols"). The model has two parts:

1. Depth-dependent Gaussian noise on every valid pixel, with the Kinect v1
   axial standard deviation of Nguyen, Izadi & Lovell (2012)::

       sigma_m(z) = 0.0012 + 0.0019 * (z - 0.4)**2      (z and sigma in metres)

   converted to normalised units (millimetres / 5000, so metres / 5) and
   multiplied by `scale`::

       sigma(y) = scale * sigma_m(5 * y) / 5            (y normalised depth)

   The real sensor noise is far below the regime of the paper's Table 1 (a
   noisy-input PSNR near 29 dB), hence the large default `scale`.
2. Missing pixels: each valid pixel independently loses its reading (becomes
   0, i.e. invalid) with probability `dropout_rate`.

Invalid input pixels stay exactly 0 and receive no noise; noisy valid values
are clipped to [1, 65534] mm / 5000 so they stay > 0 and representable as
uint16 (see `depth_normalization`).

Calibration of the defaults (`scale=27.5`, `dropout_rate=0.02`): on the 6
shipped 7-Scenes "stairs" TEST frames (sequences 1 and 4, frames 0-2), with
the noise seeds of `make_evaluation_arrays(seed=1234)`, missing noisy pixels
filled by `fill_invalid` and PSNR = 20 log10(1 / RMSE) over the clean valid
pixels, the mean noisy-input PSNR is 29.03 dB (per frame 31.07, 31.03, 31.05,
27.23, 26.87, 26.92; sequence 4 is farther away, hence noisier).

Two entry points with the same semantics and the same distribution:
`apply_numpy` draws with `np.random.default_rng(seed)`, `apply_tf` with
stateless TensorFlow ops (usable inside `tf.data.Dataset.map`). They do not
produce the same random draws for the same seed.

References:
    Nguyen, Izadi & Lovell. "Modeling Kinect Sensor Noise for Improved 3D
    Reconstruction and Tracking." 3DIMPVT 2012.
"""

import dataclasses

import numpy as np

from spen_keras.core.backend import require_tensorflow
from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM

# Normalised depth y is metres / METRES_PER_UNIT.
METRES_PER_UNIT = DEPTH_SCALE_MM / 1000.0
_MIN_NOISY = 1.0 / DEPTH_SCALE_MM
_MAX_NOISY = 65534.0 / DEPTH_SCALE_MM


@dataclasses.dataclass(frozen=True)
class KinectNoiseModel:
    """Depth-dependent Gaussian noise plus missing pixels (Nguyen et al. 2012).

    Args:
        scale: multiplier on the sensor's axial noise standard deviation.
        dropout_rate: probability that a valid pixel loses its reading.
        sigma_offset_m: constant term of sigma_m(z), metres.
        sigma_quadratic_m: quadratic coefficient of sigma_m(z), 1 / metres.
        sigma_center_m: depth at which sigma_m(z) is smallest, metres.

    Example:

    >>> noise = KinectNoiseModel()
    >>> clean = np.full((4, 4), 0.4, np.float32)  # 2 metres
    >>> noisy, noisy_mask = noise.apply_numpy(clean, clean > 0, seed=0)
    >>> noisy.shape, noisy_mask.dtype
    ((4, 4), dtype('bool'))
    """

    scale: float = 27.5
    dropout_rate: float = 0.02
    sigma_offset_m: float = 0.0012
    sigma_quadratic_m: float = 0.0019
    sigma_center_m: float = 0.4

    def __post_init__(self):
        if not self.scale >= 0:
            raise ValueError(f"scale must be >= 0, got {self.scale}.")
        if not 0 <= self.dropout_rate < 1:
            raise ValueError(
                f"dropout_rate must be in [0, 1), got {self.dropout_rate}."
            )

    def sigma(self, depth):
        """Returns the noise standard deviation at a normalised depth.

        Args:
            depth: normalised depth (numpy array, tensor or float).

        Returns:
            `scale * sigma_m(METRES_PER_UNIT * depth) / METRES_PER_UNIT`,
            with the type of `depth`.
        """
        z = depth * METRES_PER_UNIT
        sigma_m = (
            self.sigma_offset_m
            + self.sigma_quadratic_m * (z - self.sigma_center_m) ** 2
        )
        return self.scale * sigma_m / METRES_PER_UNIT

    def noise_profile(self):
        """(a, b, c) with sigma(y) = a + b (y - c)^2 in normalised units:
        the `noise_profile` of a `QuadraticDataEnergy` whose variance
        follows this model's depth dependence (its learned sigma^2 then
        plays the part of `scale`)."""
        a = self.scale * self.sigma_offset_m / METRES_PER_UNIT
        b = self.scale * self.sigma_quadratic_m * METRES_PER_UNIT
        c = self.sigma_center_m / METRES_PER_UNIT
        return (a, b, c)

    def apply_numpy(self, clean, mask, seed):
        """Adds noise and missing pixels with numpy.

        Args:
            clean: float array of normalised depth, any shape.
            mask: boolean array of the same shape, True on valid pixels.
            seed: int seed for `np.random.default_rng`.

        Returns:
            `(noisy, noisy_mask)`: `noisy` is `np.float32` with 0 wherever
            `noisy_mask` is False; `noisy_mask` is `mask` minus the dropped
            pixels.
        """
        clean = np.asarray(clean, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != clean.shape:
            raise ValueError(
                f"mask shape {mask.shape} does not match clean shape "
                f"{clean.shape}."
            )
        rng = np.random.default_rng(seed)
        gaussian = rng.standard_normal(clean.shape, dtype=np.float32)
        uniform = rng.random(clean.shape, dtype=np.float32)
        noisy = clean + self.sigma(clean) * gaussian
        noisy_mask = mask & (uniform >= self.dropout_rate)
        noisy = np.where(noisy_mask, np.clip(noisy, _MIN_NOISY, _MAX_NOISY), 0)
        return noisy.astype(np.float32), noisy_mask

    def apply_tf(self, clean, mask, seed):
        """Adds noise and missing pixels with stateless TensorFlow ops.

        Same distribution as `apply_numpy`, different random draws. Works
        eagerly and inside `tf.function` / `tf.data.Dataset.map`.

        Args:
            clean: float tensor of normalised depth, any shape.
            mask: boolean (or 0/1) tensor of the same shape.
            seed: int tensor or sequence of shape `[2]` (stateless seed).

        Returns:
            `(noisy, noisy_mask)`: a `tf.float32` tensor with 0 wherever the
            boolean tensor `noisy_mask` is False.

        Raises:
            TensorFlowRequiredError: TensorFlow is not installed.
        """
        tf = require_tensorflow("The Kinect noise model's TensorFlow draws")
        clean = tf.convert_to_tensor(clean, dtype=tf.float32)
        mask = tf.cast(mask, tf.bool)
        seed = tf.convert_to_tensor(seed)
        if seed.dtype not in (tf.int32, tf.int64):
            seed = tf.cast(seed, tf.int64)
        normal_seed, uniform_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, num=2)
        )
        shape = tf.shape(clean)
        gaussian = tf.random.stateless_normal(shape, seed=normal_seed)
        uniform = tf.random.stateless_uniform(shape, seed=uniform_seed)
        noisy = clean + self.sigma(clean) * gaussian
        noisy_mask = tf.logical_and(mask, uniform >= self.dropout_rate)
        noisy = tf.where(
            noisy_mask,
            tf.clip_by_value(noisy, _MIN_NOISY, _MAX_NOISY),
            tf.zeros_like(noisy),
        )
        return noisy, noisy_mask

    def get_config(self):
        """Returns the constructor arguments, for logging and presets."""
        return dataclasses.asdict(self)
