"""DeepPrior: a small convolutional energy over images (Eq. 15)."""

import keras

from spen_keras.core import backend
from spen_keras.core.energies.base_energy import check_positive
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes
from spen_keras.core.energies.image_energy import ImageEnergy, check_conv_stack

REDUCTIONS = ("sum", "mean")


@keras.saving.register_keras_serializable(package="spen_keras")
class DeepPriorEnergy(ImageEnergy):
    """Deep convolutional prior: conv, SoftPlus, ..., 1x1 conv, spatial pool.

    The paper's DeepPrior (Eq. 15) is conv 7x7x32, SoftPlus, conv 7x7x32,
    SoftPlus, conv 1x1 and a spatial average. Widths and kernel sizes are
    configurable. `reduction="sum"` (default) pools by summing over pixels
    instead of averaging: the two differ by the constant factor
    height x width, which the learned 1x1 weights absorb at a fixed size, but
    only the sum gives each pixel a gradient that does not depend on the image
    size, so a prior trained on 96x128 crops behaves the same on whole frames.

    Input-convex option (Amos et al. 2017): with `input_convex=True` every
    kernel after the first is kept non-negative (a `NonNeg` constraint and a
    non-negative initialiser), and SoftPlus is convex and non-decreasing, so
    the energy is convex in y.

    The paper's restriction (Sec. 6.1.3: an ICNN "restricts all convolution
    parameters to be positive") is stronger: `all_positive=True` keeps every
    kernel and bias non-negative, the first layer's included. The energy is
    then convex and also non-decreasing in every pixel of y, which is why
    such a prior cannot denoise well; it is kept to check that claim.

    Args:
        filters: widths of the hidden convolutions.
        kernel_sizes: their square kernel sizes (same length as `filters`).
        temperature: SoftPlus temperature.
        channels: channels of y.
        padding: "valid", "reflect" or "zero" (see `ImageEnergy`).
        reduction: "sum" or "mean" over pixels.
        input_convex: constrain the energy to be convex in y.
        all_positive: keep every kernel and bias non-negative (the paper's
            ICNN restriction; implies convexity).
        **kwargs: `Energy` arguments.

    Call arguments:
        y: images (batch, height, width, channels).
        features: ignored.

    Example:
    >>> prior = DeepPriorEnergy(filters=(8, 8), kernel_sizes=(3, 3))
    >>> prior(tf.zeros((2, 16, 16, 1))).shape
    TensorShape([2])

    References:
        Belanger, Yang & McCallum. ICML 2017, Eq. 15.
        Amos, Xu & Kolter. Input Convex Neural Networks. ICML 2017.
    """

    def __init__(
        self,
        filters=(32, 32),
        kernel_sizes=(7, 7),
        temperature=25.0,
        channels=1,
        padding="valid",
        reduction="sum",
        input_convex=False,
        all_positive=False,
        **kwargs,
    ):
        super().__init__(channels=channels, padding=padding, **kwargs)
        filters, kernel_sizes = check_conv_stack(filters, kernel_sizes)
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"Unknown reduction {reduction!r}; expected one of {REDUCTIONS}."
            )
        self.filters = filters
        self.kernel_sizes = kernel_sizes
        self.temperature = check_positive("temperature", temperature)
        self.reduction = reduction
        self.all_positive = bool(all_positive)
        self.input_convex = bool(input_convex) or self.all_positive

    def _kernel(self, name, shape, constrained):
        fan_in = shape[0] * shape[1] * shape[2]
        if constrained:
            initializer = keras.initializers.RandomUniform(0.0, 2.0 / fan_in)
            constraint = keras.constraints.NonNeg()
        else:
            initializer = keras.initializers.RandomNormal(stddev=fan_in**-0.5)
            constraint = None
        return self.add_weight(
            name=name, shape=shape, initializer=initializer,
            constraint=constraint,
        )

    def build(self, y_shape, features_shape=None):
        self.kernels, self.biases = [], []
        in_channels = self.channels
        for i, (width, size) in enumerate(zip(self.filters, self.kernel_sizes)):
            constrained = self.input_convex and (i > 0 or self.all_positive)
            self.kernels.append(
                self._kernel(f"kernel_{i}", (size, size, in_channels, width),
                             constrained)
            )
            self.biases.append(
                self.add_weight(name=f"bias_{i}", shape=(width,),
                                initializer="zeros",
                                constraint=(keras.constraints.NonNeg()
                                            if self.all_positive else None))
            )
            in_channels = width
        self.output_kernel = self._kernel(
            "output_kernel", (1, 1, in_channels, 1), self.input_convex
        )

    def conv_kernel_sizes(self):
        return list(self.kernel_sizes) + [1]

    def energy(self, y, features):
        # SoftPlus_t(a) = softplus(t a) / t on every hidden unit, with the
        # temperature folded into the (small) kernels instead of applied to
        # the (large) activations: u_i = t h_i = softplus(t a_i), where
        # t a_1 = conv(y, t K_1) + t b_1, t a_i = conv(u_{i-1}, K_i) + t b_i
        # for i > 1, and the scores are conv(u_last, K_out / t). The same
        # function, with two fewer activation-sized multiplications per layer
        # in the energy and in each of its first and second derivatives (the
        # profile of a DP-3 training step put 13% of its op time in `Mul`).
        t = self.temperature
        hidden = y
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            if i == 0:
                kernel = kernel * t
            if i == 0 and self.channels == 1:
                pre = backend.ops().single_channel_conv(
                    self.pad(y, kernel), kernel)
            else:
                pre = self.convolve(hidden, kernel)
            hidden = keras.ops.softplus(pre + bias * t)
        scores = keras.ops.conv(hidden, self.output_kernel / t, 1, "valid")
        if self.reduction == "mean":
            return keras.ops.mean(scores, axis=[1, 2, 3])
        return sum_over_non_batch_axes(scores)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_sizes": list(self.kernel_sizes),
                "temperature": self.temperature,
                "reduction": self.reduction,
                "input_convex": self.input_convex,
                "all_positive": self.all_positive,
            }
        )
        return config
