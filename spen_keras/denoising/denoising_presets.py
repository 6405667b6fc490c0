"""Table 1 (7-Scenes depth denoising): one preset spec per row, data only.

The architectures are `denoising_models`, the training recipe (the
equal-effort protocol's steps, batch and chosen rates) `denoising_recipe`,
the numpy comparison systems' kinds `baseline_kinds`. Tags select rows for
Table 1's claims: "spen" (every SPEN row), "foe" / "deep_prior" (the
prior), "end_to_end" / "ssvm" (the training), and "input_convex";
"comparison" marks the paper's comparison systems.
"""

from spen_keras.denoising.baseline_kinds import BM3D_KIND, BM3DRecipe
from spen_keras.denoising.baseline_kinds import FILTER_FOREST_KIND
from spen_keras.denoising.baseline_kinds import FilterForestRecipe
from spen_keras.denoising.denoising_models import deep_prior, denoiser
from spen_keras.denoising.denoising_models import feedforward_convnet
from spen_keras.denoising.denoising_models import field_of_experts
from spen_keras.denoising.denoising_models import noise_aware_build
from spen_keras.denoising.denoising_models import proximal_net
from spen_keras.denoising.denoising_recipe import AUGMENTED_TASK
from spen_keras.denoising.denoising_recipe import PROTOCOL_TASK
from spen_keras.denoising.denoising_recipe import protocol_recipe
from spen_keras.presets import KERAS_KIND, PresetSpec

FAMILY = "denoising"
TABLE = "table1"
METRIC = "PSNR (dB)"


def _keras(name, row, paper, description, build, tags, task=PROTOCOL_TASK):
    return PresetSpec(
        name=name, family=FAMILY, table=TABLE, row=row, paper_value=paper,
        metric=METRIC, description=description, kind=KERAS_KIND,
        recipe=protocol_recipe(name, build, task), tags=frozenset(tags))


def _numpy(name, row, paper, description, kind, recipe, tags):
    return PresetSpec(name=name, family=FAMILY, table=TABLE, row=row,
                      paper_value=paper, metric=METRIC,
                      description=description, kind=kind, recipe=recipe,
                      tags=frozenset(tags))


SPEN_E2E = ("spen", "end_to_end")

