"""Small energies with closed-form minimisers, for the tests."""

import keras
import tensorflow as tf

from spen_keras.core.energies import Energy
from spen_keras.core.energies.base_energy import sum_over_non_batch_axes


@keras.saving.register_keras_serializable(package="spen_keras_tests")
class LinearTestEnergy(Energy):
    """E(y) = -<y, s> with the scores s given as features."""

    requires_features = True

    def energy(self, y, features):
        return -sum_over_non_batch_axes(y * features)
