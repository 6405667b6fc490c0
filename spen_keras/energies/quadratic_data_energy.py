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

    Args:
        initial_variance: starting sigma^2 (> 0).
        trainable_variance: whether sigma^2 is learned.
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

    def __init__(self, initial_variance=1.0, trainable_variance=True, **kwargs):
        super().__init__(**kwargs)
        self.initial_variance = check_positive(
            "initial_variance", initial_variance
        )
        self.trainable_variance = bool(trainable_variance)

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
        residual = sum_over_non_batch_axes(tf.square(y - features))
        return residual / (2.0 * self.variance)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_variance": self.initial_variance,
                "trainable_variance": self.trainable_variance,
            }
        )
        return config
