"""UnrolledMinimizer: T differentiable steps of energy minimisation.

This is the one place that knows about Hessian-vector products,
checkpointing, early stopping and the returned iterates. The step's
arithmetic is `keras.ops`; the gradient in y and its differentiation, and
the checkpointed step, come from `spen_keras.core.backend` (what follows
describes the TensorFlow reference; JAX uses `jax.grad` and
`jax.checkpoint`, PyTorch `torch.autograd.grad(create_graph=True)` and
`torch.utils.checkpoint`; finite-difference HVPs a `jax.custom_vjp` and a
`torch.autograd.Function` with the same central differences).

Second-order terms. Back-propagating a loss on y_T through a step
y_{t+1} = y_t - eta_t dE/dy needs the Hessian-vector products H v and
(d^2E / d theta dy) v. By default they are exact: dE/dy is taken with an inner
`tf.GradientTape` inside whatever tape is differentiating the loss, so the
outer tape differentiates the inner gradient. `hvp="finite_difference"`
instead wraps dE/dy in a `tf.custom_gradient` whose backward pass uses
central differences of first-order gradients (Domke 2012):
    J^T v ~ (grad E(y + eps v) - grad E(y - eps v)) / (2 eps),
for the derivatives with respect to y, the features and every variable of the
energy, with eps = fd_radius / ||v|| so the probe has length `fd_radius`.

Checkpointing. `tf.recompute_grad` cannot wrap a step: it stops every tape
while it runs the forward pass, so the step's own inner gradient would come
back None. `checkpoint=True` wraps each step in its own `tf.custom_gradient`
that keeps only the step's inputs (the iterates) and, in the backward pass,
recomputes the step, inner gradient included, under a fresh tape. Inside
`tf.function` the recomputation is put behind a control dependency on the
incoming gradient; without it the graph is free to run every recomputation
early, during the forward pass, and nothing is saved. The saving is therefore
a graph-mode one (as in `model.fit`); eagerly the gradients are the same but
the outer tape still holds the forward internals.

Preconditioning. An energy may scale its gradient per example
(`Energy.step_scale`, e.g. the noise-aware `QuadraticDataEnergy`): every step
then moves example n by s_n eta_t times its direction, the same as minimising
s_n E (same minimum, different step lengths).

Early stop. With `tolerance` set, minimisation stops once the root-mean-square
change of every example's y between two steps is at most `tolerance`; later
iterates repeat the converged one. In graph mode each remaining step sits in a
`tf.cond`, so a converged batch skips the work, and in training the gradient
flows back only from the step where it converged (Sec. 4.3).
"""

import collections
import math

import keras

from spen_keras.core import backend
from spen_keras.core.energies.base_energy import check_positive
from spen_keras.core.energies.saved_model_tracing import is_tracing_for_saved_model
from spen_keras.core.step_rules import get_step_rule
from spen_keras.core.step_rules.step_rule import serialize_step_rule

HVP_MODES = ("exact", "finite_difference")

MinimizationResult = collections.namedtuple(
    "MinimizationResult", ["y", "iterates", "num_steps"]
)
MinimizationResult.__doc__ = """What `UnrolledMinimizer.minimize` returns.

Fields:
    y: the last iterate y_T.
    iterates: y_1 ... y_T stacked on a new leading axis, (T, batch, ...).
    num_steps: int32 scalar, the steps actually taken (< T after early stop).
"""


