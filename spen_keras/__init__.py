"""spen-keras: Structured Prediction Energy Networks in TensorFlow/Keras 3.

End-to-end learning of energy networks by back-propagating through unrolled
gradient-based energy minimisation (Belanger, Yang & McCallum, ICML 2017).
Keras runs on TensorFlow (selected when nothing else is configured), JAX or
PyTorch (`KERAS_BACKEND`); another backend is a clear ImportError.

This module is the public API: it re-exports the task-neutral core
(energies, step rules, `UnrolledMinimizer`, `SPEN`, presets), registers the
shipped preset folder (`spen_keras.zoo`) and imports the task families named
in the `spen_keras.families` entry points, which register their presets and
tables. The core modules themselves never import the zoo or a family.
"""

from spen_keras.core.backend_check import ensure_supported_backend

ensure_supported_backend()

from spen_keras.core import energies  # noqa: E402
from spen_keras.core import step_rules  # noqa: E402
from spen_keras.core.energies import *  # noqa: E402,F401,F403
from spen_keras.core.spen import SPEN  # noqa: E402
from spen_keras.core.spen import iterate_weights  # noqa: E402
from spen_keras.core.step_rules import *  # noqa: E402,F401,F403
from spen_keras.core.tiled_inference import predict_tiled  # noqa: E402
from spen_keras.core.unrolled_minimizer import MinimizationResult  # noqa: E402
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer  # noqa: E402
from spen_keras.presets import keras_kind  # noqa: E402,F401  (the Keras kind)
from spen_keras.presets import PresetError  # noqa: E402
from spen_keras.presets import PresetSpec  # noqa: E402
from spen_keras.presets import list_presets  # noqa: E402
from spen_keras.presets import load_preset  # noqa: E402
from spen_keras.presets import save_to_preset  # noqa: E402
from spen_keras import zoo  # noqa: E402,F401  (registers shipped presets)
from spen_keras.presets.family import load_families  # noqa: E402

load_families()

__version__ = "0.1.0"
