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
    import keras

    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise ImportError(
            f"spen-keras runs Keras on TensorFlow, JAX or PyTorch, but Keras "
            f"is configured for {backend!r} (see ~/.keras/keras.json or "
            "KERAS_BACKEND). Set KERAS_BACKEND to tensorflow, jax or torch "
            "before importing keras or spen_keras.")
