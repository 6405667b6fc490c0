"""The plain direction: d_t = eta_t g."""

import keras

from spen_keras.core.step_rules.direction import Direction


@keras.saving.register_keras_serializable(package="spen_keras")
class PlainDirection(Direction):
    """d_t = eta_t g, with no state.

    Example:
    >>> d, state = PlainDirection().update(tf.ones(2), (), 0.5)
    >>> d.numpy().tolist(), state
    ([0.5, 0.5], ())
    """

    def update(self, grad, state, step_size):
        return step_size * grad, ()
