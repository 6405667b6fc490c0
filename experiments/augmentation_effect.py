"""What augmentation and the noise-aware data term buy, measured two ways.

1. Noise levels: the embedded test frames (sequences 1 and 4) with the
   training noise's standard deviation scaled by 0.5, 1 and 2 (same seeds),
   for the presets trained by the equal-effort protocol with and without
   augmentation, the noise-aware preset, and the presets they replaced
   (passed as folders with --old), all measured in this run.
2. Leave-one-sequence-out: each architecture trained on training sequence
   2 and validated on sequence 3, and trained on 3 and validated on 2, with
   and without augmentation (the protocol's runs in --runs-dir), at the same
   three noise levels; reported per fold and as the mean of the two folds.

The runs folder is the equal-effort protocol's, with the second folds
trained: `python -m experiments.equal_effort_queue --runs-dir RUNS`.

Run: python -m experiments.augmentation_effect --runs-dir RUNS
         [--old NAME=DIR ...]
Prints the tables, writes experiments/results/augmentation_effect.json and
appends to RESULTS.md.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import common  # noqa: E402
from experiments import record_results  # noqa: E402

LEVELS = (0.5, 1.0, 2.0)
TRAINING_SCALE = 27.5
# (architecture, augmented) -> run names of the two folds
# (train 2 / validate 3, train 3 / validate 2).
FOLDS = {
    ("dp_3", False): ("dp_3", "dp_3_seq3"),
    ("dp_3", True): ("dp_3_augmented", "dp_3_augmented_seq3"),
    ("feedforward_convnet", False): ("feedforward_convnet",
                                     "feedforward_convnet_seq3"),
    ("feedforward_convnet", True): ("feedforward_convnet_augmented",
                                    "feedforward_convnet_augmented_seq3"),
}
TEST_RUNS = ("dp_3", "dp_3_augmented", "dp_3_noise_aware",
             "feedforward_convnet", "feedforward_convnet_augmented")


def chosen_preset(runs_dir, name):
    """The preset folder of a run name: a Table 1 row's chosen rate, or a
    variant's only run."""
    from spen_keras.denoising import equal_effort as ee

    if name in ee.LEARNING_RATES:
        folder = ee.protocol_record(runs_dir, name)[0]
        return None if folder is None else folder / "preset"
    found = sorted(pathlib.Path(runs_dir).glob(f"{name}/lr_*/preset/"
                                               "metadata.json"))
    return found[0].parent if found else None


def level_data(frames_of):
    from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
    from spen_keras.denoising.kinect_noise import KinectNoiseModel

    return {level: make_evaluation_arrays(
        frames_of, noise=KinectNoiseModel(scale=TRAINING_SCALE * level))
        for level in LEVELS}


def psnr_at_levels(model, data):
    from spen_keras.denoising.denoising_task import evaluate_denoiser

    return {level: round(evaluate_denoiser(model, x, y)[0], 2)
            for level, (x, y) in data.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--old", nargs="*", default=[],
                        help="NAME=PRESET_DIR of presets to compare with")
    args = parser.parse_args(argv)
    import numpy as np

    from spen_keras import load_preset
    from spen_keras.denoising.psnr import psnr
    from spen_keras.denoising.seven_scenes_frames import load_frames

    started = time.perf_counter()
    train = load_frames("train")
    test = level_data(load_frames("test"))
    by_sequence = {s: level_data([f for f in train if f["sequence"] == s])
                   for s in (2, 3)}
    noisy = {"test": {l: round(float(np.nanmean(psnr(y, x))), 2)
                      for l, (x, y) in test.items()}}
    for s, data in by_sequence.items():
        noisy[f"seq {s}"] = {l: round(float(np.nanmean(psnr(y, x))), 2)
                             for l, (x, y) in data.items()}

    test_rows = {}
    sources = [(name, chosen_preset(args.runs_dir, name))
               for name in TEST_RUNS]
    sources += [(f"{name} (replaced)", pathlib.Path(path)) for name, path in
                (item.split("=", 1) for item in args.old)]
    for name, folder in sources:
        if folder is None:
            print(f"[{name}] no finished run; skipped")
            continue
        test_rows[name] = psnr_at_levels(load_preset(str(folder)), test)
        print(f"[test] {name}: {test_rows[name]}", flush=True)

    loso = {}
    for (architecture, augmented), names in FOLDS.items():
        folds = []
        for name, held_out in zip(names, (3, 2)):
            folder = chosen_preset(args.runs_dir, name)
            if folder is None:
                break
            folds.append(psnr_at_levels(load_preset(str(folder)),
                                        by_sequence[held_out]))
        if len(folds) < 2:
            print(f"[loso] {architecture} augmented={augmented}: a fold is "
                  "missing; skipped")
            continue
        key = f"{architecture}{' augmented' if augmented else ''}"
        loso[key] = {"train 2, validate 3": folds[0],
                     "train 3, validate 2": folds[1],
                     "mean": {l: round((folds[0][l] + folds[1][l]) / 2, 2)
                              for l in LEVELS}}
        print(f"[loso] {key}: {loso[key]['mean']}", flush=True)
    seconds = time.perf_counter() - started

    def line(name, values, reference=None):
        cells = " | ".join(f"{values[l]:.2f}" for l in LEVELS)
        return (f"| {name} | {cells} | {values[0.5] - values[1.0]:+.2f} | "
                f"{values[2.0] - values[1.0]:+.2f} |")

    head = " | ".join(f"{l}x" for l in LEVELS)
    lines = [f"## Augmentation effect ({time.strftime('%Y-%m-%d %H:%M')})",
             "", f"Machine: {common.machine()}; {seconds:.0f} s. PSNR (dB).",
             "",
             "Embedded test frames, training noise scaled:", "",
             f"| preset | {head} | 0.5x - 1x | 2x - 1x |",
             "|---|" + "---|" * (len(LEVELS) + 2),
             line("noisy input", noisy["test"])]
    lines += [line(name, values) for name, values in test_rows.items()]
    lines += ["", "Leave-one-sequence-out (mean of the two folds; held-out "
              "noisy input: seq 3 "
              + "/".join(f"{noisy['seq 3'][l]:.2f}" for l in LEVELS)
              + ", seq 2 " + "/".join(f"{noisy['seq 2'][l]:.2f}"
                                      for l in LEVELS) + "):", "",
              f"| trained | {head} | 0.5x - 1x | 2x - 1x |",
              "|---|" + "---|" * (len(LEVELS) + 2)]
    lines += [line(name, values["mean"]) for name, values in loso.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    record_results({"machine": common.machine(), "levels": list(LEVELS),
                    "noisy_input": noisy, "test": test_rows,
                    "leave_one_sequence_out": loso,
                    "seconds": round(seconds, 1)},
                   "augmentation_effect", text)


if __name__ == "__main__":
    main()
