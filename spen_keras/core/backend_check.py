"""Make sure Keras runs on the TensorFlow backend before anything else loads.

spen-keras differentiates through unrolled minimisation with nested
`tf.GradientTape`s, checkpoints steps with `tf.custom_gradient` and exports
SavedModels: all of it is TensorFlow. Keras 3 picks its backend once, at
import time, from `KERAS_BACKEND` or `~/.keras/keras.json`.
"""

import os


def ensure_tensorflow_backend():
    """Select the TensorFlow backend, or raise if another one is already set.

    Raises:
        ImportError: if `KERAS_BACKEND` (or an already-imported Keras) names a
            backend other than TensorFlow.
    """
    requested = os.environ.get("KERAS_BACKEND")
    if requested is not None and requested != "tensorflow":
        raise ImportError(
            "spen-keras runs Keras on the TensorFlow backend, but "
            f"KERAS_BACKEND={requested!r} is set. Unset it or set "
            "KERAS_BACKEND=tensorflow before importing spen_keras."
        )
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ImportError(
            "spen-keras runs Keras on the TensorFlow backend, but Keras is "
            f"configured for {backend!r} (see ~/.keras/keras.json or "
            "KERAS_BACKEND). Set KERAS_BACKEND=tensorflow before importing "
            "keras or spen_keras."
        )
