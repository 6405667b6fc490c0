"""Global label energy: an MLP over the whole label configuration."""

import keras
import tensorflow as tf

from spen_keras.energies.activations import softplus_with_temperature
from spen_keras.energies.base_energy import Energy, check_positive


@keras.saving.register_keras_serializable(package="spen_keras")
class MLPGlobalEnergy(Energy):
    """E_global(y) = w^T g(... g(C_1 vec(y) + b_1) ...), g = SoftPlus_t.

    The global energy of Belanger & McCallum (2016): a multi-layer network
    over the flattened label vector that scores interactions between all
    labels. With `input_convex=True` every weight matrix after the first and
    the output weights are kept non-negative, which with SoftPlus makes the
    energy convex in y (ICNN).

    Args:
        hidden_units: widths of the hidden layers.
        temperature: SoftPlus temperature.
        input_convex: constrain the energy to be convex in y.
        **kwargs: `Energy` arguments.

    Call arguments:
        y: (batch, ...) labels; flattened per example.
        features: ignored.

    Example:
    >>> glob = MLPGlobalEnergy(hidden_units=(8,))
    >>> glob(tf.zeros((2, 5, 3))).shape
    TensorShape([2])

    References:
        Belanger & McCallum. Structured Prediction Energy Networks. ICML 2016.
        Amos, Xu & Kolter. Input Convex Neural Networks. ICML 2017.
    """

    def __init__(self, hidden_units=(16,), temperature=1.0, input_convex=False,
                 **kwargs):
        super().__init__(**kwargs)
        hidden_units = [int(h) for h in hidden_units]
        if not hidden_units or min(hidden_units) < 1:
            raise ValueError(
                f"`hidden_units` must be non-empty and >= 1; got {hidden_units}."
            )
        self.hidden_units = hidden_units
        self.temperature = check_positive("temperature", temperature)
        self.input_convex = bool(input_convex)

    def build(self, y_shape, features_shape=None):
        size = 1
        for dim in y_shape[1:]:
            if dim is None:
                raise ValueError(
                    "MLPGlobalEnergy needs every non-batch dimension of y to be "
                    f"known; got {y_shape}."
                )
            size *= dim
        self.kernels, self.biases = [], []
        fan_in = size
        for i, width in enumerate(self.hidden_units + [1]):
            constrained = self.input_convex and i > 0
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(fan_in, width),
                    initializer=(
                        keras.initializers.RandomUniform(0.0, 2.0 / fan_in)
                        if constrained else "glorot_uniform"
                    ),
                    constraint=(
                        keras.constraints.NonNeg() if constrained else None
                    ),
                )
            )
            if i < len(self.hidden_units):
                self.biases.append(
                    self.add_weight(name=f"bias_{i}", shape=(width,),
                                    initializer="zeros")
                )
            fan_in = width

    def energy(self, y, features):
        hidden = tf.reshape(y, [tf.shape(y)[0], -1])
        for kernel, bias in zip(self.kernels[:-1], self.biases):
            hidden = softplus_with_temperature(
                tf.matmul(hidden, kernel) + bias, self.temperature
            )
        return tf.squeeze(tf.matmul(hidden, self.kernels[-1]), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "temperature": self.temperature,
                "input_convex": self.input_convex,
            }
        )
        return config
