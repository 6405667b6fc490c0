"""Shared pieces of energies over images y of shape (batch, height, width, C)."""

import tensorflow as tf

from spen_keras.energies.base_energy import Energy

PADDING_MODES = ("valid", "reflect", "zero")


def pad_same(x, size_h, size_w, mode):
    """Pads (batch, H, W, C) so that a 'valid' size_h x size_w convolution
    keeps H and W: mirrored borders for mode "reflect", zeros otherwise."""
    pad_h, pad_w = size_h - 1, size_w - 1
    if pad_h == 0 and pad_w == 0:
        return x
    paddings = [
        [0, 0],
        [pad_h // 2, pad_h - pad_h // 2],
        [pad_w // 2, pad_w - pad_w // 2],
        [0, 0],
    ]
    return tf.pad(x, paddings, mode="REFLECT" if mode == "reflect" else
                  "CONSTANT")


def check_conv_stack(filters, kernel_sizes):
    """Validates the widths and kernel sizes of a stack of convolutions.

    Returns:
        (filters, kernel_sizes) as lists of ints.
    """
    filters = [int(f) for f in filters]
    kernel_sizes = [int(k) for k in kernel_sizes]
    if len(filters) != len(kernel_sizes) or not filters:
        raise ValueError(
            "`filters` and `kernel_sizes` must be non-empty and of equal "
            f"length; got {filters} and {kernel_sizes}."
        )
    if min(filters) < 1 or min(kernel_sizes) < 1:
        raise ValueError("Widths and kernel sizes must be >= 1.")
    return filters, kernel_sizes


class ImageEnergy(Energy):
    """Base class of convolutional energies over (batch, height, width, C).

    Args:
        channels: number of channels C of y.
        padding: how convolutions treat borders. "valid" (default) scores only
            the windows that fit inside the image, the usual field-of-experts
            clique set, with no padding op in the second derivative; "reflect"
            mirrors the border; "zero" pads with zeros.
        **kwargs: `Energy` arguments.
    """

    expected_rank = 4

    def __init__(self, channels=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        if int(channels) < 1:
            raise ValueError(f"`channels` must be >= 1; got {channels!r}.")
        if padding not in PADDING_MODES:
            raise ValueError(
                f"Unknown padding {padding!r}; expected one of {PADDING_MODES}."
            )
        self.channels = int(channels)
        self.padding = padding

    @property
    def expected_last_dim(self):
        return self.channels

    def shape_description(self):
        return f"(batch, height, width, {self.channels})"

    def convolve(self, y, kernel):
        """Stride-1 convolution of `y` with `kernel` under `self.padding`."""
        size_h, size_w = kernel.shape[0], kernel.shape[1]
        if self.padding == "valid" or (size_h == 1 and size_w == 1):
            return tf.nn.conv2d(y, kernel, strides=1, padding="VALID")
        if self.padding == "zero":
            return tf.nn.conv2d(y, kernel, strides=1, padding="SAME")
        padded = pad_same(y, size_h, size_w, "reflect")
        return tf.nn.conv2d(padded, kernel, strides=1, padding="VALID")

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "padding": self.padding})
        return config
