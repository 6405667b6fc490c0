"""Entropy smoothing: weight * sum_i -H(y_i) added to a simplex energy."""

import keras

from spen_keras.core.energies.base_energy import Energy, check_positive
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes

MODES = ("simplex", "bernoulli")


@keras.saving.register_keras_serializable(package="spen_keras")
class EntropyEnergy(Energy):
    """Negative entropy of the marginals, times a weight (Sec. 4.2).

    Adding weight * sum_i y_i log y_i to the energy (i.e. subtracting the
    entropy) makes minimisation over the simplex strongly convex near the
    vertices and smooths the landscape. In "simplex" mode the last axis of y
    is a distribution; in "bernoulli" mode every entry is an independent
    probability: y log y + (1 - y) log(1 - y).

    Args:
        weight: the smoothing strength (> 0).
        mode: "simplex" or "bernoulli".
        epsilon: floor inside the logarithm.
        **kwargs: `Energy` arguments.

    Example:
    >>> entropy = EntropyEnergy(weight=1.0)
    >>> round(float(entropy(tf.fill((1, 1, 2), 0.5))[0]), 4)  # -log 2
    -0.6931
    """

    def __init__(self, weight=1.0, mode="simplex", epsilon=1e-8, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown mode {mode!r}; expected one of {MODES}.")
        self.weight = check_positive("weight", weight)
        self.mode = mode
        self.epsilon = check_positive("epsilon", epsilon)

    def minimum_spatial_size(self):
        """1: the energy is a sum of per-position terms."""
        return 1

    def gradient_radius(self):
        """0: dE/dy at a position depends on that position alone."""
        return 0

    def energy(self, y, features):
        def x_log_x(values):
            return values * keras.ops.log(keras.ops.maximum(values,
                                                           self.epsilon))

        negative_entropy = x_log_x(y)
        if self.mode == "bernoulli":
            negative_entropy += x_log_x(1.0 - y)
        return self.weight * sum_over_non_batch_axes(negative_entropy)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"weight": self.weight, "mode": self.mode, "epsilon": self.epsilon}
        )
        return config