# Table 1's rows in the paper's order, then the rows beyond the paper.
DENOISING_PRESETS = [
    _numpy("bm3d", "BM3D", 35.46,
           "BM3D (bm3d package, profile lc, hard thresholding), sigma = RMS "
           "of the Kinect noise model at the noisy depths",
           BM3D_KIND, BM3DRecipe("noise_model"), ["comparison"]),
    _numpy("filter_forest", "FilterForest", 35.63,
           "Filter Forest (Fanello et al. 2014): extra-trees on 7x7 patch "
           "differences pick a ridge-fitted 11x11 linear filter per leaf",
           FILTER_FOREST_KIND, FilterForestRecipe(), ["comparison"]),
    _keras("proximalnet", "ProximalNet", 36.31,
           "5 unrolled primal-dual steps on an exact-l1 FoE energy (Wang et "
           "al. 2016), trained end-to-end",
           proximal_net, tags=["comparison"]),
    _keras("foe_20", "FOE-20", 36.41,
           "FOE prior, 20 steps, momentum 0.75, fixed step, loss on y_T",
           lambda: denoiser(field_of_experts(), 20, 0.75, step_size=0.1,
                            learn_step_sizes=False, iterate_loss="final"),
           tags=SPEN_E2E + ("foe",)),
    _keras("foe_20_plus", "FOE-20+", 37.34,
           "FOE prior, 20 steps, momentum 0.25, learned steps, Eq. 9 loss",
           lambda: denoiser(field_of_experts(), 20, 0.25),
           tags=SPEN_E2E + ("foe",)),
    _keras("foe_3", "FOE-3", 37.62,
           "FOE prior, 3 steps, momentum 0.25, learned steps, Eq. 9 loss",
           lambda: denoiser(field_of_experts(), 3, 0.25),
           tags=SPEN_E2E + ("foe",)),
    _keras("dp_20", "DP-20", 40.3,
           "DeepPrior, 20 steps, momentum 0.25, learned steps, Eq. 9 loss",
           lambda: denoiser(deep_prior(), 20, 0.25),
           tags=SPEN_E2E + ("deep_prior",)),
    _keras("dp_3", "DP-3", 40.4,
           "DeepPrior, 3 steps, momentum 0.25, learned steps, Eq. 9 loss",
           lambda: denoiser(deep_prior(), 3, 0.25),
           tags=SPEN_E2E + ("deep_prior",)),
    _keras("foe_ssvm", "FOE-SSVM", 37.7,
           "FOE prior trained as a structured SVM, 20-step GD inference",
           lambda: denoiser(field_of_experts(), 20, 0.75, step_size=0.1,
                            learn_step_sizes=False, training_mode="ssvm"),
           tags=("spen", "ssvm", "foe")),
    _keras("dp_ssvm", "DP-SSVM", 38.7,
           "DeepPrior trained as a structured SVM, 20-step GD inference",
           lambda: denoiser(deep_prior(), 20, 0.75, step_size=0.1,
                            learn_step_sizes=False, training_mode="ssvm"),
           tags=("spen", "ssvm", "deep_prior")),
    _keras("feedforward_convnet", "Feed-forward convnet", 37.0,
           "DeepPrior's convolutions without pooling, x -> x + residual "
           "directly (Sec. 6.1.3)",
           feedforward_convnet, tags=["comparison"]),
    _numpy("bm3d_estimated", "BM3D (sigma estimated)", None,
           "BM3D (bm3d package, profile lc, hard thresholding), sigma "
           "estimated per frame by wavelet MAD (skimage estimate_sigma)",
           BM3D_KIND, BM3DRecipe("estimated"), []),
    _keras("foe_3_icnn", "FOE-3 (input-convex)", None,
           "FOE-3 with the energy constrained convex (FOE is convex anyway)",
           lambda: denoiser(field_of_experts(True), 3, 0.25),
           tags=SPEN_E2E + ("foe", "input_convex")),
    _keras("dp_3_icnn", "DP-3 (input-convex)", None,
           "DP-3 with non-negative weights after the first layer (ICNN)",
           lambda: denoiser(deep_prior(True), 3, 0.25),
           tags=SPEN_E2E + ("deep_prior", "input_convex")),
    _keras("dp_3_icnn_paper", "DP-3 (ICNN as in the paper)", None,
           "DP-3 with every kernel and bias non-negative, the first "
           "layer's included (the paper's ICNN restriction, Sec. 6.1.3)",
           lambda: denoiser(deep_prior(all_positive=True), 3, 0.25),
           tags=SPEN_E2E + ("deep_prior", "input_convex", "all_positive")),
    # Beyond the paper: presets for users' own frames (other rooms, depth
    # ranges, noise levels). Tagged "augmented": the paper's claims leave
    # them out.
    _keras("dp_3_augmented", "DP-3 (augmented)", None,
           "DP-3 trained with depth scaling/offsets, 90-degree rotations, "
           "flips and noise levels 0.5x-2x",
           lambda: denoiser(deep_prior(), 3, 0.25),
           tags=SPEN_E2E + ("deep_prior", "augmented"), task=AUGMENTED_TASK),
    _keras("dp_3_noise_aware", "DP-3 (augmented, noise-aware)", None,
           "DP-3 (augmented) whose data term's sigma^2 follows a per-frame "
           "noise estimate (or `denoise --noise-sigma`)",
           noise_aware_build("dp_3"),
           tags=SPEN_E2E + ("deep_prior", "augmented", "noise_aware"),
           task=AUGMENTED_TASK),
    _keras("feedforward_convnet_augmented", "Feed-forward convnet "
           "(augmented)", None,
           "the feed-forward convnet trained with the augmentation of "
           "DP-3 (augmented)",
           feedforward_convnet, tags=["augmented"], task=AUGMENTED_TASK),
]
