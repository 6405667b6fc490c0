"""The SRL SPEN of Sec. 6.2.2, built from the library's layers.

y is a soft role assignment on the dense predicates x arguments grid of a
sentence (B, P, A, R), each cell in the simplex over the R roles, invalid
cells clamped to "O". The energy is the sum of

- the pretrained local term: `LocalLinearEnergy` on the `ArcEncoder`'s arc
  representations (the local model's own layers and weights);
- a global term: `MLPGlobalEnergy` in pooled mode over the roles chosen for
  each predicate (sum over its arguments of y, "O" left out), conditioned
  on the predicate's mean arc representation;
- soft constraints alpha * SoftPlus(a + b - 1): `SoftConstraintEnergy` over
  the pairs of overlapping candidates (a, b = the mass of taking any role,
  `empty_label=0`) and over the pairs of candidates taking the same core
  role, each alpha learned;
- `EntropyEnergy` (simplex mode), which smooths the minimisation.

Minimised by 10 unrolled `LogitStep` (softmax) steps with learned per-step
rates and no momentum, from the pretrained local model's prediction on arcs
(`ClampedLocalInit`).
`input_convex=True` gives the ICNN variant (every term convex in y);
`training_mode="ssvm"` trains the same energy as a structured SVM.
"""


from spen_keras.core.energies.entropy_energy import EntropyEnergy
from spen_keras.core.energies.local_linear_energy import LocalLinearEnergy
from spen_keras.core.energies.mlp_global_energy import MLPGlobalEnergy
from spen_keras.core.energies.soft_constraint_energy import SoftConstraintEnergy
from spen_keras.core.energies.sum_energy import SumEnergy
from spen_keras.core.spen import SPEN
from spen_keras.srl.srl_layers import ArcEncoder
from spen_keras.srl.srl_layers import ClampedLocalInit
from spen_keras.srl.srl_layers import SrlFeatures
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer

LOCAL_TERM = "local"


def build_srl_spen(vocabulary_sizes, num_roles, embedding_dim=16,
                   hidden_units=0, global_units=(64,), num_steps=10,
                   step_size=1.0, entropy_weight=1.0, input_convex=False,
                   training_mode="unrolled", constraint_alpha=1.0):
    """The SPEN of the module docstring (uncompiled, unbuilt)."""
    encoder = ArcEncoder(vocabulary_sizes, embedding_dim, hidden_units,
                         name="encoder")
    energy = SumEnergy([
        LocalLinearEnergy(num_roles, features_key="arcs", name=LOCAL_TERM),
        MLPGlobalEnergy(hidden_units=global_units, input_convex=input_convex,
                        pool_axis=2, exclude_label=0,
                        features_key="predicate", name="global"),
        SoftConstraintEnergy(features_key="overlap_pairs", empty_label=0,
                             initial_alpha=constraint_alpha,
                             name="overlap_constraint"),
        SoftConstraintEnergy(features_key="core_pairs",
                             initial_alpha=constraint_alpha,
                             name="core_role_constraint"),
        EntropyEnergy(weight=entropy_weight, name="entropy"),
    ], name="energy")
    minimizer = UnrolledMinimizer(energy, num_steps=num_steps,
                                  step_rule="logits", step_size=step_size,
                                  learn_step_sizes=True, name="minimizer")
    return SPEN(minimizer, feature_network=SrlFeatures(encoder, num_roles,
                                                       name="features"),
                init_network=ClampedLocalInit(num_roles, name="init"),
                training_mode=training_mode, name="srl_spen")


def local_term(spen):
    """The SPEN's `LocalLinearEnergy`."""
    return next(e for e in spen.energy.energies if e.name == LOCAL_TERM)


def copy_local_model(spen, local_model):
    """Sets the SPEN's encoder and local term to the local model's weights
    (both must be built)."""
    spen.feature_network.encoder.set_weights(
        local_model.encoder.get_weights())
    local_term(spen).set_weights(local_model.local.get_weights())
    spen.feature_network.init_scores.set_weights(
        local_model.local.get_weights())


def clamp_local(spen, clamped=True):
    """Freezes (or frees) the pretrained local term and its encoder, as
    during the first epochs of SPEN training."""
    spen.feature_network.encoder.trainable = not clamped
    local_term(spen).trainable = not clamped
