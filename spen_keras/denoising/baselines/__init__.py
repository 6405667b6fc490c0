"""Table 1's comparison systems: ProximalNet and the feed-forward convnet
(Keras models), BM3D and the Filter Forest (numpy; the `bm3d` package and
scikit-learn are imported only when used)."""

from spen_keras.denoising.baselines.feedforward_denoiser import FeedForwardDenoiser
from spen_keras.denoising.baselines.proximal_net import ProximalNetDenoiser

__all__ = ["FeedForwardDenoiser", "ProximalNetDenoiser"]
