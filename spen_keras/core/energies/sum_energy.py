"""The sum of energy terms (Eq. 11: global + local + constraints)."""

import keras

from spen_keras.core.energies.base_energy import Energy


@keras.saving.register_keras_serializable(package="spen_keras")
class SumEnergy(Energy):
    """E(y; F(x)) = sum_j E_j(y; F(x)).

    Keeps local, global, prior, data and constraint terms as separate,
    reusable layers. Every term receives the same features; a term with a
    `features_key` reads only its entry of a features dict.

    Args:
        energies: a non-empty list of `Energy` layers.
        **kwargs: `Energy` arguments.

    Example:
    >>> energy = SumEnergy([QuadraticDataEnergy(), FieldOfExpertsEnergy(4, 3)])
    >>> energy(tf.zeros((2, 8, 8, 1)), tf.zeros((2, 8, 8, 1))).shape
    TensorShape([2])
    """

    def __init__(self, energies, **kwargs):
        super().__init__(**kwargs)
        energies = [
            e if isinstance(e, Energy) else keras.saving.deserialize_keras_object(e)
            for e in energies
        ]
        if not energies:
            raise ValueError("SumEnergy needs at least one energy term.")
        for term in energies:
            if not isinstance(term, Energy):
                raise TypeError(
                    f"SumEnergy terms must be Energy layers; got {type(term)}."
                )
        self.energies = energies

    def minimum_spatial_size(self):
        """The largest of the terms' minimum sizes (None if none sets one)."""
        sizes = [term.minimum_spatial_size() for term in self.energies]
        sizes = [s for s in sizes if s is not None]
        return max(sizes) if sizes else None

    def gradient_radius(self):
        """The largest of the terms' radii; None if any term has none."""
        radii = [term.gradient_radius() for term in self.energies]
        if any(r is None for r in radii):
            return None
        return max(radii)

    def step_scale(self, features):
        """The product of the terms' step scales (None if no term has one)."""
        scales = [term.step_scale(term.select_features(features))
                  for term in self.energies]
        scales = [s for s in scales if s is not None]
        if not scales:
            return None
        return keras.ops.prod(keras.ops.stack(scales), axis=0)

    def energy(self, y, features):
        terms = [term(y, features) for term in self.energies]
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    def get_config(self):
        config = super().get_config()
        config.update(
            {"energies": [keras.saving.serialize_keras_object(e)
                          for e in self.energies]}
        )
        return config
