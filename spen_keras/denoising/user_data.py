"""Depth denoising on a user's own frames: training, fine-tuning, evaluation.

A data folder (`spen-keras train --data-dir`, `spen-keras denoise-eval
--data-dir`) holds 16-bit depth PNGs in millimetres (0 and 65535: no
reading), all of one size, in one of two layouts:

* clean frames: ``DIR/*.png``. The model input is made at run time by the
  benchmark's noise model (`KinectNoiseModel`) at `noise_scale` times its
  level (1.0: the Table 1 benchmark's noise, 28-30 dB PSNR on 7-Scenes);
* real pairs: ``DIR/noisy/NAME.png`` and ``DIR/clean/NAME.png``, the same
  NAME in both (a raw sensor frame and its clean reference, e.g. a fused or
  averaged depth map). The noisy frame is the input as it is (its holes
  filled by the nearest reading); no noise is added.

Held-out frames: the frames are taken in file-name order and every k-th
(`holdout_every`, default 4: the 4th, 8th, ...) is held out. Training never
sees them; a trained preset's metadata reports its PSNR on them, and
`denoise-eval` evaluates on them (with `all_frames`, on every frame of the
folder: a separate test folder). Noise is drawn with the same seeds as the
benchmark's (`noise_seed(seed, 0, index)`, index in file-name order), so
every preset is evaluated on the same noisy frames.

Training takes random crops (96x128, or the whole frame when smaller, at
least 16 pixels a side) of the training frames, as `DenoisingTask` does
with the embedded frames.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> for i in range(4):
...     write_depth_png(folder / f"f{i}.png",
...                     np.full((32, 40), 1500 + i, np.uint16))
>>> data = UserDepthData(folder)
>>> data.layout, [f["name"] for f in data.held_out_frames()]
('clean', ['f3.png'])
"""

import dataclasses
import math
import os
import pathlib
import warnings

import numpy as np

from spen_keras.denoising.denoise import DenoisingError
from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.denoising_pipeline import make_training_dataset
from spen_keras.denoising.denoising_task import CROP_SIZE
from spen_keras.denoising.denoising_task import NOISY_INPUT
from spen_keras.denoising.denoising_task import DenoisingTask
from spen_keras.denoising.denoising_task import evaluate_denoiser
from spen_keras.denoising.denoising_task import evaluation_record
from spen_keras.denoising.depth_io import read_depth_png
from spen_keras.denoising.depth_io import write_depth_png  # noqa: F401
from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM
from spen_keras.denoising.depth_normalization import check_depth_range
from spen_keras.denoising.depth_normalization import normalize_depth
from spen_keras.denoising.depth_normalization import valid_mask
from spen_keras.denoising.kinect_noise import KinectNoiseModel
from spen_keras.denoising.psnr import psnr

#: Every k-th frame (file-name order) is held out by default.
HOLDOUT_EVERY = 4
#: The smallest frame side a folder may have (crops are at most 96x128).
MIN_FRAME_SIDE = 16
NOISY, CLEAN = "noisy", "clean"
EVALUATION_SEED = 1234  # the benchmark's evaluation noise seed


class UserDataError(DenoisingError):
    """A user's depth folder cannot be used; the message names the file."""


def _pngs(folder):
    return sorted((p for p in folder.iterdir()
                   if p.suffix.lower() == ".png" and p.is_file()),
                  key=lambda p: p.name)


def _read(path, shape):
    """(raw, shape) of one 16-bit PNG, refusing a size other than `shape`
    (when given) or a frame without a reading."""
    raw = read_depth_png(path)
    if min(raw.shape) < MIN_FRAME_SIDE:
        raise UserDataError(f"Depth frame {path} is {raw.shape[0]}x"
                            f"{raw.shape[1]}; frames need at least "
                            f"{MIN_FRAME_SIDE} pixels a side.")
    if shape is not None and raw.shape != shape:
        raise UserDataError(f"Depth frame {path} is {raw.shape[0]}x"
                            f"{raw.shape[1]}, the folder's first frame "
                            f"{shape[0]}x{shape[1]}; every frame must have "
                            "one size.")
    if not valid_mask(raw).any():
        raise UserDataError(f"Depth frame {path} has no valid reading "
                            "(every pixel is 0 or 65535).")
    check_depth_range(raw, str(path))
    return raw


