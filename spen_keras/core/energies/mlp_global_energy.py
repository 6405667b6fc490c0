"""Global label energy: an MLP over the whole label configuration."""

import keras

from spen_keras.core.energies.activations import softplus_with_temperature
from spen_keras.core.energies.base_energy import Energy, check_positive


@keras.saving.register_keras_serializable(package="spen_keras")
class MLPGlobalEnergy(Energy):
    """E_global(y) = w^T g(... g(C_1 vec(y) + b_1) ...), g = SoftPlus_t.

    The global energy of Belanger & McCallum (2016): a multi-layer network
    over the flattened label vector that scores interactions between all
    labels. With `input_convex=True` every weight matrix after the first and
    the output weights are kept non-negative, which with SoftPlus makes the
    energy convex in y (ICNN).

    Pooled mode (`pool_axis` set): y is first summed over `pool_axis` (e.g.
    the arguments of each predicate, giving its label counts), the label at
    `exclude_label` is dropped from that vector (so that cells padded or
    clamped to it change nothing), and the network scores the pooled label
    vector at every remaining position, concatenated with that position's
    features when the energy has `features_key` (conditioning, e.g. on the
    predicate); the energies of all positions are summed. Any number of
    positions then works (no fixed y size). Conditioning enters the first
    layer only, so the ICNN constraint still makes the energy convex in y.

    Args:
        hidden_units: widths of the hidden layers.
        temperature: SoftPlus temperature.
        input_convex: constrain the energy to be convex in y.
        pool_axis: None (flatten y) or the axis of y summed over (>= 1, not
            the last).
        exclude_label: in pooled mode, a label index left out of the pooled
            vector, or None.
        **kwargs: `Energy` arguments.

    Call arguments:
        y: (batch, ...) labels; flattened per example.
        features: ignored, except in pooled mode with `features_key`:
            (batch, <y's axes without pool_axis and the last>, F).

    Example:
    >>> glob = MLPGlobalEnergy(hidden_units=(8,))
    >>> glob(tf.zeros((2, 5, 3))).shape
    TensorShape([2])

    References:
        Belanger & McCallum. Structured Prediction Energy Networks. ICML 2016.
        Amos, Xu & Kolter. Input Convex Neural Networks. ICML 2017.
    """

    def __init__(self, hidden_units=(16,), temperature=1.0, input_convex=False,
                 pool_axis=None, exclude_label=None, **kwargs):
        super().__init__(**kwargs)
        hidden_units = [int(h) for h in hidden_units]
        if not hidden_units or min(hidden_units) < 1:
            raise ValueError(
                f"`hidden_units` must be non-empty and >= 1; got {hidden_units}."
            )
        self.hidden_units = hidden_units
        self.temperature = check_positive("temperature", temperature)
        self.input_convex = bool(input_convex)
        if pool_axis is not None and int(pool_axis) < 1:
            raise ValueError(
                f"`pool_axis` must be a non-batch axis >= 1; got {pool_axis}.")
        self.pool_axis = None if pool_axis is None else int(pool_axis)
        if exclude_label is not None and int(exclude_label) < 0:
            raise ValueError(
                f"`exclude_label` must be >= 0; got {exclude_label}.")
        self.exclude_label = (None if exclude_label is None
                              else int(exclude_label))
        self.requires_features = (self.pool_axis is not None
                                  and self.features_key is not None)

    def _input_size(self, y_shape, features_shape):
        if self.pool_axis is None:
            return None
        if self.pool_axis >= len(y_shape) - 1:
            raise ValueError(
                f"MLPGlobalEnergy pool_axis {self.pool_axis} must be a "
                f"non-batch axis other than the last of y {tuple(y_shape)}.")
        labels = y_shape[-1]
        if labels is None:
            raise ValueError("MLPGlobalEnergy needs y's last axis known; got "
                             f"{tuple(y_shape)}.")
        if self.exclude_label is not None and self.exclude_label >= labels:
            raise ValueError(
                f"MLPGlobalEnergy exclude_label {self.exclude_label} is out of "
                f"range for y with {labels} labels on its last axis.")
        size = labels - (self.exclude_label is not None)
        if self.features_key is not None:
            features_shape = self.select_features_shape(features_shape)
            if features_shape is None or features_shape[-1] is None:
                raise ValueError(
                    "MLPGlobalEnergy needs its conditioning features' last "
                    f"axis known; got {features_shape}.")
            size += features_shape[-1]
        return size

    def build(self, y_shape, features_shape=None):
        pooled = self._input_size(y_shape, features_shape)
        size = 1
        for dim in ([] if pooled is not None else y_shape[1:]):
            if dim is None:
                raise ValueError(
                    "MLPGlobalEnergy needs every non-batch dimension of y to be "
                    f"known; got {y_shape}."
                )
            size *= dim
        if pooled is not None:
            size = pooled
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
        if self.pool_axis is not None:
            return self._pooled_energy(y, features)
        hidden = keras.ops.reshape(y, (keras.ops.shape(y)[0], -1))
        for kernel, bias in zip(self.kernels[:-1], self.biases):
            hidden = softplus_with_temperature(
                keras.ops.matmul(hidden, kernel) + bias, self.temperature
            )
        return keras.ops.squeeze(keras.ops.matmul(hidden, self.kernels[-1]),
                                 axis=-1)

    def _pooled_energy(self, y, features):
        pooled = keras.ops.sum(y, axis=self.pool_axis)
        if self.exclude_label is not None:
            e = self.exclude_label
            pooled = keras.ops.concatenate([pooled[..., :e], pooled[..., e + 1:]],
                                           -1)
        if self.features_key is not None:
            pooled = keras.ops.concatenate(
                [pooled, keras.ops.cast(features, pooled.dtype)], -1)
        hidden = pooled
        for kernel, bias in zip(self.kernels[:-1], self.biases):
            hidden = softplus_with_temperature(
                keras.ops.tensordot(hidden, kernel, axes=1) + bias,
                self.temperature)
        per_position = keras.ops.tensordot(hidden, self.kernels[-1], axes=1)
        return keras.ops.sum(keras.ops.reshape(
            per_position, (keras.ops.shape(y)[0], -1)), axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_units": list(self.hidden_units),
                "temperature": self.temperature,
                "input_convex": self.input_convex,
                "pool_axis": self.pool_axis,
                "exclude_label": self.exclude_label,
            }
        )
        return config
