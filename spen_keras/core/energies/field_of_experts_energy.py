"""Field-of-experts prior: sum_k ||f_k * y||_1 with a smooth |.| (Eq. 13-14)."""

import keras

from spen_keras.core.energies.activations import soft_abs
from spen_keras.core.energies.base_energy import check_positive
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes
from spen_keras.core.energies.image_energy import ImageEnergy


@keras.saving.register_keras_serializable(package="spen_keras")
class FieldOfExpertsEnergy(ImageEnergy):
    """Field-of-experts image prior with K learned filters.

    E(y) = sum_k sum_pixels SoftAbs(f_k * y), where SoftAbs is the
    SoftPlus-based smooth |.| of Eq. 14 at the given temperature. It is convex
    in y for any filters (a sum of convex functions of linear maps of y), so
    `input_convex` needs no constraint here and is accepted for symmetry with
    the other energies.

    Args:
        num_filters: number of experts K.
        filter_size: side of the square filters.
        temperature: SoftPlus temperature of SoftAbs (paper: 25).
        channels: channels of y.
        padding: "valid", "reflect" or "zero" (see `ImageEnergy`).
        input_convex: accepted and recorded; the energy is always convex.
        **kwargs: `Energy` arguments.

    Call arguments:
        y: images (batch, height, width, channels).
        features: ignored.

    Example:
    >>> prior = FieldOfExpertsEnergy(num_filters=8, filter_size=5)
    >>> prior(tf.zeros((2, 16, 16, 1))).shape
    TensorShape([2])

    References:
        Roth & Black. Fields of Experts. IJCV 2009.
        Belanger, Yang & McCallum. ICML 2017, Eq. 13-14.
    """

    def __init__(
        self,
        num_filters=20,
        filter_size=7,
        temperature=25.0,
        channels=1,
        padding="valid",
        input_convex=False,
        **kwargs,
    ):
        super().__init__(channels=channels, padding=padding, **kwargs)
        if int(num_filters) < 1 or int(filter_size) < 1:
            raise ValueError(
                "`num_filters` and `filter_size` must be >= 1; got "
                f"{num_filters!r} and {filter_size!r}."
            )
        self.num_filters = int(num_filters)
        self.filter_size = int(filter_size)
        self.temperature = check_positive("temperature", temperature)
        self.input_convex = bool(input_convex)

    def build(self, y_shape, features_shape=None):
        fan_in = self.filter_size * self.filter_size * self.channels
        self.filters = self.add_weight(
            name="filters",
            shape=(self.filter_size, self.filter_size, self.channels,
                   self.num_filters),
            initializer=keras.initializers.RandomNormal(
                stddev=1.0 / fan_in**0.5
            ),
        )

    def conv_kernel_sizes(self):
        return [self.filter_size]

    def energy(self, y, features):
        responses = self.convolve(y, self.filters)
        return sum_over_non_batch_axes(soft_abs(responses, self.temperature))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_filters": self.num_filters,
                "filter_size": self.filter_size,
                "temperature": self.temperature,
                "input_convex": self.input_convex,
            }
        )
        return config
