"""How the Table 1 presets hold up when the noise level changes.

Each preset was trained at one noise level (the benchmark's Kinect-like
model, `KinectNoiseModel(scale=27.5)`). This evaluates it on the embedded
test frames with the noise standard deviation scaled by 0.5, 1 and 2 (same
seeds, so only the level differs) and reports PSNR and the change from 1x.
A denoiser that is not tied to its training noise should gain at 0.5x and
lose little at 2x.

Run: python -m experiments.noise_levels [PRESET ...]   (about 5 minutes for
the default rows on 2 cores). Prints the table, writes
experiments/results/noise_levels.json and appends to RESULTS.md.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import common  # noqa: E402
from experiments import record_results  # noqa: E402

LEVELS = (0.5, 1.0, 2.0)
TRAINING_SCALE = 27.5
DEFAULT_ROWS = ("foe_3", "foe_20_plus", "dp_3", "dp_20", "dp_ssvm",
                "feedforward_convnet", "proximalnet", "dp_3_augmented",
                "dp_3_noise_aware", "feedforward_convnet_augmented")


def measure(rows, levels=LEVELS):
    """{level: noisy-input PSNR}, {row: {level: PSNR}}."""
    from spen_keras import load_preset
    from spen_keras.denoising import table1
    from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
    from spen_keras.denoising.kinect_noise import KinectNoiseModel
    from spen_keras.denoising.seven_scenes_frames import load_frames
    from spen_keras.presets import get_spec

    frames = load_frames("test")
    data = {}
    for level in levels:
        x, y = make_evaluation_arrays(
            frames, noise=KinectNoiseModel(scale=TRAINING_SCALE * level))
        data[level] = table1.arrays_as_evaluation_data(x, y, f"{level}x")
    noisy = {level: round(d.reference_values[table1.NOISY_INPUT], 2)
             for level, d in data.items()}
    results = {}
    for name in rows:
        model, spec = load_preset(name), get_spec(name)
        results[name] = {level: round(table1.evaluate(model, spec, d).value,
                                      2) for level, d in data.items()}
        print(f"[{name}] " + ", ".join(f"{l}x {v:.2f}" for l, v in
                                       results[name].items()), flush=True)
    return noisy, results


def markdown(noisy, results, seconds):
    head = " | ".join(f"{l}x" for l in LEVELS)
    lines = [f"## Noise levels ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {common.machine()}. PSNR (dB) on the embedded test "
             f"frames with the training noise scaled; {seconds:.0f} s.", "",
             f"| row | {head} | 0.5x - 1x | 2x - 1x |",
             "|---|" + "---|" * (len(LEVELS) + 2),
             "| noisy input | " + " | ".join(f"{noisy[l]:.2f}"
                                              for l in LEVELS)
             + f" | {noisy[0.5] - noisy[1.0]:+.2f} | "
             f"{noisy[2.0] - noisy[1.0]:+.2f} |"]
    for name, values in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{values[l]:.2f}"
                                                 for l in LEVELS)
                     + f" | {values[0.5] - values[1.0]:+.2f} | "
                     f"{values[2.0] - values[1.0]:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", default=list(DEFAULT_ROWS))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    noisy, results = measure(args.rows)
    seconds = time.perf_counter() - started
    text = markdown(noisy, results, seconds)
    print(text)
    record_results({"machine": common.machine(), "levels": list(LEVELS),
                    "training_scale": TRAINING_SCALE, "noisy_input": noisy,
                    "psnr": results, "seconds": round(seconds, 1)},
                   "noise_levels", text)


if __name__ == "__main__":
    main()
