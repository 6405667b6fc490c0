"""SPEN: feature network F(x) -> Init -> UnrolledMinimizer(energy) -> y_T."""

import types

import keras
import numpy as np

from spen_keras.core import backend
from spen_keras.core.energies.base_energy import known_sizes
from spen_keras.core.energies.base_energy import static_rank
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes
from spen_keras.core.energies.saved_model_tracing import tracing_for_saved_model
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer

ITERATE_LOSSES = ("weighted", "final")
TRAINING_MODES = ("unrolled", "ssvm")


def iterate_weights(num_steps):
    """Eq. 9's weights w_t / T with w_t = 1 / (T - t + 1), t = 1..T."""
    return [1.0 / (num_steps * (num_steps - t + 1))
            for t in range(1, num_steps + 1)]


def _batch_size(x):
    """The batch size of x, a tensor or a (dict) structure of tensors."""
    return keras.ops.shape(keras.tree.flatten(x)[0])[0]


def _replicas():
    """Replicas summing their gradients under the current tf.distribute
    strategy (1 without one, and on the other backends)."""
    if not backend.is_tensorflow():
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _streamed(x):
    """Whether `fit` takes x as a stream whose order it cannot change (a
    tf.data or distributed dataset, a generator): Keras ignores `shuffle`
    there."""
    if isinstance(x, types.GeneratorType):
        return True
    tf = _tensorflow_if_loaded()
    return tf is not None and isinstance(
        x, (tf.data.Dataset, tf.distribute.DistributedDataset))


def _tensorflow_if_loaded():
    """The tensorflow module if it has been imported (data pipelines may
    use tf.data on any backend), else None."""
    import sys

    return sys.modules.get("tensorflow")


def _deserialize(obj):
    if isinstance(obj, dict):
        return keras.saving.deserialize_keras_object(obj)
    return obj


class ExportError(ValueError):
    """`SPEN.export` cannot write this SavedModel on this backend."""


def _check_exportable(input_signature):
    """Refuses, in one line, an export the backend cannot trace."""
    name = backend.name()
    if name == "torch":
        raise ExportError(
            "export() to a TF SavedModel runs on the TensorFlow and JAX "
            "backends, not on PyTorch (Keras exports PyTorch through "
            "torch.export and torch_xla, which do not trace the energy's "
            "gradient inside the model): save the model with "
            "model.save('model.keras') and export it under "
            "KERAS_BACKEND=tensorflow.")
    if name == "jax" and any(
            len(known_sizes(tuple(spec.shape)[1:])) < len(spec.shape) - 1
            for spec in keras.tree.flatten(input_signature)):
        raise ExportError(
            "export() on the JAX backend needs the image size fixed (JAX "
            "cannot differentiate the energy's convolutions over symbolic "
            "sizes): pass input_signature=[tf.TensorSpec((None, H, W, C), "
            "'float32')], or export under KERAS_BACKEND=tensorflow, whose "
            "SavedModel takes any size.")


