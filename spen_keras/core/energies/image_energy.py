"""Shared pieces of energies over images y of shape (batch, height, width, C)."""

import keras

from spen_keras.core.energies.base_energy import Energy
from spen_keras.core.energies.base_energy import known_sizes
from spen_keras.core.energies.base_energy import static_rank

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
    return keras.ops.pad(x, paddings,
                         mode="reflect" if mode == "reflect" else "constant")


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

    def conv_kernel_sizes(self):
        """Side lengths of the square kernels of the convolutions applied in
        sequence to y (1x1 ones may be left out). Subclasses override it."""
        raise NotImplementedError

    def minimum_spatial_size(self):
        """Smallest height and width of y (see `Energy.minimum_spatial_size`).

        "valid": one window of the whole stack must fit, sum_l (k_l - 1) + 1.
        "reflect": every layer keeps the size and pads ceil((k - 1) / 2)
        mirrored pixels on one side, which needs at least that many plus one
        pixels, so max_l ceil((k_l - 1) / 2) + 1. "zero": 1.
        """
        sizes = self.conv_kernel_sizes()
        if self.padding == "valid":
            return sum(k - 1 for k in sizes) + 1
        if self.padding == "reflect":
            return max([(k - 1) - (k - 1) // 2 + 1 for k in sizes] + [1])
        return 1

    def gradient_radius(self):
        """sum_l (k_l - 1) over the convolution stack, for every padding.

        Derivation: each layer's output at p reads its input on a window of
        k_l pixels containing p, so an output of the whole stack reads y on a
        window W(p) of S = sum_l (k_l - 1) + 1 pixels. E is a sum over
        outputs p of functions of y on W(p), so dE/dy_i sums the derivatives
        of the outputs whose window contains i, and each of those depends on
        y over its own window. A window of S pixels that contains i lies in
        [i - (S - 1), i + (S - 1)], hence the radius S - 1 in each direction,
        and with generic weights the pixels at exactly that distance do
        matter (the window that starts, or ends, at i). Padding only changes
        which windows exist near the border; mirrored or zero pixels are
        never farther than that (`tests/core/test_tiled_inference.py` checks this
        numerically).
        """
        return sum(k - 1 for k in self.conv_kernel_sizes())

    def check_y(self, y):
        super().check_y(y)
        minimum = self.minimum_spatial_size()
        shape = y.shape
        rank = static_rank(shape)
        if rank is None or rank < 3 or minimum <= 1:
            return
        small = [d for d in known_sizes(shape[1:-1]) if d < minimum]
        if small:
            raise ValueError(
                f"{self.__class__.__name__} with padding {self.padding!r} "
                f"needs y of at least {minimum}x{minimum} pixels; got shape "
                f"{tuple(shape)}."
            )

    def pad(self, y, kernel):
        """y padded as `convolve` pads it, so that a 'valid' convolution of
        the result with `kernel` equals `convolve(y, kernel)`."""
        size_h, size_w = kernel.shape[0], kernel.shape[1]
        if self.padding == "valid":
            return y
        return pad_same(y, size_h, size_w, self.padding)

    def convolve(self, y, kernel):
        """Stride-1 convolution of `y` with `kernel` under `self.padding`."""
        size_h, size_w = kernel.shape[0], kernel.shape[1]
        if self.padding == "valid" or (size_h == 1 and size_w == 1):
            return keras.ops.conv(y, kernel, strides=1, padding="valid")
        if self.padding == "zero":
            return keras.ops.conv(y, kernel, strides=1, padding="same")
        padded = pad_same(y, size_h, size_w, "reflect")
        return keras.ops.conv(padded, kernel, strides=1, padding="valid")

    def get_config(self):
        config = super().get_config()
        config.update({"channels": self.channels, "padding": self.padding})
        return config
