"""ProximalNet: unrolled primal-dual minimisation of an exact l1 FoE energy.

The comparison row "ProximalNet" of Table 1 (Wang, Fidler & Urtasun,
NIPS 2016). Unlike the SPEN rows, which smooth |.| (SoftAbs) and run
gradient descent, the l1 term here is kept exact and handled by its
proximal operator inside Chambolle-Pock iterations, unrolled and trained
end-to-end.
"""

import math

import keras
import numpy as np


def dct_filters(filter_size, num_filters, channels=1):
    """The `num_filters` lowest-frequency non-constant 2-D DCT-II filters.

    The s x s DCT basis is orthonormal, so by Parseval the stacked 'valid'
    convolution K with any subset of it satisfies ||K||^2 <= s^2 (every pixel
    lies in at most s^2 windows). Across `channels` the filter is repeated and
    divided by sqrt(channels), which keeps that bound.

    Returns:
        float32 array (filter_size, filter_size, channels, num_filters).
    """
    size = int(filter_size)
    if not 1 <= num_filters <= size * size - 1:
        raise ValueError(
            f"DCT initialisation gives at most filter_size**2 - 1 = "
            f"{size * size - 1} non-constant filters of size {size}; got "
            f"num_filters={num_filters}."
        )
    i = np.arange(size)
    basis = np.stack([
        np.sqrt((1.0 if u == 0 else 2.0) / size)
        * np.cos(np.pi * (2 * i + 1) * u / (2 * size))
        for u in range(size)
    ])
    frequencies = sorted(
        ((u, v) for u in range(size) for v in range(size) if u or v),
        key=lambda uv: (uv[0] + uv[1], uv[0]),
    )[:num_filters]
    filters = np.stack(
        [np.outer(basis[u], basis[v]) for u, v in frequencies], axis=-1
    )
    filters = np.repeat(filters[:, :, None, :], channels, axis=2)
    return (filters / math.sqrt(channels)).astype("float32")


def convolve(y, filters):
    """K y: 'valid' stride-1 correlation of y with every filter."""
    return keras.ops.conv(y, filters, strides=1, padding="valid")