def _frame(raw, index, path, noisy_raw=None):
    frame = {"raw": raw, "depth": normalize_depth(raw),
             "mask": valid_mask(raw), "sequence": 0, "frame": index,
             "name": path.name, "path": str(path)}
    if noisy_raw is not None:
        frame.update(noisy=normalize_depth(noisy_raw),
                     noisy_mask=valid_mask(noisy_raw), noisy_raw=noisy_raw)
    return frame


def _read_folder(folder):
    """(layout, frames) of a data folder (see the module docstring)."""
    folder = pathlib.Path(os.fspath(folder)).expanduser()
    if not folder.is_dir():
        raise UserDataError(f"Data folder {folder} does not exist or is "
                            "not a folder.")
    noisy_dir, clean_dir = folder / NOISY, folder / CLEAN
    if noisy_dir.is_dir() or clean_dir.is_dir():
        for needed in (noisy_dir, clean_dir):
            if not needed.is_dir():
                raise UserDataError(
                    f"Data folder {folder} has {NOISY}/ or {CLEAN}/ but not "
                    f"{needed}: noisy/clean pairs need both folders.")
        return "pairs", _read_pairs(folder, noisy_dir, clean_dir)
    paths = _pngs(folder)
    if not paths:
        raise UserDataError(
            f"Data folder {folder} holds no .png depth frames (expected "
            f"{folder}/*.png clean frames, or {folder}/{NOISY}/NAME.png + "
            f"{folder}/{CLEAN}/NAME.png pairs).")
    frames, shape = [], None
    for index, path in enumerate(paths):
        raw = _read(path, shape)
        shape = raw.shape
        frames.append(_frame(raw, index, path))
    return "clean", frames


def _read_pairs(folder, noisy_dir, clean_dir):
    noisy = {p.name: p for p in _pngs(noisy_dir)}
    clean = {p.name: p for p in _pngs(clean_dir)}
    for name in sorted(set(noisy) ^ set(clean)):
        have, lack = ((noisy_dir, clean_dir) if name in noisy
                      else (clean_dir, noisy_dir))
        raise UserDataError(f"Depth frame {have / name} has no pair: "
                            f"{lack / name} is missing.")
    if not noisy:
        raise UserDataError(f"Data folder {folder} holds no noisy/clean "
                            f"pairs: {noisy_dir} and {clean_dir} have no "
                            ".png frames.")
    frames, shape = [], None
    for index, name in enumerate(sorted(noisy)):
        clean_raw = _read(clean[name], shape)
        shape = clean_raw.shape
        frames.append(_frame(clean_raw, index, clean[name],
                             _read(noisy[name], shape)))
    return frames


def _positive(value, what):
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise UserDataError(f"{what} must be a positive number.")
    return value


def benchmark_sigma_mm(frames):
    """The benchmark noise's standard deviation in mm (`KinectNoiseModel()`)
    at the median valid depth of `frames`' clean readings."""
    depths = np.concatenate([f["raw"][f["mask"]] for f in frames])
    median = float(np.median(depths)) / DEPTH_SCALE_MM
    return float(KinectNoiseModel().sigma(median)) * DEPTH_SCALE_MM


