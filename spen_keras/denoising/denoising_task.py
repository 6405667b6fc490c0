"""Depth denoising as a training task: crops, masked MSE, PSNR on frames.

`DENOISING_TASK` is what the task-neutral trainer
(`spen_keras.presets.training`) needs from this family: random 96x128 crops
of the embedded 7-Scenes training frames with seeded Kinect-like noise, the
masked MSE, the PSNR metric, and evaluation on the whole embedded test
frames. `predict_frames` / `evaluate_denoiser` run any denoiser (a Keras
model or a numpy callable) frame by frame.
"""

import time

import numpy as np

from spen_keras.core.tiled_inference import compiled_forward
from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.denoising_pipeline import make_training_dataset
from spen_keras.denoising.masked_loss import MaskedMeanSquaredError
from spen_keras.denoising.psnr import PSNR, psnr
from spen_keras.denoising.seven_scenes_frames import load_frames
from spen_keras.presets.training import TrainingTask

CROP_SIZE = (96, 128)
INPUT_SHAPE = (None, None, None, 1)
EVALUATION = ("embedded 7-Scenes stairs test frames (seq 1, 4; frames 0-2), "
              "whole 480x640, KinectNoiseModel() seed 1234")
NOISY_INPUT = "noisy input"


def is_keras_model(model):
    import keras

    return isinstance(model, keras.Model)


def predict_frames(model, x, with_iterates=False):
    """Runs a denoiser on each frame of x (Keras models in graph mode).

    Args:
        model: a Keras model mapping (1, H, W, 1) to (1, H, W, 1), or a
            callable mapping (n, H, W, 1) float32 arrays to arrays.
        x: noisy, hole-filled frames (n, H, W, 1).
        with_iterates: return every iterate (SPENs only).

    Returns:
        (outputs, seconds): the stacked predictions (n, H, W, 1), or with
        `with_iterates` the list of per-frame iterates (T, 1, H, W, 1).
    """
    if not is_keras_model(model):
        started = time.perf_counter()
        outputs = np.asarray(model(np.asarray(x, np.float32)), np.float32)
        return outputs, time.perf_counter() - started
    forward = compiled_forward(model, with_iterates)
    started = time.perf_counter()
    outputs = [forward(x[i:i + 1]) for i in range(len(x))]
    seconds = time.perf_counter() - started
    if not with_iterates:
        outputs = np.concatenate(outputs)
    return outputs, seconds


def evaluate_denoiser(model, x, y, with_iterates=False):
    """PSNR of a denoiser on whole frames, one frame at a time.

    Args:
        model: a Keras denoiser or a numpy callable (see `predict_frames`).
        x, y: noisy inputs and targets (n, H, W, 1), 0 marking invalid.
        with_iterates: also return the mean PSNR of every iterate y_1..y_T
            (from the same pass, so it costs nothing extra).

    Returns:
        (mean PSNR of y_T, seconds, predictions y_T, PSNR per iterate or None).
    """
    outputs, seconds = predict_frames(model, x, with_iterates)
    if with_iterates:
        predictions = np.concatenate([o[-1] for o in outputs])
        curve = np.nanmean(
            [[float(psnr(y[i:i + 1], iterate)[0]) for iterate in o]
             for i, o in enumerate(outputs)], axis=0)
    else:
        predictions, curve = outputs, None
    return float(np.nanmean(psnr(y, predictions))), seconds, predictions, curve


def evaluation_arrays():
    """(x, y) of the embedded test frames: what trained presets report."""
    return make_evaluation_arrays(load_frames("test"))


def evaluation_record(model, x, y, evaluation):
    """The metadata's evaluation record of a denoiser on frames (x, y): our
    PSNR, the noisy input's, and `evaluation` (what was evaluated)."""
    ours = evaluate_denoiser(model, x, y)[0]
    noisy = float(np.nanmean(psnr(y, x)))
    return {"our_value": round(ours, 3),
            "reference_values": {NOISY_INPUT: round(noisy, 3)},
            "evaluation": evaluation}


