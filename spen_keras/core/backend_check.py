"""Make sure Keras runs on a backend the core supports before anything loads.

spen-keras differentiates through unrolled energy minimisation, on Keras 3's
TensorFlow backend (the default and the reference), or on JAX or PyTorch
(`spen_keras.core.backend`). Keras 3 picks its backend once, at import time,
from `KERAS_BACKEND` or `~/.keras/keras.json`.
"""

import os

SUPPORTED = ("tensorflow", "jax", "torch")


def ensure_supported_backend():
    """Select the TensorFlow backend when none is configured, or check the
    configured one.

    Raises:
        ImportError: if `KERAS_BACKEND` (or an already-imported Keras) names a
            backend that cannot differentiate (numpy, openvino).
    """
    requested = os.environ.get("KERAS_BACKEND")
    if requested is not None and requested not in SUPPORTED:
        raise ImportError(
            f"spen-keras runs Keras on TensorFlow, JAX or PyTorch, but "
            f"KERAS_BACKEND={requested!r} is set. Unset it (TensorFlow) or set "
            "KERAS_BACKEND to tensorflow, jax or torch before importing "
            "spen_keras.")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    _check_installed(os.environ["KERAS_BACKEND"])
    import keras

    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise ImportError(
            f"spen-keras runs Keras on TensorFlow, JAX or PyTorch, but Keras "
            f"is configured for {backend!r} (see ~/.keras/keras.json or "
            "KERAS_BACKEND). Set KERAS_BACKEND to tensorflow, jax or torch "
            "before importing keras or spen_keras.")


#: What to install for each backend, for the one-line error below.
_INSTALL = {"tensorflow": "pip install tensorflow-cpu (or tensorflow)",
            "jax": "pip install 'spen-keras[backends]' (or jax)",
            "torch": "pip install 'spen-keras[backends]' (or torch)"}


def _check_installed(backend):
    """One line naming the missing framework and its install command,
    instead of Keras' traceback ending in "No module named 'torch'"."""
    from importlib.util import find_spec

    if backend in _INSTALL and find_spec(backend) is None:
        hint = ("" if backend != "tensorflow" else
                "; or run on JAX or PyTorch: KERAS_BACKEND=jax or torch")
        raise ImportError(
            f"Keras' {backend} backend is selected (KERAS_BACKEND="
            f"{backend}{' or nothing set' if backend == 'tensorflow' else ''})"
            f" but {backend} is not installed: {_INSTALL[backend]}{hint}.")
