"""spen-keras: Structured Prediction Energy Networks in TensorFlow/Keras 3."""

from spen_keras.backend_check import ensure_tensorflow_backend

ensure_tensorflow_backend()

__version__ = "0.1.0"
