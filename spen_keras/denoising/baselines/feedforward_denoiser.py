"""The feed-forward convnet of Sec. 6.1.3: DeepPrior's layers, x -> y."""

import keras

from spen_keras.core.energies.activations import softplus_with_temperature
from spen_keras.core.energies.image_energy import check_conv_stack, pad_same

PADDING_MODES = ("reflect", "zero")


@keras.saving.register_keras_serializable(package="spen_keras")
class FeedForwardDenoiser(keras.Model):
    """Feed-forward convnet baseline of Table 1 ("Feed-forward convnet").

    The paper's Sec. 6.1.3 compares the SPENs with a convnet that has
    DeepPrior's convolutions (Eq. 15) without the spatial pooling and maps
    x to y directly: conv 7x7x32, SoftPlus, conv 7x7x32, SoftPlus, conv 1x1
    to one channel. Convolutions keep the image size by padding
    (`padding="reflect"`, default, mirrors the border like `ImageEnergy`'s
    reflect mode, so no dark frame appears at the border; `"zero"` pads with
    zeros).

    With `residual=True` (default) the network predicts y = x + r(x). This
    is still one direct x -> y map with the same layers, but the network
    only has to model the noise, and its output convolution starts at zero,
    so the untrained model is the identity and training within a few hundred
    steps improves on the noisy input instead of first learning to copy
    depth. `residual=False` gives y = r(x).

    Args:
        filters: widths of the hidden convolutions.
        kernel_sizes: their square kernel sizes (same length as `filters`).
        temperature: SoftPlus temperature (the energies' 25 by default).
        channels: channels of x and y.
        padding: "reflect" or "zero".
        residual: predict y = x + r(x) instead of y = r(x).
        **kwargs: `keras.Model` arguments (name, dtype, trainable).

    Call arguments:
        x: noisy images (batch, height, width, channels); any height and
            width larger than half the largest kernel.

    Example:
    >>> model = FeedForwardDenoiser(filters=(8, 8), kernel_sizes=(3, 3))
    >>> model(tf.random.uniform((1, 37, 53, 1))).shape
    TensorShape([1, 37, 53, 1])

    References:
        Belanger, Yang & McCallum. ICML 2017, Sec. 6.1.3 and Eq. 15.
    """

    def __init__(
        self,
        filters=(32, 32),
        kernel_sizes=(7, 7),
        temperature=25.0,
        channels=1,
        padding="reflect",
        residual=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters, kernel_sizes = check_conv_stack(filters, kernel_sizes)
        if int(channels) < 1:
            raise ValueError(f"`channels` must be >= 1; got {channels!r}.")
        if not float(temperature) > 0:
            raise ValueError(
                f"`temperature` must be > 0; got {temperature!r}.")
        if padding not in PADDING_MODES:
            raise ValueError(
                f"Unknown padding {padding!r}; expected one of "
                f"{PADDING_MODES}.")
        # === Config ===
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.temperature = float(temperature)
        self.channels = int(channels)
        self.padding = padding
        self.residual = bool(residual)
        # === Layers ===
        self.hidden_layers = [
            keras.layers.Conv2D(width, size, padding="valid",
                                name=f"conv_{i}")
            for i, (width, size) in enumerate(zip(filters, kernel_sizes))
        ]
        self.output_layer = keras.layers.Conv2D(
            self.channels, 1, name="output_conv",
            kernel_initializer="zeros" if self.residual else "glorot_uniform")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer, width in zip(self.hidden_layers, self.filters):
            layer.build(shape)
            shape = shape[:-1] + (width,)
        self.output_layer.build(shape)

    def call(self, x):
        hidden = x
        for layer, size in zip(self.hidden_layers, self.kernel_sizes):
            hidden = layer(pad_same(hidden, size, size, self.padding))
            hidden = softplus_with_temperature(hidden, self.temperature)
        output = self.output_layer(hidden)
        return x + output if self.residual else output

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_sizes": list(self.kernel_sizes),
                "temperature": self.temperature,
                "channels": self.channels,
                "padding": self.padding,
                "residual": self.residual,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
