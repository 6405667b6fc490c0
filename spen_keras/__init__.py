"""spen-keras: Structured Prediction Energy Networks in TensorFlow/Keras 3.

End-to-end learning of energy networks by back-propagating through unrolled
gradient-based energy minimisation (Belanger, Yang & McCallum, ICML 2017).
Keras must run on the TensorFlow backend; importing this package selects it
when nothing else is configured and raises a clear ImportError otherwise.
"""

from spen_keras.backend_check import ensure_tensorflow_backend

ensure_tensorflow_backend()

from spen_keras import energies  # noqa: E402
from spen_keras import step_rules  # noqa: E402
from spen_keras.energies import *  # noqa: E402,F401,F403
from spen_keras.spen import SPEN  # noqa: E402
from spen_keras.spen import iterate_weights  # noqa: E402
from spen_keras.step_rules import *  # noqa: E402,F401,F403
from spen_keras.unrolled_minimizer import MinimizationResult  # noqa: E402
from spen_keras.unrolled_minimizer import UnrolledMinimizer  # noqa: E402

__version__ = "0.1.0"