@keras.saving.register_keras_serializable(package="spen_keras")
class UnrolledMinimizer(keras.layers.Layer):
    """Minimises an energy by T unrolled, differentiable steps (Eq. 5, 10).

    Args:
        energy: an `Energy` layer, E(y; features) -> (batch,).
        num_steps: T >= 1, the number of unrolled steps.
        step_rule: a `StepRule` or its name ("gradient_descent", "momentum",
            "projected", "mirror_descent", "logits").
        step_size: the fixed step size, or the initial one when learned (> 0).
        learn_step_sizes: learn one step size per iteration, kept positive as
            SoftPlus of a free parameter (Sec. 4.2).
        hvp: "exact" (nested tapes) or "finite_difference" (Domke 2012).
        fd_radius: length of the finite-difference probe (> 0).
        checkpoint: keep only the iterates and recompute each step in the
            backward pass.
        tolerance: early-stop threshold on the RMS change of y, or None.
        early_stop_in_training: also stop early (and back-propagate from the
            converged step) when `training=True`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        y0: the initial point, shaped like y.
        features: optional tensor or dict of tensors passed to the energy.
        training: Keras' training flag.
        return_iterates: also return the stacked iterates (T, batch, ...).

    Example:
    >>> energy = QuadraticDataEnergy(initial_variance=1.0)
    >>> minimizer = UnrolledMinimizer(energy, num_steps=20, step_size=0.5)
    >>> x = tf.ones((1, 4, 4, 1))
    >>> float(tf.reduce_max(tf.abs(minimizer(tf.zeros_like(x), x) - x))) < 1e-5
    True

    References:
        Belanger, Yang & McCallum. ICML 2017, Sec. 3-4.
        Domke. Generic Methods for Optimization-Based Modeling. AISTATS 2012.
    """

    def __init__(
        self,
        energy,
        num_steps,
        step_rule="gradient_descent",
        step_size=0.1,
        learn_step_sizes=False,
        hvp="exact",
        fd_radius=1e-3,
        checkpoint=False,
        tolerance=None,
        early_stop_in_training=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(energy, dict):
            energy = keras.saving.deserialize_keras_object(energy)
        if not isinstance(energy, keras.layers.Layer):
            raise TypeError(
                f"`energy` must be an Energy layer; got {type(energy).__name__}."
            )
        if isinstance(num_steps, bool) or int(num_steps) != num_steps:
            raise ValueError(f"`num_steps` must be an integer; got {num_steps!r}.")
        if int(num_steps) < 1:
            raise ValueError(
                f"`num_steps` (T) must be at least 1; got {num_steps!r}."
            )
        if hvp not in HVP_MODES:
            raise ValueError(
                f"Unknown hvp mode {hvp!r}; expected one of {HVP_MODES}."
            )
        if tolerance is not None and not float(tolerance) >= 0.0:
            raise ValueError(
                f"`tolerance` must be None or >= 0; got {tolerance!r}."
            )
        self.energy = energy
        self.num_steps = int(num_steps)
        self.step_rule = get_step_rule(step_rule)
        self.step_size = check_positive("step_size", step_size)
        self.learn_step_sizes = bool(learn_step_sizes)
        self.hvp = hvp
        self.fd_radius = check_positive("fd_radius", fd_radius)
        self.checkpoint = bool(checkpoint)
        self.tolerance = None if tolerance is None else float(tolerance)
        self.early_stop_in_training = bool(early_stop_in_training)

    def build(self, y0_shape, features_shape=None):
        if self.learn_step_sizes:
            # SoftPlus^-1(step_size), so that the initial step is step_size.
            raw = math.log(math.expm1(self.step_size))
            self.raw_step_sizes = self.add_weight(
                name="raw_step_sizes", shape=(self.num_steps,),
                initializer=keras.initializers.Constant(raw),
            )

    def step_sizes(self):
        """The T step sizes eta_1..eta_T as a tensor."""
        if self.learn_step_sizes:
            return keras.ops.softplus(self.raw_step_sizes)
        return keras.ops.full([self.num_steps], self.step_size,
                              dtype=self.compute_dtype)

    def _step_size(self, t):
        if self.learn_step_sizes:
            # Under a mixed policy the rates are float32 variables and the
            # gradient is in the compute dtype (float16/bfloat16).
            return keras.ops.cast(keras.ops.softplus(self.raw_step_sizes[t]),
                                  self.compute_dtype)
        return keras.ops.convert_to_tensor(self.step_size, self.compute_dtype)

    # --- dE/dy -----------------------------------------------------------

    def total_energy(self, y, features, extra_energy=None):
        """sum over the batch of E(y; features) (+ `extra_energy(y)`)."""
        energy = self.energy(y, features)
        if extra_energy is not None:
            energy = energy + extra_energy(y)
        return keras.ops.sum(energy)

    def tape_gradient(self, y, features, extra_energy=None):
        """dE/dy, differentiable again (exact second-order terms)."""
        return backend.ops().energy_gradient(
            lambda point: self.total_energy(point, features, extra_energy), y)

    def energy_gradient(self, y, features=None, extra_energy=None):
        """dE/dy at y, differentiable to second order as `hvp` says."""
        if (self.hvp == "finite_difference" and extra_energy is None
                and not is_tracing_for_saved_model()):
            return backend.ops().finite_difference_gradient(self, y,
                                                            features)
        return self.tape_gradient(y, features, extra_energy)

    # --- one step --------------------------------------------------------

    def step(self, state, features, t, extra_energy=None):
        """One step of the step rule from `state` (a tuple)."""
        grad = self.energy_gradient(
            self.step_rule.iterate(state), features, extra_energy
        )
        scale = self.energy.step_scale(self.energy.select_features(features))
        if scale is not None:
            # The energy's per-example preconditioner (`Energy.step_scale`).
            scale = keras.ops.cast(keras.ops.stop_gradient(scale), grad.dtype)
            grad = grad * keras.ops.reshape(
                scale, (-1,) + (1,) * (len(grad.shape) - 1))
        return tuple(self.step_rule.update(grad, state, self._step_size(t)))

    def _checkpointed_step(self, state, features, t):
        if backend.is_tensorflow():
            return backend.ops().checkpointed_step(self, state, features, t)
        flat = keras.tree.flatten(features) if features is not None else []

        def step(*args):
            packed = (None if features is None else keras.tree.pack_sequence_as(
                features, list(args[len(state):])))
            return self.step(tuple(args[:len(state)]), packed, t)

        return tuple(backend.ops().checkpointed(step, *state, *flat))

    # --- the loop --------------------------------------------------------

    def _rms_change(self, y_new, y_old):
        diff = keras.ops.reshape(y_new - y_old, (keras.ops.shape(y_new)[0], -1))
        return keras.ops.max(keras.ops.sqrt(keras.ops.mean(
            keras.ops.square(diff), axis=1)))

    def minimize(self, y0, features=None, training=None, extra_energy=None):
        """Runs the T steps and returns a `MinimizationResult`.

        Args:
            y0: the initial point.
            features: optional features for the energy.
            training: whether this is a training pass (for early stop).
            extra_energy: optional callable y -> (batch,) added to the energy
                (e.g. the negated task loss of loss-augmented inference).
                Steps that use it are not checkpointed and differentiate it
                with the exact tape.
        """
        y0 = keras.ops.convert_to_tensor(y0, dtype=self.compute_dtype)
        if backend.is_tensorflow():
            import tensorflow as tf

            y0 = tf.debugging.assert_all_finite(
                y0, "UnrolledMinimizer: the initial point y0 contains NaN or "
                "Inf")
        if not self.built:  # `minimize` may be called without `__call__`
            self.build(y0.shape)
            self.built = True
        if not self.energy.built:
            self.energy(y0, features)  # create its weights outside any tape
        state = tuple(self.step_rule.init(y0))

        def step(state, t):
            # Exported, neither checkpointed nor finite differences: both
            # change only the backward pass, and their custom gradients would
            # not be saved (`saved_model_tracing`).
            if (self.checkpoint and extra_energy is None
                    and not is_tracing_for_saved_model()):
                return self._checkpointed_step(state, features, t)
            return self.step(state, features, t, extra_energy)

        early_stop = self.tolerance is not None and (
            not training or self.early_stop_in_training
        )
        if not early_stop:
            iterates = []
            for t in range(self.num_steps):
                state = step(state, t)
                iterates.append(self.step_rule.iterate(state))
            num_steps = keras.ops.convert_to_tensor(self.num_steps, "int32")
        elif backend.ops().can_read(state, features, self.variables):
            iterates, num_steps = self._eager_early_stop(state, step)
        elif backend.is_tensorflow():
            iterates, num_steps = self._graph_early_stop(state, step)
        else:
            iterates, num_steps = self._masked_early_stop(state, step)
        return MinimizationResult(
            y=iterates[-1], iterates=keras.ops.stack(iterates),
            num_steps=num_steps)

    def _eager_early_stop(self, state, step):
        iterates = []
        y = self.step_rule.iterate(state)
        num_steps = self.num_steps
        for t in range(self.num_steps):
            state = step(state, t)
            y, y_old = self.step_rule.iterate(state), y
            iterates.append(y)
            if bool(keras.ops.convert_to_numpy(
                    self._rms_change(y, y_old) <= self.tolerance)):
                num_steps = t + 1
                break
        iterates += [iterates[-1]] * (self.num_steps - len(iterates))
        return iterates, keras.ops.convert_to_tensor(num_steps, "int32")

    def _graph_early_stop(self, state, step):
        """TensorFlow graphs: each remaining step in a `tf.cond`, so a
        converged batch skips the work."""
        import tensorflow as tf

        iterates = []
        done, taken = tf.constant(False), tf.constant(0, tf.int32)
        for t in range(self.num_steps):

            def run(state=state, t=t):
                new_state = step(state, t)
                change = self._rms_change(
                    self.step_rule.iterate(new_state),
                    self.step_rule.iterate(state),
                )
                return new_state, change <= self.tolerance, tf.constant(
                    t + 1, tf.int32)

            def skip(state=state, done=done, taken=taken):
                return state, done, taken

            state, done, taken = tf.cond(done, skip, run)
            iterates.append(self.step_rule.iterate(state))
        return iterates, taken

    def _masked_early_stop(self, state, step):
        """Traced JAX: every step runs, and once converged the state stops
        changing (the same iterates; no work is skipped)."""
        iterates = []
        done = keras.ops.convert_to_tensor(False)
        taken = keras.ops.convert_to_tensor(0, "int32")
        for t in range(self.num_steps):
            new_state = step(state, t)
            change = self._rms_change(self.step_rule.iterate(new_state),
                                      self.step_rule.iterate(state))
            state = tuple(keras.ops.where(done, old, new)
                          for old, new in zip(state, new_state))
            taken = keras.ops.where(done, taken, t + 1)
            done = keras.ops.logical_or(done, change <= self.tolerance)
            iterates.append(self.step_rule.iterate(state))
        return iterates, taken

    def call(self, y0, features=None, training=None, return_iterates=False):
        result = self.minimize(y0, features, training=training)
        if return_iterates:
            return result.y, result.iterates
        return result.y

    def compute_output_shape(self, y0_shape, features_shape=None):
        return y0_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "energy": keras.saving.serialize_keras_object(self.energy),
                "num_steps": self.num_steps,
                "step_rule": serialize_step_rule(self.step_rule),
                "step_size": self.step_size,
                "learn_step_sizes": self.learn_step_sizes,
                "hvp": self.hvp,
                "fd_radius": self.fd_radius,
                "checkpoint": self.checkpoint,
                "tolerance": self.tolerance,
                "early_stop_in_training": self.early_stop_in_training,
            }
        )
        return config
