"""Table 1's Keras comparison systems as zoo rows: ProximalNet and the
feed-forward convnet.

Both are Keras models that map the noisy, hole-filled depth x (batch, H, W, 1)
to y, so they use the SPEN rows' spec (`DenoisingPreset`) and are trained,
evaluated, saved and reloaded by the same code: `train_preset` (random 96x128
crops, masked MSE, Adam, backups, NaN stop, whole-frame evaluation) and
`load_preset`.

Budgets: about 10 minutes of training each on the 2-core reference machine.
Measured at batch 8 on 96x128 crops with the machine loaded by two other
trainings (roughly half its normal speed): ProximalNet 0.65 s/step,
feed-forward convnet 0.49 s/step; so about 0.33 and 0.25 s/step unloaded,
i.e. 1500 steps (~8 min) and 1800 steps (~7.5 min). Learning rates: the
feed-forward convnet learns fastest at Adam 1e-3 (after 25 steps 1e-3 was
below the identity's held-out MSE, 3e-3 and 1e-2 were not); ProximalNet
starts from a good DCT initialisation (37.7 dB untrained on the test frames)
that Adam 1e-2 would move by ~7% per step, so it uses 3e-3.
"""

from spen_keras.baselines.feedforward_denoiser import FeedForwardDenoiser
from spen_keras.baselines.proximal_net import ProximalNetDenoiser
from spen_keras.zoo.denoising_presets import DenoisingPreset


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


KERAS_BASELINE_PRESETS = {
    spec.name: spec
    for spec in [
        DenoisingPreset(
            name="proximalnet",
            row="ProximalNet",
            paper_psnr=36.31,
            description="5 unrolled primal-dual steps on an exact-l1 FoE "
                        "energy (Wang et al. 2016), trained end-to-end",
            build=proximal_net,
            steps=600,
            batch_size=8,
            learning_rate=3e-3,
        ),
        DenoisingPreset(
            name="feedforward_convnet",
            row="Feed-forward convnet",
            paper_psnr=37.0,
            description="DeepPrior's convolutions without pooling, x -> "
                        "x + residual directly (Sec. 6.1.3)",
            build=feedforward_convnet,
            steps=1000,
            batch_size=8,
            learning_rate=1e-3,
        ),
    ]
}
