"""Table 1's architectures (Sec. 6.1): the SPENs' energies and minimisers,
and the Keras comparison systems.

- data term ||y - x||^2 / (2 sigma^2), sigma^2 trainable, every row;
- FOE: 24 learned 7x7 filters under SoftAbs at SoftPlus temperature 25;
- DeepPrior (DP): conv 7x7x32, SoftPlus, conv 7x7x32, SoftPlus, conv 1x1,
  pooled over pixels (summed: see `DeepPriorEnergy`);
- FOE-20: 20 steps, momentum 0.75, loss on y_T; FOE-20+: Eq. 9 loss,
  momentum 0.25, learned eta_t; FOE-3: 3 steps; DP-20: 20 steps, momentum
  0.25; DP-3: 3 steps; *-SSVM: the same energies trained as structured SVMs
  with 20-step loss-augmented inference; *-ICNN: input-convex energies.

Step sizes are in units of sigma^2 (the data term's curvature is 1 / sigma^2),
so a step of 0.5 sigma^2 moves y halfway to x through the data term alone.
"""

from spen_keras.core.energies import (
    DeepPriorEnergy,
    FieldOfExpertsEnergy,
    QuadraticDataEnergy,
    SumEnergy,
)
from spen_keras.core.spen import SPEN
from spen_keras.core.step_rules import MomentumStep
from spen_keras.core.unrolled_minimizer import UnrolledMinimizer
from spen_keras.denoising.baselines import FeedForwardDenoiser
from spen_keras.denoising.baselines import ProximalNetDenoiser

INITIAL_VARIANCE = 1e-3


def field_of_experts(input_convex=False):
    return FieldOfExpertsEnergy(num_filters=24, filter_size=7, temperature=25.0,
                                input_convex=input_convex)


def deep_prior(input_convex=False, all_positive=False):
    return DeepPriorEnergy(filters=(32, 32), kernel_sizes=(7, 7),
                           temperature=25.0, input_convex=input_convex,
                           all_positive=all_positive)


# The noise-aware data term (beyond the paper): sigma^2 scaled per frame by
# (s_hat / NOISE_REFERENCE)^2, s_hat a robust estimate of the frame's noise
# standard deviation from neighbouring-pixel differences. NOISE_REFERENCE is
# the benchmark noise's standard deviation at the training sequence's median
# depth (1.9 m): KinectNoiseModel().sigma(0.384) = 0.031. The profile is flat
# (r = 1): a depth-dependent variance would make one scalar step size
# unstable on near pixels and idle on far ones.
NOISE_REFERENCE = 0.03
FLAT_PROFILE = (1.0, 0.0, 0.0)


def noise_aware_data_term():
    return QuadraticDataEnergy(INITIAL_VARIANCE, noise_profile=FLAT_PROFILE,
                               noise_estimate=NOISE_REFERENCE)


def denoiser(prior, num_steps, momentum, step_size=0.25, learn_step_sizes=True,
             iterate_loss="weighted", training_mode="unrolled",
             data_term=None):
    """A SPEN minimising data term + prior from y_0 = x."""
    energy = SumEnergy([data_term or QuadraticDataEnergy(INITIAL_VARIANCE),
                        prior])
    minimizer = UnrolledMinimizer(
        energy, num_steps=num_steps, step_rule=MomentumStep(momentum),
        step_size=step_size * INITIAL_VARIANCE,
        learn_step_sizes=learn_step_sizes,
    )
    return SPEN(minimizer, iterate_loss=iterate_loss,
                training_mode=training_mode, ssvm_margin_scale=10.0,
                mask_invalid_targets=True)


def noise_aware_build(row):
    """The builder of `row`'s architecture with the noise-aware data term
    (DP-3 and FOE-3 shapes)."""
    priors = {"dp_3": deep_prior, "foe_3": field_of_experts}
    if row not in priors:
        raise ValueError(f"No noise-aware variant of {row}; known: "
                         f"{sorted(priors)}.")
    return lambda: denoiser(priors[row](), 3, 0.25,
                            data_term=noise_aware_data_term())


def proximal_net():
    """ProximalNet as in Wang et al. 2016: 5 primal-dual iterations, FoE
    energy with the exact l1 term, per-iteration 7x7 filters (24, as the
    FOE rows)."""
    return ProximalNetDenoiser(num_iterations=5, num_filters=24,
                               filter_size=7, share_filters=False)


def feedforward_convnet():
    """DeepPrior's convolutions without pooling: 7x7x32, 7x7x32, 1x1."""
    return FeedForwardDenoiser(filters=(32, 32), kernel_sizes=(7, 7),
                               temperature=25.0, padding="reflect",
                               residual=True)
