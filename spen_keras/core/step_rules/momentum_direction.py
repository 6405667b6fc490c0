"""Heavy-ball momentum: h_{t+1} = m h_t + eta_t g; d_t = h_{t+1}."""

import keras

from spen_keras.core.step_rules.direction import Direction


@keras.saving.register_keras_serializable(package="spen_keras")
class MomentumDirection(Direction):
    """h_{t+1} = m h_t + eta_t g and the step is d_t = h_{t+1}.

    The velocity h starts at zero and lives in the parametrisation's
    coordinates (y, logits, or log y for entropic mirror descent).

    Args:
        momentum: m in [0, 1).

    Example:
    >>> direction = MomentumDirection(0.5)
    >>> state = direction.init(tf.zeros(1))
    >>> _, state = direction.update(tf.ones(1), state, 1.0)
    >>> d, state = direction.update(tf.ones(1), state, 1.0)
    >>> d.numpy().tolist()  # 0.5 * 1 + 1
    [1.5]
    """

    def __init__(self, momentum=0.9):
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1); got {momentum!r}.")
        self.momentum = momentum

    def init(self, coords):
        return (keras.ops.zeros_like(coords),)

    def update(self, grad, state, step_size):
        (velocity,) = state
        velocity = self.momentum * velocity + step_size * grad
        return velocity, (velocity,)

    def get_config(self):
        return {"momentum": self.momentum}