@keras.saving.register_keras_serializable(package="spen_keras")
class SPEN(keras.Model):
    """A Structured Prediction Energy Network trained end-to-end.

    Prediction is y_T = the result of T unrolled minimisation steps on
    E(y; F(x)) started from y_0 = Init(F(x)) (Eq. 5, 10). Training with
    `model.fit` back-propagates the compiled Keras loss through the unrolled
    steps; by default the loss of every iterate counts, weighted as in Eq. 9,
    L = 1/T sum_t w_t loss(y_t, y*) with w_t = 1/(T - t + 1)
    (`iterate_loss="final"` uses y_T alone).

    `training_mode="ssvm"` trains the same energy as a structured SVM instead
    (Eq. 3, the baseline rows): loss-augmented inference minimises
    E(y) - Delta(y, y*) with the same minimiser (not differentiated), and the
    loss is the hinge max(0, Delta(y^, y*) - E(y^) + E(y*)) with
    Delta = `ssvm_margin_scale` * sum (y - y*)^2.

    Args:
        minimizer: an `UnrolledMinimizer` holding the energy.
        feature_network: optional layer F; features = F(x), else x itself.
        init_network: optional layer Init; y_0 = Init(features), else
            y_0 = features (which then must be shaped like y).
        iterate_loss: "weighted" (Eq. 9) or "final".
        training_mode: "unrolled" (end-to-end) or "ssvm".
        ssvm_margin_scale: scale of the squared-error margin Delta.
        mask_invalid_targets: treat target entries equal to 0 as missing
            (the depth-denoising convention) in the SSVM margin and in E(y*).
        **kwargs: standard `keras.Model` arguments.

    Call arguments:
        x: the input batch.
        training: Keras' training flag.

    Example:
    >>> energy = SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(4, 3)])
    >>> spen = SPEN(UnrolledMinimizer(energy, num_steps=3, step_size=0.1))
    >>> spen.compile(optimizer="adam", loss="mse")
    >>> x = tf.random.uniform((4, 16, 16, 1))
    >>> spen.fit(x, x, epochs=1, verbose=0).history["loss"][0] > 0
    True

    References:
        Belanger, Yang & McCallum. End-to-End Learning for Structured
        Prediction Energy Networks. ICML 2017.
    """

    def __init__(
        self,
        minimizer,
        feature_network=None,
        init_network=None,
        iterate_loss="weighted",
        training_mode="unrolled",
        ssvm_margin_scale=1.0,
        mask_invalid_targets=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # === Layers ===
        minimizer = _deserialize(minimizer)
        if not isinstance(minimizer, UnrolledMinimizer):
            raise TypeError(
                "`minimizer` must be an UnrolledMinimizer; got "
                f"{type(minimizer).__name__}."
            )
        if iterate_loss not in ITERATE_LOSSES:
            raise ValueError(
                f"Unknown iterate_loss {iterate_loss!r}; expected one of "
                f"{ITERATE_LOSSES}."
            )
        if training_mode not in TRAINING_MODES:
            raise ValueError(
                f"Unknown training_mode {training_mode!r}; expected one of "
                f"{TRAINING_MODES}."
            )
        if not float(ssvm_margin_scale) > 0:
            raise ValueError(
                f"`ssvm_margin_scale` must be positive; got {ssvm_margin_scale!r}."
            )
        self.minimizer = minimizer
        self.feature_network = _deserialize(feature_network)
        self.init_network = _deserialize(init_network)
        # === Config ===
        self.iterate_loss = iterate_loss
        self.training_mode = training_mode
        self.ssvm_margin_scale = float(ssvm_margin_scale)
        self.mask_invalid_targets = bool(mask_invalid_targets)
        self._expected_input_shape = None

    @property
    def energy(self):
        """The energy layer being minimised."""
        return self.minimizer.energy

    # --- forward ---------------------------------------------------------

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            # A structured input: the sub-layers build on the first forward
            # pass, which the caller runs on real data.
            self.built = True
            return
        input_shape = tuple(input_shape)
        self._expected_input_shape = input_shape
        if self.feature_network is None and self.init_network is None:
            # The energies are convolutional: any batch and image size, as
            # when a first call builds it (Keras' JAX trainer builds with
            # the first batch's shape).
            self._expected_input_shape = ((None,) * (len(input_shape) - 1)
                                          + input_shape[-1:])
        # Run one forward pass on a small concrete batch so that every
        # sub-layer creates its weights (needed before loading weights).
        concrete = [1] + [32 if d is None else int(d) for d in input_shape[1:]]
        self._forward(keras.ops.zeros(concrete, self.compute_dtype),
                      training=False)
        self.built = True

    def check_input_shape(self, shape, dtype=None):
        """Raises a clear error for an x of the wrong rank, channels or dtype.

        A Python-level check on the static shape, done before Keras' compiled
        functions are entered: after a first call `predict`'s function may be
        relaxed to any shape, and a wrong rank would then reach the kernels
        (where oneDNN aborts the process instead of raising).

        Args:
            shape: x's shape (a tuple or `tf.TensorShape`, axes may be None).
            dtype: x's dtype, or None to skip the dtype check.

        Raises:
            TypeError: x is not floating point.
            ValueError: x's rank or channel count differs from what the model
                was built (or first called) with.
        """
        if dtype is not None and not keras.backend.is_float_dtype(
                keras.backend.standardize_dtype(dtype)):
            raise TypeError(
                f"SPEN expects a floating-point x; got "
                f"{keras.backend.standardize_dtype(dtype)}"
                f" (convert it with x.astype('float32')).")
        rank = static_rank(shape)
        if rank is None:
            return
        shape = tuple(shape)
        self._check_static_spatial_size(shape)
        expected = self._expected_input_shape
        if expected is None:
            # Built implicitly by a first call (e.g. in `fit`): remember the
            # rank and channels, every other axis free, as `build` would.
            self._expected_input_shape = (None,) * (rank - 1) + (shape[-1],)
            return
        if rank != len(expected):
            raise ValueError(
                f"SPEN was built for x of rank {len(expected)} (shape "
                f"{tuple(expected)}); got x of shape {tuple(shape)}.")
        if (expected[-1] is not None and shape[-1] is not None
                and shape[-1] != expected[-1]):
            raise ValueError(
                f"SPEN was built for x with {expected[-1]} channel(s) on the "
                f"last axis; got x of shape {tuple(shape)}.")

    def check_input(self, x):
        """Raises a clear error for a wrongly shaped or non-finite x.

        x may also be a dict of tensors (a structured input read by the
        feature network, e.g. SRL's grid of feature ids and constraint
        pairs): its floating entries are checked to be finite and the rest
        is left to the feature network.
        """
        if not backend.is_tensorflow():
            return self._check_input_eagerly(x)
        import tensorflow as tf

        if isinstance(x, dict):
            return {key: (tf.debugging.assert_all_finite(
                        value, f"SPEN input x[{key!r}] contains NaN or Inf")
                          if value.dtype.is_floating else value)
                    for key, value in ((k, tf.convert_to_tensor(v))
                                       for k, v in x.items())}
        x = tf.convert_to_tensor(x)
        self.check_input_shape(x.shape, x.dtype)
        x = tf.cast(x, self.compute_dtype)
        expected = self._expected_input_shape
        if x.shape.rank is None and expected is not None:
            # A relaxed trace: check the rank at run time, before any kernel.
            x = tf.ensure_shape(x, [None] * len(expected))
        x = self._check_spatial_size(x)
        return tf.debugging.assert_all_finite(
            x, "SPEN input x contains NaN or Inf")

    def _check_input_eagerly(self, x):
        """`check_input` on JAX and PyTorch: the static checks, and the
        finiteness of x where its values can be read (not while traced)."""
        if isinstance(x, dict):
            return {k: keras.ops.convert_to_tensor(v) for k, v in x.items()}
        # In its own dtype: PyTorch would otherwise round float64 to float32.
        dtype = getattr(x, "dtype", None)
        x = keras.ops.convert_to_tensor(
            x, None if dtype is None else keras.backend.standardize_dtype(
                dtype))
        self.check_input_shape(tuple(x.shape), x.dtype)
        x = keras.ops.cast(x, self.compute_dtype)
        if backend.ops().can_read(x) and not bool(
                keras.ops.convert_to_numpy(keras.ops.all(
                    keras.ops.isfinite(x)))):
            raise ValueError("SPEN input x contains NaN or Inf")
        return x

    def _check_data(self, x):
        """`check_input_shape` on what fit/evaluate/predict were given:
        arrays, tensors, or a tf.data.Dataset's element spec."""
        tf = _tensorflow_if_loaded()
        if tf is not None and isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if isinstance(spec, (tuple, list)):
                spec = spec[0]
            if isinstance(spec, tf.TensorSpec):
                self.check_input_shape(spec.shape, spec.dtype)
            return
        if isinstance(x, (tuple, list)) or not hasattr(x, "shape"):
            return
        dtype = getattr(x, "dtype", None)
        try:
            keras.backend.standardize_dtype(dtype)
        except (TypeError, ValueError):
            raise TypeError(f"SPEN expects a floating-point x; got an array "
                            f"of dtype {dtype}.") from None
        self.check_input_shape(x.shape, dtype)
        # JAX's compiled steps cannot read x (TensorFlow's graph checks it,
        # PyTorch's eager call does): checked here, before they run.
        if (backend.name() == "jax" and isinstance(x, np.ndarray)
                and not np.isfinite(x).all()):
            raise ValueError("SPEN input x contains NaN or Inf")

    def fit(self, x=None, y=None, *args, **kwargs):
        self._check_data(x)
        if len(args) < 7 and "shuffle" not in kwargs and _streamed(x):
            # `shuffle` (fit's 9th parameter) left at Keras' default, True,
            # which Keras ignores for streamed data and, since Keras 3.15,
            # warns about on every fit: the stream comes in the order its
            # pipeline gives (shuffled there, e.g. `make_training_dataset`).
            kwargs["shuffle"] = False
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_data(x)
        return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        self._check_data(x)
        return super().predict(x, *args, **kwargs)

    def _check_static_spatial_size(self, shape):
        """The static half of `_check_spatial_size`, on a shape.

        Returns:
            The minimum spatial size to enforce, or None if none applies.
        """
        if self.feature_network is not None or self.init_network is not None:
            return None
        minimum = self.energy.minimum_spatial_size()
        rank = static_rank(shape)
        if minimum is None or minimum <= 1 or rank is None or rank < 3:
            return None
        spatial = tuple(shape)[1:-1]
        if any(d < minimum for d in known_sizes(spatial)):
            error = ValueError(
                f"SPEN input x is too small for its energy: every spatial "
                f"axis needs at least {minimum} pixels ("
                f"{'x'.join([str(minimum)] * len(spatial))}); got x of shape "
                f"{tuple(shape)}.")
            # Keep the message one line: Keras re-raises an error carrying
            # this flag as is instead of wrapping it in call details.
            error._keras_call_info_injected = True
            raise error
        return minimum

    def _check_spatial_size(self, x):
        """Refuses an x smaller than the energy's minimum spatial size.

        Applies when y_0 is x itself (no feature or init network; otherwise
        the energy checks y). Spatial axes are those between batch and
        channels. A static size is checked here, in Python, with a one-line
        ValueError; an axis unknown at trace time (a relaxed `tf.function`)
        gets a run-time assert that x depends on, so it fails before any
        convolution sees it.

        Returns:
            x (with the run-time check attached when one was needed).
        """
        minimum = self._check_static_spatial_size(x.shape)
        if minimum is None:
            return x
        spatial = tuple(x.shape)[1:-1]
        if all(d is not None for d in spatial) or not backend.is_tensorflow():
            return x
        import tensorflow as tf

        if tf.executing_eagerly():
            return x
        check = tf.debugging.assert_greater_equal(
            tf.shape(x)[1:-1], tf.constant(minimum, tf.int32),
            message=(f"SPEN input x is too small for its energy: every "
                     f"spatial axis needs at least {minimum} pixels"))
        with tf.control_dependencies([check]):
            return tf.identity(x)

    def features_and_init(self, x, training=None):
        """Returns (F(x), y_0)."""
        features = x
        if self.feature_network is not None:
            features = self.feature_network(x, training=training)
        y0 = features
        if self.init_network is not None:
            y0 = self.init_network(features, training=training)
        return features, y0

    def _forward(self, x, training=None, extra_energy=None):
        x = self.check_input(x)
        features, y0 = self.features_and_init(x, training=training)
        result = self.minimizer.minimize(
            y0, features, training=training, extra_energy=extra_energy
        )
        if not self.built:
            # Built by a first `fit`/`evaluate` step rather than by `build`
            # or `__call__`: every sub-layer has its weights now. Marking it
            # built lets `save` record the build shape, so `load_model`
            # rebuilds the model and restores the optimizer's state.
            self.built = True
        return result

    def call(self, x, training=None):
        result = self._forward(x, training=training)
        if not backend.is_tensorflow():
            # Read by `compute_loss` within the same step (JAX: the same
            # trace); TensorFlow's own train step keeps them itself.
            object.__setattr__(self, "_last_iterates", result.iterates)
        return result.y

    def predict_iterates(self, x):
        """Returns the iterates y_1..y_T for x, shape (T, batch, ...)."""
        with backend.ops().no_grad():
            return self._forward(x, training=False).iterates

    # --- training --------------------------------------------------------

    def _compiled_loss(self, y, y_pred, sample_weight):
        # Keras' compiled loss divides by the replicas in sync under a
        # tf.distribute strategy (each replica's share of the global mean).
        if getattr(self, "_compile_loss", None) is None:
            raise ValueError(
                "SPEN needs a loss: call `compile(optimizer, loss=...)` first."
            )
        return self._compile_loss(y, y_pred, sample_weight)

    def _unrolled_loss(self, y, iterates, sample_weight):
        if self.iterate_loss == "final":
            return self._compiled_loss(y, iterates[-1], sample_weight)
        weights = iterate_weights(self.minimizer.num_steps)
        return _add_n([
            w * self._compiled_loss(y, iterates[t], sample_weight)
            for t, w in enumerate(weights)
        ])

    def _margin(self, y_pred, y_true):
        diff = keras.ops.square(y_pred - y_true)
        if self.mask_invalid_targets:
            diff *= keras.ops.cast(y_true > 0, diff.dtype)
        return self.ssvm_margin_scale * sum_over_non_batch_axes(diff)

    def loss_augmented_inference(self, x, y):
        """argmin_y E(y) - Delta(y, y*) by the minimiser, not differentiated."""
        y = keras.ops.cast(y, self.compute_dtype)
        result = self._forward(
            x, training=True, extra_energy=lambda y_var: -self._margin(y_var, y)
        )
        return keras.ops.stop_gradient(result.y)

    def _ssvm_loss(self, x, y, y_hat, sample_weight):
        y = keras.ops.cast(y, self.compute_dtype)
        features, _ = self.features_and_init(self.check_input(x), training=True)
        target = y
        if self.mask_invalid_targets:
            target = keras.ops.where(y > 0, y, y_hat)
        hinge = keras.ops.relu(
            self._margin(y_hat, y)
            - self.energy(y_hat, features) + self.energy(target, features)
        )
        if sample_weight is not None:
            hinge *= keras.ops.cast(keras.ops.reshape(sample_weight, (-1,)),
                                    hinge.dtype)
        # Scaled like Keras' compiled losses: each replica's mean / replicas,
        # so that the gradients summed over replicas are the global batch's.
        return keras.ops.mean(hinge) / keras.ops.cast(_replicas(),
                                                      hinge.dtype)

    def _total_loss(self, x, y, sample_weight, y_hat=None):
        if self.training_mode == "ssvm":
            loss = self._ssvm_loss(x, y, y_hat, sample_weight)
            y_pred = y_hat
        else:
            result = self._forward(x, training=True)
            loss = self._unrolled_loss(y, result.iterates, sample_weight)
            y_pred = result.y
        if self.losses:
            # The layer losses (regularisers, `add_loss`) of this forward
            # pass, once per step: divided by the replicas like the compiled
            # loss, so that the gradients summed over replicas, and the loss
            # reported (times the replicas), count them once, as on one
            # device (tests/presets/test_distribute.py); Keras' own `compute_loss`
            # adds them unscaled to every replica's loss. The forward pass
            # is not a call of the SPEN, so every call of a sub-layer starts
            # afresh: a layer called several times (the energy, once per
            # step) contributes its last call's `add_loss`.
            loss += _add_n([keras.ops.cast(l, loss.dtype)
                            for l in self.losses]) / keras.ops.cast(
                                _replicas(), loss.dtype)
        return loss, y_pred

    # The TensorFlow backend trains with its own steps (one tape, the
    # replicas' loss scaling of tf.distribute); JAX and PyTorch train with
    # Keras' own steps, whose loss is `compute_loss` below.
    if keras.backend.backend() == "tensorflow":

        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            y_hat = None
            if self.training_mode == "ssvm":
                # Outside the tape: nothing is differentiated through it.
                y_hat = self.loss_augmented_inference(x, y)
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss, y_pred = self._total_loss(x, y, sample_weight, y_hat)
                scaled = self.optimizer.scale_loss(loss)
            pairs = [
                (g, v)
                for g, v in zip(tape.gradient(scaled, self.trainable_weights),
                                self.trainable_weights)
                if g is not None
            ]
            self.optimizer.apply_gradients(pairs)
            # Under a strategy the loss is this replica's share (scaled by
            # 1 / replicas, see `_compiled_loss`): report the global batch's.
            self._loss_tracker.update_state(
                loss * keras.ops.cast(_replicas(), loss.dtype),
                sample_weight=_batch_size(x))
            return self.compute_metrics(x, y, y_pred,
                                        sample_weight=sample_weight)

        def test_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            if self.training_mode == "ssvm":
                y_pred = self(x, training=False)
                loss = self._compiled_loss(y, y_pred, sample_weight)
            else:
                result = self._forward(x, training=False)
                loss = self._unrolled_loss(y, result.iterates, sample_weight)
                y_pred = result.y
            self._loss_tracker.update_state(
                loss * keras.ops.cast(_replicas(), loss.dtype),
                sample_weight=_batch_size(x))
            return self.compute_metrics(x, y, y_pred,
                                        sample_weight=sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                     training=True):
        """The SPEN's loss in Keras' own train and test steps (JAX and
        PyTorch): Eq. 9's unrolled loss on the iterates of the forward pass
        that gave `y_pred` (or the SSVM hinge), plus the layer losses."""
        if self.training_mode == "ssvm":
            if training:
                y_hat = self.loss_augmented_inference(x, y)
                loss = self._ssvm_loss(x, y, y_hat, sample_weight)
            else:
                loss = self._compiled_loss(y, y_pred, sample_weight)
        else:
            iterates = getattr(self, "_last_iterates", None)
            if iterates is None:
                iterates = self._forward(x, training=training).iterates
            object.__setattr__(self, "_last_iterates", None)
            loss = self._unrolled_loss(y, iterates, sample_weight)
        if self.losses:
            loss += _add_n([keras.ops.cast(l, loss.dtype)
                            for l in self.losses])
        return loss

    # --- export and config -----------------------------------------------

    def serving_signature(self):
        """x's TensorSpec for export: any batch and spatial size, same
        channels as at build time."""
        shape = self._expected_input_shape
        if shape is None:
            raise ValueError("Call or build the SPEN before exporting it.")
        spec_shape = [None] * (len(shape) - 1) + [shape[-1]]
        import tensorflow as tf

        return [tf.TensorSpec(spec_shape, self.compute_dtype, name="x")]

    def export(self, filepath, format="tf_saved_model", verbose=None,
               input_signature=None, **kwargs):
        """Writes a SavedModel whose serving signature maps x to y_T.

        By default the signature accepts any batch size and any image size
        with the channel count the model was built for. The loaded model
        serves the same y_T and differentiates (to second order) exactly: a
        minimiser's `checkpoint=True` or `hvp="finite_difference"` changes
        only how this model trains, and is not exported
        (`spen_keras.core.energies.saved_model_tracing`).

        On the JAX backend (TensorFlow installed) the image size must be
        fixed by `input_signature` (the batch may stay free) and the loaded
        model differentiates to first order; PyTorch cannot export to a
        SavedModel (`ExportError`, a ValueError, says what to do instead).
        """
        backend.require_tensorflow("export() to a TF SavedModel")
        if format == "tf_saved_model":
            if input_signature is None:
                input_signature = self.serving_signature()
            _check_exportable(input_signature)
        if not self.built:
            # Trained by `fit` without an explicit `build`: the layers exist,
            # only Keras' built flag is unset.
            self.build(self._expected_input_shape)
        # Custom gradients one level deep, so that the SavedModel keeps them
        # all (`spen_keras.core.energies.saved_model_tracing`): the same outputs,
        # and a loaded model that differentiates to second order.
        with tracing_for_saved_model():
            return super().export(filepath, format=format, verbose=verbose,
                                  input_signature=input_signature, **kwargs)

    def get_build_config(self):
        if self._expected_input_shape is None:
            return None
        return {"input_shape": list(self._expected_input_shape)}

    def build_from_config(self, config):
        if config and config.get("input_shape") is not None:
            self.build(config["input_shape"])

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(
            {
                "minimizer": serialize(self.minimizer),
                "feature_network": (
                    None if self.feature_network is None
                    else serialize(self.feature_network)),
                "init_network": (
                    None if self.init_network is None
                    else serialize(self.init_network)),
                "iterate_loss": self.iterate_loss,
                "training_mode": self.training_mode,
                "ssvm_margin_scale": self.ssvm_margin_scale,
                "mask_invalid_targets": self.mask_invalid_targets,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def from_preset(cls, preset):
        """Loads a pretrained preset (no network needed), compiled.

        As KerasHub's tasks do, the model comes back compiled, ready for
        `fit`: with its preset's training loss and metrics (the denoising
        presets: `MaskedMeanSquaredError` and `PSNR`) and Adam at the
        learning rate its recipe trained at (a constant rate; the recipe
        decays it over a run). Compile again to change them. A preset saved
        from a model of your own (`save_to_preset`, its metadata naming no
        registered preset) has no recipe and loads uncompiled.

        Args:
            preset: a registered preset name from `spen-keras zoo list`
                (e.g. "dp_3", always the shipped preset) or the path of a
                preset folder (e.g. "./my_dp_3", written by
                `save_to_preset` or `spen-keras train`).

        Raises:
            spen_keras.presets.PresetError: naming the file and the problem.
            TypeError: if the preset holds another kind of model (a
                `spen_keras.presets.PresetTypeError`).
        """
        from spen_keras.presets import load_preset_as

        return load_preset_as(preset, cls)


def _add_n(tensors):
    """The sum of a list of tensors, added left to right."""
    total = tensors[0]
    for tensor in tensors[1:]:
        total = total + tensor
    return total
