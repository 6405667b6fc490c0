"""The identity parametrisation: the state holds y itself."""

import keras

from spen_keras.core.step_rules.parametrization import Parametrization


@keras.saving.register_keras_serializable(package="spen_keras")
class IdentityParametrization(Parametrization):
    """Steps in y itself: c = y, gradient dE/dy, c_{t+1} = c_t - d_t.

    The only parametrisation a `Projection` may follow.

    Example:
    >>> p = IdentityParametrization()
    >>> p.step(p.init(tf.constant([1.0])), tf.constant([0.25])).numpy()
    array([0.75], dtype=float32)
    """