def convolve_adjoint(p, filters, output_shape):
    """K^T p: the exact adjoint of `convolve` (its transpose convolution)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.nn.conv2d_transpose(p, filters, output_shape=output_shape,
                                      strides=1, padding="VALID")
    return keras.ops.conv_transpose(p, filters, strides=1, padding="valid")


@keras.saving.register_keras_serializable(package="spen_keras")
class ProximalNetDenoiser(keras.Model):
    """ProximalNet (Wang, Fidler & Urtasun, NIPS 2016) for depth denoising.

    Minimises the field-of-experts energy with the exact l1 penalty

        E(y) = lambda / 2 ||y - x||^2 + sum_k w_k ||f_k * y||_1

    by `num_iterations` unrolled Chambolle-Pock (primal-dual) iterations from
    y_0 = ybar_0 = x, p_0 = 0:

        p    <- clip(p + sigma_t K ybar, -w, w)          (prox of (w||.||_1)*)
        y'   <- (y - tau_t K^T p + tau_t lambda x) / (1 + tau_t lambda)
        ybar <- y' + theta (y' - y),  y <- y'

    K stacks the 'valid' correlations with the filters f_k (the usual FoE
    clique set: only windows inside the image), and K^T is its transpose
    convolution, so K^T is the exact adjoint at every image size and borders
    need no padding convention. Every parameter is trained end-to-end through
    the unrolled iterations; lambda, w_k, tau_t and sigma_t are stored as logs
    (kept positive by exp). As in ProximalNet each iteration has its own
    filters and expert weights (`share_filters=False`); `share_filters=True`
    uses one set, i.e. a single energy minimised by all iterations. Step sizes
    are always per iteration.

    Initialisation: the filters start as the lowest-frequency non-constant
    7x7 DCT filters (orthonormal, so ||K||^2 <= filter_size^2 and the
    penalty ignores the absolute depth), w_k = `initial_expert_weight` (a
    threshold in depth units, near the noise level) and
    sigma_t = `step_product` / (tau_t filter_size^2), so tau sigma ||K||^2 <
    1 (Chambolle-Pock's condition) holds at the start. The untrained model
    thus already approximates a few primal-dual steps of a DCT-sparsity
    (TV-like) denoiser: identity plus mild smoothing.

    Args:
        num_iterations: unrolled primal-dual iterations T (paper: 5).
        num_filters: experts per iteration.
        filter_size: side of the square filters.
        share_filters: one filter bank and one set of w_k for every
            iteration instead of one per iteration.
        theta: over-relaxation of ybar (1 in Chambolle-Pock).
        initial_data_weight: initial lambda.
        initial_expert_weight: initial w_k.
        initial_primal_step: initial tau_t.
        step_product: initial tau_t sigma_t filter_size^2 (< 1).
        **kwargs: `keras.Model` arguments (name, dtype, trainable).

    Call arguments:
        x: noisy images (batch, height, width, channels), height and width at
            least `filter_size`.
        return_dual: also return the list of dual variables p_t of every
            iteration, each (batch, height - s + 1, width - s + 1,
            num_filters) and inside [-w_t, w_t] (see `expert_weights`).

    Example:
    >>> model = ProximalNetDenoiser(num_filters=8, filter_size=5)
    >>> model(tf.random.uniform((1, 37, 53, 1))).shape
    TensorShape([1, 37, 53, 1])

    References:
        Wang, Fidler & Urtasun. Proximal Deep Structured Models. NIPS 2016.
        Chambolle & Pock. A first-order primal-dual algorithm for convex
        problems with applications to imaging. JMIV 2011.
    """

    def __init__(
        self,
        num_iterations=5,
        num_filters=24,
        filter_size=7,
        share_filters=False,
        theta=1.0,
        initial_data_weight=1.0,
        initial_expert_weight=0.03,
        initial_primal_step=0.05,
        step_product=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_iterations) < 1:
            raise ValueError(
                f"`num_iterations` must be >= 1; got {num_iterations!r}.")
        positive = {
            "initial_data_weight": initial_data_weight,
            "initial_expert_weight": initial_expert_weight,
            "initial_primal_step": initial_primal_step,
            "step_product": step_product,
        }
        for name, value in positive.items():
            if not float(value) > 0:
                raise ValueError(f"`{name}` must be > 0; got {value!r}.")
        dct_filters(filter_size, num_filters)  # validates the two sizes
        # === Config ===
        self.num_iterations = int(num_iterations)
        self.num_filters = int(num_filters)
        self.filter_size = int(filter_size)
        self.share_filters = bool(share_filters)
        self.theta = float(theta)
        self.initial_data_weight = float(initial_data_weight)
        self.initial_expert_weight = float(initial_expert_weight)
        self.initial_primal_step = float(initial_primal_step)
        self.step_product = float(step_product)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("The channel dimension of x must be known.")
        dct = dct_filters(self.filter_size, self.num_filters, channels)
        banks = () if self.share_filters else (self.num_iterations,)

        def dct_initializer(shape, dtype=None):
            return keras.ops.convert_to_tensor(np.broadcast_to(dct, shape),
                                               dtype=dtype)

        self.filters = self.add_weight(
            name="filters", shape=banks + dct.shape,
            initializer=dct_initializer)
        self.log_expert_weights = self.add_weight(
            name="log_expert_weights", shape=banks + (self.num_filters,),
            initializer=keras.initializers.Constant(
                math.log(self.initial_expert_weight)))
        self.log_data_weight = self.add_weight(
            name="log_data_weight", shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_data_weight)))
        dual_step = self.step_product / (
            self.initial_primal_step * self.filter_size**2)
        self.log_primal_steps = self.add_weight(
            name="log_primal_steps", shape=(self.num_iterations,),
            initializer=keras.initializers.Constant(
                math.log(self.initial_primal_step)))
        self.log_dual_steps = self.add_weight(
            name="log_dual_steps", shape=(self.num_iterations,),
            initializer=keras.initializers.Constant(math.log(dual_step)))

    def iteration_filters(self, t):
        """The filter bank f of iteration t, (s, s, channels, num_filters)."""
        return self.filters if self.share_filters else self.filters[t]

    def expert_weights(self):
        """w_t of every iteration, (num_iterations, num_filters)."""
        w = keras.ops.exp(self.log_expert_weights)
        if self.share_filters:
            w = keras.ops.tile(w[None], [self.num_iterations, 1])
        return w

    def minimize(self, x):
        """Runs the unrolled iterations; returns (y_T, [p_1, ..., p_T])."""
        x = keras.ops.convert_to_tensor(x, self.compute_dtype)
        shape = keras.ops.shape(x)
        data_weight = keras.ops.exp(self.log_data_weight)
        weights = self.expert_weights()
        primal_steps = keras.ops.exp(self.log_primal_steps)
        dual_steps = keras.ops.exp(self.log_dual_steps)
        y = y_bar = x
        dual = None
        duals = []
        for t in range(self.num_iterations):
            filters = self.iteration_filters(t)
            response = dual_steps[t] * convolve(y_bar, filters)
            dual = response if dual is None else dual + response
            dual = keras.ops.minimum(keras.ops.maximum(dual, -weights[t]),
                                     weights[t])
            tau = primal_steps[t]
            y_next = (y - tau * convolve_adjoint(dual, filters, shape)
                      + tau * data_weight * x) / (1.0 + tau * data_weight)
            y_bar = y_next + self.theta * (y_next - y)
            y = y_next
            duals.append(dual)
        return y, duals

    def call(self, x, return_dual=False):
        y, duals = self.minimize(x)
        return (y, duals) if return_dual else y

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_iterations": self.num_iterations,
                "num_filters": self.num_filters,
                "filter_size": self.filter_size,
                "share_filters": self.share_filters,
                "theta": self.theta,
                "initial_data_weight": self.initial_data_weight,
                "initial_expert_weight": self.initial_expert_weight,
                "initial_primal_step": self.initial_primal_step,
                "step_product": self.step_product,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
