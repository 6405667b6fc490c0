"""Comparison systems of the paper's tables that are Keras models."""

from spen_keras.baselines.feedforward_denoiser import FeedForwardDenoiser
from spen_keras.baselines.proximal_net import ProximalNetDenoiser

__all__ = ["FeedForwardDenoiser", "ProximalNetDenoiser"]
