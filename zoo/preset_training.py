"""Training a Table 1 preset: crops, checkpoints, resume, NaN stop, metadata.

`train_preset` trains one `DenoisingPreset` on random 96x128 crops of the
embedded 7-Scenes training frames with Keras' own progress output. Progress
is backed up every epoch (`keras.callbacks.BackupAndRestore`), so a run that
is interrupted resumes from its last epoch when started again with the same
backup folder; `TerminateOnNaN` stops a diverging run, and a run that stops on
NaN raises instead of writing its weights.
"""

import datetime
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf

from spen_keras.denoising import (
    load_frames,
    make_evaluation_arrays,
    make_training_dataset,
)
from spen_keras.losses import MaskedMeanSquaredError
from spen_keras.metrics import PSNR, psnr
from spen_keras.zoo.preset_io import INPUT_SHAPE, load_preset, save_preset

STEPS_PER_EPOCH = 25
CROP_SIZE = (96, 128)
EVALUATION = ("embedded 7-Scenes stairs test frames (seq 1, 4; frames 0-2), "
              "whole 480x640, KinectNoiseModel() seed 1234")


class TrainingDivergedError(RuntimeError):
    """Training met NaN/Inf; the preset was not written."""


def machine_description():
    """CPU model, core count and library versions, for metadata."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import tensorflow as tf

    return (f"{cpu}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}")


def predict_frames(model, x, with_iterates=False):
    """Runs the model on each frame of x in graph mode.

    Returns:
        (outputs, seconds): the stacked predictions (n, H, W, 1), or with
        `with_iterates` the list of per-frame iterates (T, 1, H, W, 1).
    """
    spec = tf.TensorSpec((1, None, None, x.shape[-1]), tf.float32)
    if with_iterates:
        forward = tf.function(model.predict_iterates, input_signature=[spec])
    else:
        forward = tf.function(lambda frame: model(frame), input_signature=[spec])
    started = time.perf_counter()
    outputs = [forward(tf.constant(x[i:i + 1])).numpy() for i in range(len(x))]
    seconds = time.perf_counter() - started
    if not with_iterates:
        outputs = np.concatenate(outputs)
    return outputs, seconds


def evaluate_denoiser(model, x, y, with_iterates=False):
    """PSNR of the model on whole frames, one frame at a time, in graph mode.

    Args:
        model: a denoising SPEN.
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


def test_frame_psnr(denoise):
    """(PSNR of denoise(x), PSNR of x) on the embedded test frames."""
    x_test, y_test = make_evaluation_arrays(load_frames("test"))
    ours = float(np.nanmean(psnr(y_test, denoise(x_test))))
    return ours, float(np.nanmean(psnr(y_test, x_test)))


def preset_metadata(spec, our_psnr, noisy_psnr, wall_time_s, command,
                    **training):
    """The metadata.json of a preset (SPEN or baseline).

    Args:
        spec: the preset's spec (name, row, description, paper_psnr).
        our_psnr, noisy_psnr: measured on the embedded test frames.
        wall_time_s: training/fitting time.
        command: the command that produced the preset.
        **training: seed, steps, batch size and other training facts.
    """
    metadata = {
        "name": spec.name,
        "table": "Table 1 (7-Scenes depth denoising, PSNR dB)",
        "row": spec.row,
        "description": spec.description,
        "paper_psnr": spec.paper_psnr,
        "our_psnr": round(our_psnr, 3),
        "noisy_input_psnr": round(noisy_psnr, 3),
        "evaluation": EVALUATION,
        "command": command,
        "wall_time_s": round(wall_time_s, 1),
        "machine": machine_description(),
        "trained_on": datetime.date.today().isoformat(),
    }
    metadata.update(training)
    return metadata


def build_for_training(spec, presets_root=None):
    """The untrained model of a spec, warm-started where the spec says."""
    keras.utils.set_random_seed(spec.seed)
    model = spec.build()
    model.build(INPUT_SHAPE)
    if spec.warm_start:
        source_dir = (spec.warm_start if presets_root is None
                      else os.path.join(presets_root, spec.warm_start))
        source = load_preset(source_dir)
        model.energy.set_weights(source.energy.get_weights())
    return model


def train_preset(spec, output_dir, backup_dir, steps=None, command=None,
                 presets_root=None, verbose=1, steps_per_epoch=STEPS_PER_EPOCH,
                 callbacks=()):
    """Trains `spec`, evaluates it on the test frames and saves the preset.

    Args:
        spec: a `DenoisingPreset`.
        output_dir: the preset folder to write.
        backup_dir: where BackupAndRestore keeps the resumable state.
        steps: override of `spec.steps` (e.g. for smoke tests).
        command: the command line to record in the metadata.
        presets_root: folder holding the warm-start preset (default: the
            shipped presets).
        verbose: Keras fit verbosity.
        steps_per_epoch: steps between two backups.
        callbacks: extra Keras callbacks.

    Returns:
        The metadata dict written beside the weights.
    """
    steps = steps or spec.steps
    model = build_for_training(spec, presets_root)
    steps_per_epoch = min(steps_per_epoch, steps)
    epochs = max(1, round(steps / steps_per_epoch))
    # Cosine decay: large steps early, and late updates too small to undo
    # the result (a constant rate let a DeepPrior run jump out of its basin).
    schedule = keras.optimizers.schedules.CosineDecay(
        spec.learning_rate, decay_steps=steps_per_epoch * epochs, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=MaskedMeanSquaredError(), metrics=[PSNR()])
    dataset = make_training_dataset(load_frames("train"), crop_size=CROP_SIZE,
                                    batch_size=spec.batch_size, seed=spec.seed)
    nan_stop = keras.callbacks.TerminateOnNaN()
    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=steps_per_epoch, epochs=epochs,
              shuffle=False, verbose=verbose,
              callbacks=[keras.callbacks.BackupAndRestore(backup_dir),
                         nan_stop, *callbacks])
    wall = time.perf_counter() - started
    if model.stop_training or not all(
            np.isfinite(keras.ops.convert_to_numpy(w)).all()
            for w in model.weights):
        raise TrainingDivergedError(
            f"Training {spec.name} met NaN/Inf and stopped; the preset was not "
            f"written. The last good epoch is backed up in {backup_dir}.")

    ours, noisy = test_frame_psnr(lambda x: predict_frames(model, x)[0])
    metadata = preset_metadata(
        spec, ours, noisy, wall, command or f"spen-keras train --preset "
        f"{spec.name}", seed=spec.seed, steps=steps_per_epoch * epochs,
        batch_size=spec.batch_size, learning_rate=spec.learning_rate,
        learning_rate_schedule="cosine decay to 5% over the run",
        warm_start=spec.warm_start,
        training_data="embedded 7-Scenes stairs train frames (seq 2, 3), "
                      f"random {CROP_SIZE[0]}x{CROP_SIZE[1]} crops + flips")
    save_preset(model, output_dir, metadata)
    return metadata
