"""No projection: the point is left where the step put it."""

import keras

from spen_keras.core.step_rules.projection import Projection


@keras.saving.register_keras_serializable(package="spen_keras")
class NoProjection(Projection):
    """The identity map (adds no op to the graph).

    Example:
    >>> NoProjection().project(tf.constant([2.0])).numpy()
    array([2.], dtype=float32)
    """

    def project(self, y):
        return y
