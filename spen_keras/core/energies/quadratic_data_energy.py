"""The Gaussian data term ||y - x||^2 / (2 sigma^2) of the denoising energy."""

import math

import keras

from spen_keras.core import backend
from spen_keras.core.energies.base_energy import Energy, check_positive
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes


@keras.saving.register_keras_serializable(package="spen_keras")
class QuadraticDataEnergy(Energy):
    """Quadratic data term ||y - x||^2 / (2 sigma^2) with trainable sigma^2.

    The negative log-likelihood of y under Gaussian noise around the
    observation x (Table 1's energy, Sec. 6.1). sigma^2 is stored as its log,
    so it stays positive under any optimiser step.

    Heteroscedastic option (beyond the paper): with `noise_profile=(a, b,
    c)` every entry has its own variance sigma^2 r(x_i)^2, where
    r(x) = (a + b (x - c)^2) / a is the relative noise standard deviation of
    a sensor whose noise grows quadratically away from c (a depth camera's,
    e.g.), taken at the observation and equal to 1 at x = c; the learned
    sigma^2 then scales the whole profile. `noise_profile=None` is the
    paper's single constant.

    Noise-level-aware option (beyond the paper; needs `noise_profile`):
    with `noise_estimate=s_ref` the variance of entry i of example n is
    sigma^2 (s_n / s_ref)^2 r(x_i)^2, where s_ref is the reference noise
    standard deviation at r = 1 (in the data's units) and s_n is a robust
    per-example estimate of the noise standard deviation at r = 1, computed
    from the observation x alone under `tf.stop_gradient` (no gradient flows
    to x through it): with the horizontal neighbour differences
    d = x[:, :, j+1] - x[:, :, j] (along axis 2 of a (batch, H, W, ...)
    input, axis 1 of a (batch, D) one) divided by r at the pair's mean,
    exact zeros (hole-filled runs) and non-finite values left out,
    s_n = median(|d| / r) / (0.6745 sqrt(2)), floored at 1e-3 s_ref, and
    s_ref for an example without any usable pair. A frame twice as noisy
    as the reference thus gets a data term four times weaker. The
    non-trainable scalar weight `noise_override` (initially 0) replaces s_n
    for every example while it is > 0: a user-supplied noise level
    (`spen_keras.denoising.noise_estimate.noise_sigma_mm_to_reference`).
    The numpy reference of the estimate is
    `spen_keras.denoising.noise_estimate.estimate_noise_sigma`.

    Step stability (`scale_steps_below=f_min`, default 0.25, with
    `noise_estimate`): the data term's curvature in y is
    1 / (sigma^2 f_n r^2), f_n = (s_n / s_ref)^2, so a frame 10x quieter than
    the reference has a 100x stiffer data term. A gradient step of learned
    size eta is stable only while eta times that curvature stays below
    about 2; the rates `dp_3_noise_aware` learned on crops with f_n in
    [0.25, 4] (eta / sigma^2 = 0.18-0.21) overshoot by a factor
    eta / (sigma^2 f_n) - 1 per step once f_n < 0.1, and three steps on a
    raw Kinect frame (f_n = 0.003-0.014) grew the error to metres. The term
    therefore declares the per-example preconditioner
    `step_scale` = min(1, f_n / f_min) (`Energy.step_scale`): a frame at
    least as noisy as f_min takes exactly the steps it was trained with; a
    quieter one takes steps shortened so that the data term contracts y
    towards x per step exactly as at f_min, and the prior's pull shrinks
    with f_n (the same minimum; on a noiseless frame y stays at x). Set
    f_min to the quietest level the model is trained on ((0.5)^2 for noise
    scaled by 0.5-2); `scale_steps_below=None` never scales.

    Args:
        initial_variance: starting sigma^2 (> 0).
        trainable_variance: whether sigma^2 is learned.
        noise_profile: None, or (a, b, c) with a > 0, b >= 0.
        noise_estimate: None, or s_ref > 0 (finite; needs `noise_profile`):
            scale the variance by (estimated noise level / s_ref)^2.
        scale_steps_below: with `noise_estimate`, f_min > 0: shorten the
            minimiser's steps on frames with (s_n / s_ref)^2 below it by
            that ratio over f_min (see above); None: never. Ignored without
            `noise_estimate`.
        **kwargs: `Energy` arguments (`features_key`, `dtype`, ...).

    Call arguments:
        y: tensor (batch, ...).
        features: the observation x, same shape as y.

    Example:
    >>> energy = QuadraticDataEnergy(initial_variance=0.5)
    >>> x = tf.zeros((2, 4, 4, 1))
    >>> energy(tf.ones((2, 4, 4, 1)), x).numpy().tolist()
    [16.0, 16.0]

    With a per-frame noise estimate, a frame of the reference noise level
    (+/- 0.01 checkerboard: s_n = 0.02 / (0.6745 sqrt(2))) keeps sigma^2;
    the override sets the level by hand:

    >>> s_ref = 0.02 / (0.6745 * math.sqrt(2))
    >>> aware = QuadraticDataEnergy(initial_variance=0.5,
    ...                             noise_profile=(1.0, 0.0, 0.0),
    ...                             noise_estimate=s_ref)
    >>> checker = 0.01 * (-1.0) ** np.add.outer(np.arange(4), np.arange(4))
    >>> x = tf.constant(0.3 + checker, tf.float32)[None, ..., None]
    >>> round(float(aware(x + 1.0, x)[0]), 4)
    16.0
    >>> _ = aware.noise_override.assign(2 * s_ref)
    >>> round(float(aware(x + 1.0, x)[0]), 4)
    4.0

    References:
        Belanger, Yang & McCallum. End-to-End Learning for Structured
        Prediction Energy Networks. ICML 2017, Sec. 6.1.
    """

    requires_features = True

    def __init__(self, initial_variance=1.0, trainable_variance=True,
                 noise_profile=None, noise_estimate=None,
                 scale_steps_below=0.25, **kwargs):
        super().__init__(**kwargs)
        self.initial_variance = check_positive(
            "initial_variance", initial_variance
        )
        self.trainable_variance = bool(trainable_variance)
        if noise_profile is not None:
            try:
                a, b, c = (float(v) for v in noise_profile)
            except (TypeError, ValueError):
                raise ValueError(
                    "`noise_profile` must be None or three numbers (a, b, c);"
                    f" got {noise_profile!r}.") from None
            if not (a > 0 and b >= 0 and math.isfinite(b)
                    and math.isfinite(c)):
                raise ValueError(
                    "`noise_profile` (a, b, c) needs a > 0 and finite b >= 0"
                    f", c; got {noise_profile!r}.")
            noise_profile = (a, b, c)
        self.noise_profile = noise_profile
        if noise_estimate is not None:
            if noise_profile is None:
                raise ValueError(
                    "`noise_estimate` needs a `noise_profile` (a, b, c); use "
                    "noise_profile=(1, 0, 0) for noise that does not depend "
                    "on x.")
            try:
                reference = float(noise_estimate)
            except (TypeError, ValueError):
                reference = math.nan
            if not (math.isfinite(reference) and reference > 0):
                raise ValueError(
                    "`noise_estimate` must be None or a finite number > 0 "
                    f"(the reference noise std at r = 1); got "
                    f"{noise_estimate!r}.")
            noise_estimate = reference
        self.noise_estimate = noise_estimate
        if scale_steps_below is not None:
            scale_steps_below = check_positive("scale_steps_below",
                                               scale_steps_below)
        self.scale_steps_below = scale_steps_below

    def build(self, y_shape, features_shape=None):
        self.log_variance = self.add_weight(
            name="log_variance",
            shape=(),
            initializer=keras.initializers.Constant(
                math.log(self.initial_variance)
            ),
            trainable=self.trainable_variance,
        )
        if self.noise_estimate is not None:
            self.noise_override = self.add_weight(
                name="noise_override",
                shape=(),
                initializer="zeros",
                trainable=False,
            )

    @property
    def variance(self):
        """sigma^2 as a tensor."""
        return keras.ops.exp(self.log_variance)

    def minimum_spatial_size(self):
        """1: the energy is a sum of per-pixel terms."""
        return 1

    def gradient_radius(self):
        """0: dE/dy at a pixel depends on that pixel alone (and on x there).

        With `noise_estimate` it also depends on the whole frame's noise
        estimate, which a tile would not reproduce: None (not tileable)
        unless `noise_override` is set (> 0, read eagerly)."""
        if self.noise_estimate is None:
            return 0
        if not (self.built and backend.ops().can_read(self.noise_override)):
            return None
        return 0 if float(keras.ops.convert_to_numpy(
            self.noise_override)) > 0 else None

    def relative_noise(self, features):
        """r(x) of the noise profile (1 without one), same shape as x."""
        if self.noise_profile is None:
            return keras.ops.ones_like(features)
        a, b, c = self.noise_profile
        return 1.0 + (b / a) * keras.ops.square(features - c)

    def estimate_noise_level(self, features):
        """The robust per-example noise std at r = 1, s_n, shape (batch,).

        See the class docstring; computed under `tf.stop_gradient`, graph
        safe for unknown batch and spatial sizes. Ignores `noise_override`
        (see `noise_level`). Needs `noise_estimate`.
        """
        if self.noise_estimate is None:
            raise ValueError("estimate_noise_level needs a QuadraticDataEnergy"
                             " built with noise_estimate=s_ref.")
        x = keras.ops.stop_gradient(keras.ops.convert_to_tensor(features))
        rank = len(x.shape)
        if rank < 2:
            raise ValueError("QuadraticDataEnergy's noise estimate needs x of "
                             f"known rank >= 2 (batch, ...); got {x.shape}.")
        axis = 2 if rank >= 3 else 1
        head = (slice(None),) * axis
        left = x[head + (slice(None, -1),)]
        right = x[head + (slice(1, None),)]
        d = right - left
        ops = keras.ops
        scaled = ops.abs(d) / self.relative_noise(0.5 * (left + right))
        valid = ops.logical_and(
            ops.logical_and(ops.isfinite(d), ops.not_equal(d, 0.0)),
            ops.isfinite(scaled))
        batch = ops.shape(x)[0]
        scaled = ops.reshape(scaled, (batch, -1))
        valid = ops.reshape(valid, (batch, -1))
        inf = ops.convert_to_tensor(math.inf, scaled.dtype)
        # Invalid entries sort last; one extra +inf column keeps the gathers
        # in range when an example has no pair at all (width 1).
        ordered = ops.sort(ops.concatenate(
            [ops.where(valid, scaled, inf),
             ops.full((batch, 1), math.inf, dtype=scaled.dtype)], axis=1),
            axis=1)
        count = ops.sum(ops.cast(valid, "int32"), axis=1)
        low = ops.maximum((count - 1) // 2, 0)
        high = count // 2

        def middle(index):
            return ops.take_along_axis(ordered, index[:, None], axis=1)[:, 0]

        median = 0.5 * (middle(low) + middle(high))
        reference = ops.convert_to_tensor(self.noise_estimate, scaled.dtype)
        level = ops.maximum(median / (0.6745 * math.sqrt(2.0)),
                            1e-3 * reference)
        return ops.stop_gradient(
            ops.where(count > 0, level,
                      ops.full((batch,), self.noise_estimate,
                               dtype=scaled.dtype)))

    def noise_level(self, features):
        """s_n as used by the energy: `noise_override` for every example
        while it is > 0, else `estimate_noise_level(x)`; shape (batch,)."""
        features = keras.ops.convert_to_tensor(features, self.compute_dtype)
        if not self.built:
            self(features, features)  # creates the weights
        override = keras.ops.cast(self.noise_override, features.dtype)
        # A cond: with an override, the estimate (a sort) is not computed.
        return keras.ops.cond(
            override > 0,
            lambda: keras.ops.ones_like(keras.ops.reshape(
                features, (keras.ops.shape(features)[0], -1))[:, 0])
            * override,
            lambda: self.estimate_noise_level(features))

    def _noise_factor(self, features):
        """(s_n / s_ref)^2 per example, shape (batch,)."""
        return keras.ops.square(self.noise_level(features)
                                / self.noise_estimate)

    def step_scale(self, features):
        """min(1, (s_n / s_ref)^2 / f_min) per example with `noise_estimate`
        and `scale_steps_below=f_min`, else None (see the class
        docstring)."""
        if self.noise_estimate is None or self.scale_steps_below is None:
            return None
        features = keras.ops.convert_to_tensor(features, self.compute_dtype)
        return keras.ops.stop_gradient(keras.ops.minimum(
            self._noise_factor(features) / self.scale_steps_below, 1.0))

    def energy(self, y, features):
        if not _compatible(features.shape, y.shape):
            raise ValueError(
                "QuadraticDataEnergy needs the observation x with the "
                f"shape of y; got y {tuple(y.shape)} and x "
                f"{tuple(features.shape)}."
            )
        squared = keras.ops.square(y - features)
        if self.noise_profile is not None:
            a, b, c = self.noise_profile
            relative = 1.0 + (b / a) * keras.ops.square(features - c)
            squared = squared / keras.ops.square(relative)
        residual = sum_over_non_batch_axes(squared)
        if self.noise_estimate is not None:
            residual = residual / self._noise_factor(features)
        return residual / (2.0 * self.variance)

    def pixel_variance(self, features):
        """sigma^2 of every entry of the observation (broadcast to its
        shape): the constant, or the profile's, times (s_n / s_ref)^2 with
        `noise_estimate`."""
        features = keras.ops.convert_to_tensor(features, self.compute_dtype)
        if not self.built:
            self(features, features)  # creates sigma^2
        variance = self.variance * keras.ops.ones_like(features)
        if self.noise_estimate is not None:
            factor = self._noise_factor(features)
            variance = variance * keras.ops.reshape(
                factor, (-1,) + (1,) * (len(features.shape) - 1))
        if self.noise_profile is None:
            return variance
        return variance * keras.ops.square(self.relative_noise(features))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "initial_variance": self.initial_variance,
                "trainable_variance": self.trainable_variance,
                "noise_profile": (None if self.noise_profile is None
                                  else list(self.noise_profile)),
                "noise_estimate": self.noise_estimate,
                "scale_steps_below": self.scale_steps_below,
            }
        )
        return config


def _compatible(a, b):
    """Whether two static shapes can be the same (None matches anything)."""
    return len(a) == len(b) and all(
        p is None or q is None or p == q for p, q in zip(a, b))
