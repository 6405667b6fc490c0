"""Local label energy: a linear score of each label from the features."""

import keras

from spen_keras.core.energies.base_energy import Energy
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes


@keras.saving.register_keras_serializable(package="spen_keras")
class LocalLinearEnergy(Energy):
    """E_local(y; F(x)) = -sum_i <y_i, W f_i + b> (Eq. 11's local terms).

    Every position i (any number of axes between batch and labels) scores its
    labels linearly from its own feature vector f_i. Linear in y, hence convex.

    Args:
        num_labels: size L of the label axis of y (its last axis).
        **kwargs: `Energy` arguments.

    Call arguments:
        y: (batch, ..., L) label marginals or indicators.
        features: (batch, ..., F), the same leading shape as y.

    Example:
    >>> local = LocalLinearEnergy(num_labels=3)
    >>> local(tf.fill((2, 5, 3), 1 / 3), tf.ones((2, 5, 4))).shape
    TensorShape([2])
    """

    requires_features = True

    def __init__(self, num_labels, **kwargs):
        super().__init__(**kwargs)
        if int(num_labels) < 1:
            raise ValueError(f"`num_labels` must be >= 1; got {num_labels!r}.")
        self.num_labels = int(num_labels)

    @property
    def expected_last_dim(self):
        return self.num_labels

    def shape_description(self):
        return f"(batch, ..., {self.num_labels})"

    def build(self, y_shape, features_shape=None):
        features_shape = self.select_features_shape(features_shape)
        if features_shape is None or features_shape[-1] is None:
            raise ValueError(
                "LocalLinearEnergy needs features with a known last dimension "
                f"to build; got features shape {features_shape}."
            )
        self.kernel = self.add_weight(
            name="kernel", shape=(features_shape[-1], self.num_labels),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(
            name="bias", shape=(self.num_labels,), initializer="zeros"
        )

    def local_scores(self, features):
        """Per-position label scores W f_i + b, shape (batch, ..., L)."""
        return keras.ops.tensordot(features, self.kernel, axes=1) + self.bias

    def minimum_spatial_size(self):
        """1: the energy is a sum of per-position terms."""
        return 1

    def gradient_radius(self):
        """0: dE/dy at a position depends on that position alone."""
        return 0

    def energy(self, y, features):
        return -sum_over_non_batch_axes(y * self.local_scores(features))

    def get_config(self):
        config = super().get_config()
        config.update({"num_labels": self.num_labels})
        return config