class UserDepthData:
    """A user's depth folder, its split and the noise of its inputs.

    Args:
        data_dir: the folder (layouts in the module docstring).
        noise_scale: for clean frames, the multiple of the benchmark's
            `KinectNoiseModel` level to add (default 1.0). Refused for a
            pairs folder (its noise is real).
        holdout_every: every k-th frame (file-name order) is held out.
        all_frames: hold out every frame (a separate test folder; for
            evaluation only).

    Raises:
        UserDataError: one line naming the folder or the file at fault
            (a `DepthImageError` for a PNG that is not 16-bit depth).
    """

    def __init__(self, data_dir, noise_scale=None, holdout_every=None,
                 all_frames=False, noise_sigma=None, validation_dir=None):
        self.data_dir = pathlib.Path(os.fspath(data_dir)).expanduser()
        self.layout, self.frames = _read_folder(self.data_dir)
        given = [flag for flag, value in (("--noise-scale", noise_scale),
                                          ("--noise-sigma", noise_sigma))
                 if value is not None]
        if self.layout == "pairs" and given:
            raise UserDataError(
                f"Data folder {self.data_dir} holds real noisy/clean pairs; "
                f"{given[0]} applies to clean frames only.")
        if len(given) == 2:
            raise UserDataError("Give --noise-scale or --noise-sigma, not "
                                "both.")
        self.noise_sigma = (None if noise_sigma is None
                            else _positive(noise_sigma, "--noise-sigma"))
        self.noise_scale = (
            self.noise_sigma / benchmark_sigma_mm(self.frames)
            if self.noise_sigma is not None else
            1.0 if noise_scale is None
            else _positive(noise_scale, "--noise-scale"))
        self.noise = dataclasses.replace(
            KinectNoiseModel(),
            scale=KinectNoiseModel().scale * self.noise_scale)
        self.all_frames = bool(all_frames)
        self.validation_dir = None
        self.validation = []
        if validation_dir is not None:
            if holdout_every is not None or self.all_frames:
                raise UserDataError("Give --validation-dir or "
                                    "--holdout-every, not both.")
            self.validation_dir = pathlib.Path(
                os.fspath(validation_dir)).expanduser()
            layout, self.validation = _read_folder(self.validation_dir)
            if layout != self.layout:
                raise UserDataError(
                    f"Validation folder {self.validation_dir} holds "
                    f"{layout} frames, the data folder {self.data_dir} "
                    f"{self.layout} frames; use one layout for both.")
        every = HOLDOUT_EVERY if holdout_every is None else holdout_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 2:
            raise UserDataError("--holdout-every must be an integer >= 2.")
        self.holdout_every = None if self.validation_dir else every
        if (not self.all_frames and self.validation_dir is None
                and len(self.frames) < every):
            raise UserDataError(
                f"Data folder {self.data_dir} has {len(self.frames)} "
                f"frame(s); with every {every}th held out it needs at least "
                f"{every} (or a smaller --holdout-every, or a "
                "--validation-dir).")

    def _held_out(self, index):
        if self.validation_dir is not None:
            return False
        return self.all_frames or (index + 1) % self.holdout_every == 0

    def training_frames(self):
        return [f for i, f in enumerate(self.frames) if not self._held_out(i)]

    def held_out_frames(self):
        if self.validation_dir is not None:
            return list(self.validation)
        return [f for i, f in enumerate(self.frames) if self._held_out(i)]

    @property
    def frame_shape(self):
        return self.frames[0]["raw"].shape

    def noise_description(self):
        if self.layout == "pairs":
            return "real sensor noise (the noisy/ frames)"
        sigma = ("" if self.noise_sigma is None else
                 f" (--noise-sigma {self.noise_sigma:g} mm at the median "
                 "depth)")
        return (f"KinectNoiseModel(scale={self.noise.scale:g}) = "
                f"{self.noise_scale:g} x the benchmark noise{sigma}")

    def split_description(self):
        if self.all_frames:
            return "every frame"
        if self.validation_dir is not None:
            return (f"held-out frames: the {len(self.validation)} of "
                    f"{self.validation_dir}")
        return (f"every {self.holdout_every}th frame in file-name order "
                "held out")

    def record(self):
        """The metadata's account of the data (`user_data`)."""
        return {"data_dir": str(self.data_dir.resolve()),
                "layout": self.layout,
                "noise": self.noise_description(),
                "noise_scale": (None if self.layout == "pairs"
                                else self.noise_scale),
                "noise_sigma_mm": self.noise_sigma,
                "holdout_every": self.holdout_every,
                "validation_dir": (None if self.validation_dir is None
                                   else str(self.validation_dir.resolve())),
                "training_frames": [f["name"] for f in
                                    self.training_frames()],
                "held_out_frames": [f["name"] for f in
                                    self.held_out_frames()]}

    def evaluation_arrays(self):
        """(x, y) of the held-out frames: noisy filled inputs and clean
        targets (0 where invalid), (n, H, W, 1)."""
        return make_evaluation_arrays(self.held_out_frames(), self.noise,
                                      EVALUATION_SEED)


