"""Depth-denoising data: 16-bit PNG I/O, normalisation, noise, 7-Scenes frames.

Conventions (DESIGN.md, "Protocols"): normalised depth is millimetres / 5000;
invalid pixels (raw 0 or 65535) are exactly 0 in targets, every valid depth is
> 0, and model inputs are hole-free (`fill_invalid`).
"""

from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.denoising_pipeline import make_noisy_input
from spen_keras.denoising.denoising_pipeline import make_training_dataset
from spen_keras.denoising.denoising_pipeline import noise_seed
from spen_keras.denoising.depth_io import DepthImageError
from spen_keras.denoising.depth_io import read_depth_png
from spen_keras.denoising.depth_io import write_depth_png
from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM
from spen_keras.denoising.depth_normalization import INVALID_DEPTH_VALUES
from spen_keras.denoising.depth_normalization import denormalize_depth
from spen_keras.denoising.depth_normalization import fill_invalid
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.kinect_noise import KinectNoiseModel
from spen_keras.denoising.seven_scenes_frames import SPLIT_FILES
from spen_keras.denoising.seven_scenes_frames import embedded_frames_dir
from spen_keras.denoising.seven_scenes_frames import load_frames
from spen_keras.denoising.seven_scenes_frames import read_split

__all__ = [
    "DEPTH_SCALE_MM",
    "INVALID_DEPTH_VALUES",
    "SPLIT_FILES",
    "DepthImageError",
    "KinectNoiseModel",
    "denormalize_depth",
    "embedded_frames_dir",
    "fill_invalid",
    "load_frames",
    "make_evaluation_arrays",
    "make_noisy_input",
    "make_training_dataset",
    "noise_seed",
    "normalize_depth",
    "read_depth_png",
    "read_split",
    "valid_mask",
    "write_depth_png",
]
