"""Energy terms E(y; F(x)) as Keras layers returning one value per example."""

from spen_keras.core.energies.activations import soft_abs
from spen_keras.core.energies.activations import softplus_with_temperature
from spen_keras.core.energies.base_energy import Energy
from spen_keras.core.energies.deep_prior_energy import DeepPriorEnergy
from spen_keras.core.energies.entropy_energy import EntropyEnergy
from spen_keras.core.energies.field_of_experts_energy import FieldOfExpertsEnergy
from spen_keras.core.energies.image_energy import ImageEnergy
from spen_keras.core.energies.local_linear_energy import LocalLinearEnergy
from spen_keras.core.energies.mlp_global_energy import MLPGlobalEnergy
from spen_keras.core.energies.quadratic_data_energy import QuadraticDataEnergy
from spen_keras.core.energies.soft_constraint_energy import SoftConstraintEnergy
from spen_keras.core.energies.sum_energy import SumEnergy

__all__ = [
    "DeepPriorEnergy",
    "Energy",
    "EntropyEnergy",
    "FieldOfExpertsEnergy",
    "ImageEnergy",
    "LocalLinearEnergy",
    "MLPGlobalEnergy",
    "QuadraticDataEnergy",
    "SoftConstraintEnergy",
    "SumEnergy",
    "soft_abs",
    "softplus_with_temperature",
]