class UserDenoisingTask(DenoisingTask):
    """`DenoisingTask` on a user's folder (`UserDepthData`): crops of its
    training frames, evaluation on its held-out frames, and the
    training-noise record of its noise (so `denoise` knows which frames
    are quiet for the preset)."""

    def __init__(self, data_dir, noise_scale=None, holdout_every=None,
                 noise_sigma=None, validation_dir=None):
        super().__init__()
        self.data = UserDepthData(data_dir, noise_scale, holdout_every,
                                  noise_sigma=noise_sigma,
                                  validation_dir=validation_dir)
        height, width = self.data.frame_shape
        self.crop_size = (min(CROP_SIZE[0], height), min(CROP_SIZE[1], width))

    @property
    def identity(self):
        record = self.data.record()
        return {key: record[key] for key in
                ("data_dir", "layout", "noise_scale", "holdout_every",
                 "validation_dir")}

    @property
    def training_data(self):
        data = self.data
        return (f"{len(data.training_frames())} {data.layout} depth frames "
                f"of {data.data_dir} ({data.split_description()}), random "
                f"{self.crop_size[0]}x{self.crop_size[1]} crops + flips; "
                f"{data.noise_description()}")

    def training_frames(self):
        return self.data.training_frames()

    def training_dataset(self, batch_size, seed, shard=None):
        return make_training_dataset(self.training_frames(),
                                     crop_size=self.crop_size,
                                     batch_size=batch_size, seed=seed,
                                     noise=self.data.noise, shard=shard)

    def training_noise(self, **options):
        from spen_keras.denoising import training_noise

        if self.data.layout == "pairs":
            return training_noise.measured_noise_record(
                [f["noisy_raw"] for f in self.training_frames()],
                "real sensor noise (noisy/clean pairs)", **options)
        scale = self.data.noise_scale
        return training_noise.training_noise_record(
            self.training_frames(), (scale, scale), **options)

    def evaluate(self, model):
        x, y = self.data.evaluation_arrays()
        return {**evaluation_record(
                    model, x, y,
                    f"{len(x)} held-out frames of {self.data.data_dir} "
                    f"({self.data.split_description()}), "
                    f"{self.data.noise_description()}, seed "
                    f"{EVALUATION_SEED}"),
                "training_noise": self.training_noise(),
                "user_data": self.data.record()}


def evaluate_presets(data, preset_names):
    """PSNR of presets on a user's held-out frames.

    Args:
        data: a `UserDepthData`.
        preset_names: denoising preset names or folders.

    Returns:
        A list of (row label, mean PSNR in dB), the noisy input first.
    """
    from spen_keras import presets

    x, y = data.evaluation_arrays()
    rows = [(NOISY_INPUT, float(np.nanmean(psnr(y, x))))]
    for name in preset_names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Keras' compile notes
            model = presets.load_preset(name)
        rows.append((str(name), evaluate_denoiser(model, x, y)[0]))
    return rows


def psnr_table(data, rows):
    """The markdown table `denoise-eval` prints."""
    count = len(data.held_out_frames())
    noisy = rows[0][1]
    lines = [f"PSNR (dB) on {count} frame(s) of {data.data_dir} "
             f"({data.split_description()}); input: "
             f"{data.noise_description()}.", "",
             "| denoiser | PSNR (dB) | gain over the noisy input (dB) |",
             "|---|---|---|"]
    for label, value in rows:
        gain = "-" if label == NOISY_INPUT else f"{value - noisy:+.2f}"
        lines.append(f"| {label} | {value:.2f} | {gain} |")
    return "\n".join(lines)

