"""Table 1 (7-Scenes depth denoising): one preset spec per SPEN row.

A spec says how to build the untrained model (architecture and minimiser, i.e.
the preset's `config.json`) and how `spen-keras train` trains it on random
96x128 crops of the embedded training frames. Architectures follow Sec. 6.1:

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

import dataclasses
from typing import Callable, Optional

from spen_keras.energies import (
    DeepPriorEnergy,
    FieldOfExpertsEnergy,
    QuadraticDataEnergy,
    SumEnergy,
)
from spen_keras.spen import SPEN
from spen_keras.step_rules import MomentumStep
from spen_keras.unrolled_minimizer import UnrolledMinimizer

INITIAL_VARIANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class DenoisingPreset:
    """How to build and train one Table 1 row.

    Attributes:
        name: preset name (folder under zoo/presets).
        row: the row's label in Table 1.
        paper_psnr: the paper's PSNR for the row (None where it has none).
        description: one line for `spen-keras zoo list`.
        build: a function returning the untrained SPEN.
        steps: training steps.
        batch_size: crops per step.
        learning_rate: Adam's initial learning rate (cosine-decayed to 5%
            of it over the run).
        warm_start: preset whose trained weights initialise this one.
        seed: seed of weights and crops.
    """

    name: str
    row: str
    paper_psnr: Optional[float]
    description: str
    build: Callable[[], SPEN]
    steps: int
    batch_size: int = 8
    learning_rate: float = 1e-2
    warm_start: Optional[str] = None
    seed: int = 0


def field_of_experts(input_convex=False):
    return FieldOfExpertsEnergy(num_filters=24, filter_size=7, temperature=25.0,
                                input_convex=input_convex)


def deep_prior(input_convex=False):
    return DeepPriorEnergy(filters=(32, 32), kernel_sizes=(7, 7),
                           temperature=25.0, input_convex=input_convex)


def denoiser(prior, num_steps, momentum, step_size=0.25, learn_step_sizes=True,
             iterate_loss="weighted", training_mode="unrolled"):
    """A SPEN minimising data term + prior from y_0 = x."""
    energy = SumEnergy([QuadraticDataEnergy(INITIAL_VARIANCE), prior])
    minimizer = UnrolledMinimizer(
        energy, num_steps=num_steps, step_rule=MomentumStep(momentum),
        step_size=step_size * INITIAL_VARIANCE,
        learn_step_sizes=learn_step_sizes,
    )
    return SPEN(minimizer, iterate_loss=iterate_loss,
                training_mode=training_mode, ssvm_margin_scale=10.0,
                mask_invalid_targets=True)


def _spec(name, row, paper, description, build, steps, **kwargs):
    return DenoisingPreset(name, row, paper, description, build, steps,
                           **kwargs)


DENOISING_PRESETS = {
    spec.name: spec
    for spec in [
        _spec("foe_20", "FOE-20", 36.41,
              "FOE prior, 20 steps, momentum 0.75, fixed step, loss on y_T",
              lambda: denoiser(field_of_experts(), 20, 0.75, step_size=0.1,
                               learn_step_sizes=False, iterate_loss="final"),
              steps=300),
        _spec("foe_20_plus", "FOE-20+", 37.34,
              "FOE prior, 20 steps, momentum 0.25, learned steps, Eq. 9 loss",
              lambda: denoiser(field_of_experts(), 20, 0.25), steps=300),
        _spec("foe_3", "FOE-3", 37.62,
              "FOE prior, 3 steps, momentum 0.25, learned steps, Eq. 9 loss",
              lambda: denoiser(field_of_experts(), 3, 0.25), steps=800),
        _spec("dp_20", "DP-20", 40.3,
              "DeepPrior, 20 steps, momentum 0.25, learned steps, Eq. 9 loss",
              lambda: denoiser(deep_prior(), 20, 0.25), steps=75,
              learning_rate=1e-3, warm_start="dp_3"),
        _spec("dp_3", "DP-3", 40.4,
              "DeepPrior, 3 steps, momentum 0.25, learned steps, Eq. 9 loss",
              lambda: denoiser(deep_prior(), 3, 0.25), steps=600,
              learning_rate=3e-3),
        _spec("foe_ssvm", "FOE-SSVM", 37.7,
              "FOE prior trained as a structured SVM, 20-step GD inference",
              lambda: denoiser(field_of_experts(), 20, 0.75, step_size=0.1,
                               learn_step_sizes=False, training_mode="ssvm"),
              steps=400),
        _spec("dp_ssvm", "DP-SSVM", 38.7,
              "DeepPrior trained as a structured SVM, 20-step GD inference",
              lambda: denoiser(deep_prior(), 20, 0.75, step_size=0.1,
                               learn_step_sizes=False, training_mode="ssvm"),
              steps=100, learning_rate=3e-3),
        _spec("foe_3_icnn", "FOE-3 (input-convex)", None,
              "FOE-3 with the energy constrained convex (FOE is convex anyway)",
              lambda: denoiser(field_of_experts(True), 3, 0.25), steps=800),
        _spec("dp_3_icnn", "DP-3 (input-convex)", None,
              "DP-3 with non-negative weights after the first layer (ICNN)",
              lambda: denoiser(deep_prior(True), 3, 0.25), steps=300,
              learning_rate=3e-3),
    ]
}