def evaluate_on_test_frames(model):
    """`evaluation_record` of a denoiser on the embedded test frames."""
    return evaluation_record(model, *evaluation_arrays(), EVALUATION)


class DenoisingTask(TrainingTask):
    """Training and evaluation of the depth-denoising Keras presets.

    Args:
        train_sequences: the embedded training sequences to crop from
            (default: every sequence of the train split, 2 and 3). The
            equal-effort protocol trains on sequence 2 and keeps sequence 3
            for validation (`spen_keras.denoising.equal_effort`).
        augmentation: None (random crops and flips, the paper's setting) or
            an `Augmentation` (depth scaling/offsets, rotations, flips,
            noise levels).
    """

    input_shape = INPUT_SHAPE

    shards_input = True

    def __init__(self, train_sequences=None, augmentation=None):
        self.train_sequences = (None if train_sequences is None
                                else tuple(int(s) for s in train_sequences))
        self.augmentation = augmentation

    @property
    def training_data(self):
        if self.train_sequences is None:
            sequences = "seq 2, 3"
        else:
            sequences = "seq " + ", ".join(map(str, self.train_sequences))
        text = (f"embedded 7-Scenes stairs train frames ({sequences}), "
                f"random {CROP_SIZE[0]}x{CROP_SIZE[1]} crops")
        if self.augmentation is None:
            return text + " + flips"
        return text + "; augmented: " + self.augmentation.describe()

    def training_frames(self):
        frames = load_frames("train")
        if self.train_sequences is None:
            return frames
        chosen = [f for f in frames if f["sequence"] in self.train_sequences]
        if not chosen:
            raise ValueError(f"No embedded training frames of sequences "
                             f"{self.train_sequences}.")
        return chosen

    def training_dataset(self, batch_size, seed, shard=None):
        extra = ({} if self.augmentation is None
                 else {"augmentation": self.augmentation})
        return make_training_dataset(self.training_frames(),
                                     crop_size=CROP_SIZE,
                                     batch_size=batch_size, seed=seed,
                                     shard=shard, **extra)

    def loss(self):
        return MaskedMeanSquaredError()

    def metrics(self):
        return [PSNR()]

    def training_noise(self, **options):
        """The metadata record of the noise this task trains on
        (`training_noise.training_noise_record`, which takes `options`)."""
        from spen_keras.denoising.training_noise import training_noise_record

        scales = (1.0, 1.0) if self.augmentation is None else tuple(
            self.augmentation.noise_scale)
        return training_noise_record(self.training_frames(), scales,
                                     **options)

    def evaluate(self, model):
        return {**evaluate_on_test_frames(model),
                "training_noise": self.training_noise()}

    def for_data_dir(self, data_dir, noise_scale=None, holdout_every=None,
                     noise_sigma=None, validation_dir=None):
        """This task on a user's depth folder (`spen-keras train
        --data-dir`): `spen_keras.denoising.user_data.UserDenoisingTask`,
        without this task's augmentation."""
        from spen_keras.denoising.user_data import UserDenoisingTask

        return UserDenoisingTask(data_dir, noise_scale, holdout_every,
                                 noise_sigma, validation_dir)


DENOISING_TASK = DenoisingTask()

# The equal-effort protocol's training budget and split (Table 1's learned
# rows; `spen_keras.denoising.equal_effort` runs the sweep).
PROTOCOL_STEPS = 500
PROTOCOL_BATCH_SIZE = 4
PROTOCOL_TRAIN_SEQUENCES = (2,)
PROTOCOL_VALIDATION_SEQUENCES = (3,)


def protocol_task(augmentation=None,
                  train_sequences=PROTOCOL_TRAIN_SEQUENCES):
    """The `DenoisingTask` of the equal-effort protocol: crops of training
    sequence 2 only (sequence 3 is its validation data)."""
    return DenoisingTask(train_sequences=train_sequences,
                         augmentation=augmentation)
