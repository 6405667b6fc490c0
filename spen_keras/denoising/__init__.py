"""The depth-denoising task family (Sec. 6.1, Table 1 of the paper).

Everything about denoising lives here: 16-bit depth PNG I/O, normalisation
and hole filling, the seeded Kinect-like noise, 7-Scenes frames (read
through the `seven_scenes` dataset's reader), the crop pipeline, the masked
MSE loss and PSNR metric, the comparison systems (`baselines`), the preset
specs (`denoising_presets`), the training task, `denoise_depth`, the demo
and Table 1's description (`table1`).

Conventions: normalised depth is millimetres / 5000; invalid pixels (raw 0
or 65535) are exactly 0 in targets, every valid depth is > 0, and model
inputs are hole-free (`fill_invalid`).

Importing this package registers the family's presets and Table 1 (the one
call below); nothing outside this folder knows about denoising.
"""

from spen_keras.denoising.denoise import DenoisingError
from spen_keras.denoising.denoise import denoise_depth
from spen_keras.denoising.denoise import denoise_file
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
from spen_keras.denoising.masked_loss import MaskedMeanSquaredError
from spen_keras.denoising.masked_loss import masked_mean_squared_error
from spen_keras.denoising.psnr import PSNR
from spen_keras.denoising.psnr import psnr
from spen_keras.denoising.seven_scenes_frames import SPLIT_FILES
from spen_keras.denoising.seven_scenes_frames import embedded_frames_dir
from spen_keras.denoising.seven_scenes_frames import load_frames
from spen_keras.denoising.seven_scenes_frames import read_split
from spen_keras.denoising.commands import COMMANDS
from spen_keras.denoising.denoising_presets import DENOISING_PRESETS
from spen_keras.denoising.equal_effort import EqualEffortError
from spen_keras.denoising.table1 import TABLE1
from spen_keras.datasets.seven_scenes import SevenScenesDataError
from spen_keras.denoising.training_noise import LIST_FOOTER
from spen_keras.denoising.training_noise import describe_training_noise
from spen_keras.presets.family import register_family

register_family("denoising", presets=DENOISING_PRESETS, tables=[TABLE1],
                commands=COMMANDS,
                user_errors=(DepthImageError, DenoisingError,
                             SevenScenesDataError, EqualEffortError),
                preset_note=describe_training_noise, list_footer=LIST_FOOTER)

__all__ = [
    "DEPTH_SCALE_MM",
    "DENOISING_PRESETS",
    "INVALID_DEPTH_VALUES",
    "MaskedMeanSquaredError",
    "PSNR",
    "SPLIT_FILES",
    "TABLE1",
    "DenoisingError",
    "DepthImageError",
    "KinectNoiseModel",
    "denoise_depth",
    "denoise_file",
    "denormalize_depth",
    "embedded_frames_dir",
    "fill_invalid",
    "load_frames",
    "make_evaluation_arrays",
    "make_noisy_input",
    "make_training_dataset",
    "masked_mean_squared_error",
    "noise_seed",
    "normalize_depth",
    "psnr",
    "read_depth_png",
    "read_split",
    "valid_mask",
    "write_depth_png",
]
