"""Plain gradient descent: y <- y - eta * dE/dy."""

import keras

from spen_keras.step_rules.step_rule import StepRule


@keras.saving.register_keras_serializable(package="spen_keras")
class GradientDescentStep(StepRule):
    """y_{t+1} = y_t - eta_t dE/dy (Eq. 5).

    Example:
    >>> rule = GradientDescentStep()
    >>> state = rule.update(tf.ones(2), rule.init(tf.zeros(2)), 0.5)
    >>> rule.iterate(state).numpy().tolist()
    [-0.5, -0.5]
    """

    name = "gradient_descent"

    def update(self, grad, state, step_size):
        return (state[0] - step_size * grad,)
