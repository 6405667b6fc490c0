"""The step-rule interface: `init(y0) -> state`, `update(grad, state, eta)`.

A step rule owns one step of the unrolled minimiser, in the shape of optax's
gradient transformations: its state is a tuple of plain tensors (safe inside
`tf.function`, `tf.custom_gradient` and SavedModels), `iterate(state)` reads
the current y out of it, and `update` returns the next state given dE/dy at
that y and this step's size. The minimiser owns the loop, the tapes and the
step sizes.

Most rules are a `ChainedStep` of three components (a parametrisation, a
direction and a projection); subclass `StepRule` directly only for a step
that does not factor that way.
"""

import keras


class StepRule:
    """Base class of step rules (stateless objects with a config).

    Subclasses override `update` and, if their state is more than (y,),
    `init` and `iterate`.
    """

    #: The name `get_step_rule` knows this rule by.
    name = None

    def init(self, y0):
        """Returns the initial state for starting point `y0`."""
        return (y0,)

    def iterate(self, state):
        """Returns the current y held in `state`."""
        return state[0]

    def update(self, grad, state, step_size):
        """Returns the next state.

        Args:
            grad: dE/dy at `iterate(state)`, shaped like y.
            state: the current state tuple.
            step_size: this step's positive size eta_t (scalar tensor).
        """
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{self.__class__.__name__}({args})"


def serialize_step_rule(rule):
    """Serialises a step rule with Keras' registered-object machinery."""
    return keras.saving.serialize_keras_object(rule)
