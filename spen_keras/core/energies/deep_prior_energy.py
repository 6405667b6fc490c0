"""DeepPrior: a small convolutional energy over images (Eq. 15)."""

import keras
import tensorflow as tf

from spen_keras.core.energies.base_energy import check_positive
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes
from spen_keras.core.energies.image_energy import ImageEnergy, check_conv_stack
from spen_keras.core.energies.saved_model_tracing import is_tracing_for_saved_model

REDUCTIONS = ("sum", "mean")


def _transposed_conv(g, kernel):
    """sum_c full-correlation(g_c, flipped kernel_c), as a depthwise conv."""
    size_h, size_w = kernel.shape[0], kernel.shape[1]
    padded = tf.pad(g, [[0, 0], [size_h - 1, size_h - 1],
                        [size_w - 1, size_w - 1], [0, 0]])
    flipped = tf.reshape(tf.reverse(kernel, [0, 1]), [size_h, size_w, -1, 1])
    return tf.reduce_sum(tf.nn.depthwise_conv2d(
        padded, flipped, [1, 1, 1, 1], "VALID"), axis=-1, keepdims=True)


@tf.custom_gradient
def _transposed_single_channel_conv(g, kernel):
    """The input gradient of a 'valid' conv of a single-channel input:
    sum_c full-correlation(g_c, flipped kernel_c), as a depthwise conv.

    Its own gradients (what the unrolled minimiser's second derivatives
    need) are the forward conv (in g) and the conv's kernel gradient (in
    the kernel), both fast kernels; TensorFlow's gradients of the depthwise
    conv (its kernel gradient ran at a third of the speed) are not used.
    """
    dx = _transposed_conv(g, kernel)

    def grad(v):
        dg = tf.nn.conv2d(v, kernel, 1, "VALID")
        dkernel = tf.raw_ops.Conv2DBackpropFilter(
            input=v, filter_sizes=tf.shape(kernel), out_backprop=g,
            strides=[1, 1, 1, 1], padding="VALID")
        return dg, dkernel

    return dx, grad


@tf.custom_gradient
def single_channel_conv(x, kernel):
    """'valid' conv2d of a single-channel x, whose input gradient runs as a
    depthwise conv of the output gradient summed over channels.

    TensorFlow's input gradient of a conv with one input channel
    (`Conv2DBackpropInput` to 1 channel) ran at about 20 GFLOP/s on oneDNN
    against 350 for the 32 -> 32 convs: the largest single loss in a DP
    training step and in whole-frame inference (`benchmarks/roofline.py`
    times each op alone). The depthwise form of the same sum runs at about
    100 GFLOP/s, and its own gradients (second derivatives, for the unrolled
    minimiser's Hessian-vector products) are a forward conv and a kernel
    gradient (`_transposed_single_channel_conv`).
    """
    out = tf.nn.conv2d(x, kernel, 1, "VALID")

    def grad(g):
        dkernel = tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.shape(kernel), out_backprop=g,
            strides=[1, 1, 1, 1], padding="VALID")
        # Exported, plain ops: a custom gradient inside this backward would
        # not be saved (`saved_model_tracing`).
        transposed = (_transposed_conv if is_tracing_for_saved_model()
                      else _transposed_single_channel_conv)
        return transposed(g, kernel), dkernel

    return out, grad


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
                pre = single_channel_conv(self.pad(y, kernel), kernel)
            else:
                pre = self.convolve(hidden, kernel)
            hidden = tf.nn.softplus(pre + bias * t)
        scores = tf.nn.conv2d(hidden, self.output_kernel / t, 1, "VALID")
        if self.reduction == "mean":
            return tf.reduce_mean(scores, axis=[1, 2, 3])
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
