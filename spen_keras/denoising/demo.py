"""`spen-keras demo`: train the DP-3 preset's model briefly and show PSNR.

The model is built from the `dp_3` preset spec (the architecture that ships),
trained from scratch for a few steps on random crops of the embedded
7-Scenes training frames with the spec's recipe (Adam, cosine decay), and
evaluated on the embedded test frames before and after.
"""

import time

import keras
import numpy as np

from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
from spen_keras.denoising.denoising_task import DENOISING_TASK
from spen_keras.denoising.denoising_task import evaluate_denoiser
from spen_keras.denoising.psnr import psnr
from spen_keras.denoising.seven_scenes_frames import load_frames
from spen_keras.presets.training import epochs_for
from spen_keras.presets import get_spec

DEMO_PRESET = "dp_3"


def run_demo(steps=150, batch_size=4, seed=0, log=print):
    """Trains and evaluates the demo SPEN; returns the PSNR figures.

    Returns:
        dict with "noisy", "before", "after" (dB) and "train_seconds".
    """
    spec = get_spec(DEMO_PRESET)
    recipe = spec.recipe
    keras.utils.set_random_seed(seed)
    train_frames, test_frames = load_frames("train"), load_frames("test")
    log(f"7-Scenes stairs (embedded): {len(train_frames)} training frames, "
        f"{len(test_frames)} test frames, seeded Kinect-like noise; model: "
        f"preset {spec.name} ({spec.description}), untrained.")
    x_test, y_test = make_evaluation_arrays(test_frames)
    model = recipe.build()
    model.build(DENOISING_TASK.input_shape)
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, decay_steps=steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=DENOISING_TASK.loss(), metrics=DENOISING_TASK.metrics())

    noisy = float(np.nanmean(psnr(y_test, x_test)))
    before = evaluate_denoiser(model, x_test, y_test)[0]
    per_epoch, epochs = epochs_for(steps)
    started = time.perf_counter()
    model.fit(DENOISING_TASK.training_dataset(batch_size, seed),
              steps_per_epoch=per_epoch, epochs=epochs,
              verbose=2, shuffle=False)
    seconds = time.perf_counter() - started
    after = evaluate_denoiser(model, x_test, y_test)[0]

    log("")
    log("| test frames (480x640, seq 1 and 4) | PSNR (dB) |")
    log("|---|---|")
    log(f"| noisy input | {noisy:.2f} |")
    log(f"| SPEN {spec.row} before training | {before:.2f} |")
    log(f"| SPEN {spec.row} after {steps} steps ({seconds:.0f} s) | "
        f"{after:.2f} |")
    return {"noisy": noisy, "before": before, "after": after,
            "train_seconds": seconds}
