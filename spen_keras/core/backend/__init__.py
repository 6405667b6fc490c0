"""What Keras does not abstract, once per backend.

The core is written in `keras.ops`, the same code on TensorFlow, JAX and
PyTorch, except for these few operations, which each backend module
(`tensorflow_backend`, `jax_backend`, `torch_backend`) implements:

- `energy_gradient(total_energy, y)`: dE/dy inside a layer's call, itself
  differentiable, so that the training loss's gradient includes the
  second-order terms of the unrolled steps (TensorFlow: an inner
  `GradientTape` inside the one differentiating the loss; JAX: `jax.grad`
  inside the trainer's `jax.value_and_grad`; PyTorch:
  `torch.autograd.grad(create_graph=True)`);
- `checkpointed(step, state, features)`: a step whose internals are
  recomputed in the backward pass instead of kept (`jax.checkpoint`,
  `torch.utils.checkpoint`; TensorFlow's is the minimiser's own custom
  gradient);
- `finite_difference_gradient(minimizer, y, features)`: dE/dy whose
  backward pass takes central differences of first-order gradients
  (`hvp="finite_difference"`: a custom gradient, `jax.custom_vjp`, a
  `torch.autograd.Function`);
- `can_read(*values)`: whether these values can be read now (TensorFlow:
  outside a traced function; JAX: none is a tracer, under `jax.jit` or
  the trainer's `jax.value_and_grad`);
- `no_grad()`: a context for inference calls (PyTorch: `torch.no_grad()`,
  else nothing to do);
- `single_channel_conv(x, kernel)`: a 'valid' conv of a one-channel image
  (TensorFlow: a custom gradient whose input gradient runs as a depthwise
  conv, much faster on oneDNN; elsewhere the plain conv).

`ops()` returns the module of the backend Keras runs on.
"""

import functools
import importlib

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def name():
    """The Keras backend the core runs on."""
    return keras.backend.backend()


def ops():
    """The backend module of the running Keras backend.

    Raises:
        ImportError: for a backend the core does not support (numpy,
            openvino: they cannot differentiate).
    """
    backend = name()
    if backend not in BACKENDS:
        raise ImportError(
            f"spen-keras differentiates through energy minimisation, which "
            f"Keras' {backend!r} backend cannot do; set KERAS_BACKEND to one "
            f"of {', '.join(BACKENDS)}.")
    return _backend_module(backend)


@functools.lru_cache(maxsize=None)
def _backend_module(backend):
    # Cached, and behind a C-level cache wrapper: `ops()` is called inside
    # traced functions, where TensorFlow's autograph would otherwise try to
    # convert importlib itself (and warn that it cannot read its source).
    return importlib.import_module(
        f"spen_keras.core.backend.{backend}_backend")


def is_tensorflow():
    return name() == "tensorflow"


class TensorFlowRequiredError(ImportError):
    """A feature that needs TensorFlow was used where it is not installed
    (spen-keras runs on JAX or PyTorch without it)."""


def tensorflow_installed():
    """Whether TensorFlow can be imported (without importing it)."""
    from importlib.util import find_spec

    return find_spec("tensorflow") is not None


def require_tensorflow(feature):
    """The `tensorflow` module, for a feature that needs it whatever Keras'
    backend (`tf.data` pipelines, TFDS builders, SavedModel export,
    `tf.distribute`, the Kinect noise model's stateless random numbers).

    Args:
        feature: what needs it, for the message ("the Kinect noise model").

    Raises:
        TensorFlowRequiredError (an ImportError): TensorFlow is not
            installed; one line naming the feature and the fix.
    """
    try:
        import tensorflow
    except ImportError:
        raise TensorFlowRequiredError(
            f"{feature} needs TensorFlow, which is not installed here: pip "
            "install tensorflow-cpu (the JAX and PyTorch backends run "
            "spen-keras' models without it, but not this).") from None
    return tensorflow


def require_tensorflow_backend(feature):
    """For a feature that runs on Keras' TensorFlow backend only.

    Raises:
        TensorFlowRequiredError: Keras runs on another backend; one line
            naming the feature and the fix.
    """
    if not is_tensorflow():
        raise TensorFlowRequiredError(
            f"{feature} runs on Keras' TensorFlow backend only, but "
            f"KERAS_BACKEND={name()} is set: unset it (with TensorFlow "
            "installed) for this command.")
