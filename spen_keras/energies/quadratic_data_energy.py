"""The Gaussian data term ||y - x||^2 / (2 sigma^2) of the denoising energy."""

import math

import keras
import tensorflow as tf

from spen_keras.energies.base_energy import Energy, check_positive
from spen_keras.energies.base_energy import sum_over_non_batch_axes


@keras.saving.register_keras_serializable(package="spen_keras")
class QuadraticDataEnergy(Energy):
    """Quadratic data term ||y - x||^2 / (2 sigma^2) with trainable sigma^2.

    The negative log-likelihood of y under Gaussian noise around the
    observation x (Table 1's energy, Sec. 6.1). sigma^2 is stored as its log,
    so it stays positive under any optimiser step.

    Heteroscedastic option (beyond the paper): with `noise_profile=(a, b,
    c)` every entry has its own variance sigma^2 r(x_i)^2, where
    r(x) = (a + b (x - c)^2) / a is the relative noise standard deviation of
    a sensor whose noise grows quadratically away from c (a depth camera's,
    e.g.), taken at the observation and equal to 1 at x = c; the learned
    sigma^2 then scales the whole profile. `noise_profile=None` is the
    paper's single constant.

    Args:
        initial_variance: starting sigma^2 (> 0).
        trainable_variance: whether sigma^2 is learned.
        noise_profile: None, or (a, b, c) with a > 0, b >= 0.
        **kwargs: `Energy` arguments (`features_key`, `dtype`, ...).

    Call arguments:
        y: tensor (batch, ...).
        features: the observation x, same shape as y.

    Example:
    >>> energy = QuadraticDataEnergy(initial_variance=0.5)
    >>> x = tf.zeros((2, 4, 4, 1))
    >>> energy(tf.ones((2, 4, 4, 1)), x).numpy().tolist()
    [16.0, 16.0]

    References:
        Belanger, Yang & McCallum. End-to-End Learning for Structured
        Prediction Energy Networks. ICML 2017, Sec. 6.1.
    """

    requires_features = True

    def __init__(self, initial_variance=1.0, trainable_variance=True,
                 noise_profile=None, **kwargs):
        super().__init__(**kwargs)
        self.initial_variance = check_positive(
            "initial_variance", initial_variance
        )
        self.trainable_variance = bool(trainable_variance)
        if noise_profile is not None:
            try:
                a, b, c = (float(v) for v in noise_profile)
            except (TypeError, ValueError):
                raise ValueError(
                    "`noise_profile` must be None or three numbers (a, b, c);"
                    f" got {noise_profile!r}.") from None
            if not (a > 0 and b >= 0 and math.isfinite(b)
                    and math.isfinite(c)):
                raise ValueError(
                    "`noise_profile` (a, b, c) needs a > 0 and finite b >= 0"
                    f", c; got {noise_profile!r}.")
            noise_profile = (a, b, c)
        self.noise_profile = noise_profile

    def build(self, y_shape, features_shape=None):
        self.log_variance = self.add_weight(
            name="log_variance",
            shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_variance)
            ),
            trainable=self.trainable_variance,
        )

    @property
    def variance(self):
        """sigma^2 as a tensor."""
        return tf.exp(self.log_variance)

    def minimum_spatial_size(self):
        """1: the energy is a sum of per-pixel terms."""
        return 1

    def gradient_radius(self):
        """0: dE/dy at a pixel depends on that pixel alone."""
        return 0

    def energy(self, y, features):
        if features.shape.rank is not None and y.shape.rank is not None:
            if not features.shape.is_compatible_with(y.shape):
                raise ValueError(
                    "QuadraticDataEnergy needs the observation x with the "
                    f"shape of y; got y {tuple(y.shape)} and x "
                    f"{tuple(features.shape)}."
                )
        squared = tf.square(y - features)
        if self.noise_profile is not None:
            a, b, c = self.noise_profile
            relative = 1.0 + (b / a) * tf.square(features - c)
            squared = squared / tf.square(relative)
        residual = sum_over_non_batch_axes(squared)
        return residual / (2.0 * self.variance)

    def pixel_variance(self, features):
        """sigma^2 of every entry of the observation (broadcast to its
        shape): the constant, or the profile's."""
        features = tf.convert_to_tensor(features, self.compute_dtype)
        if not self.built:
            self(features, features)  # creates sigma^2
        variance = self.variance * tf.ones_like(features)
        if self.noise_profile is None:
            return variance
        a, b, c = self.noise_profile
        return variance * tf.square(1.0 + (b / a) * tf.square(features - c))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_variance": self.initial_variance,
                "trainable_variance": self.trainable_variance,
                "noise_profile": (None if self.noise_profile is None
                                  else list(self.noise_profile)),
            }
        )
        return config
