"""Do the denoising presets do no harm? Noise levels, quiet frames, raw frames.

Every denoising preset is run through `spen_keras.denoising.denoise_frame`
(what `spen-keras denoise` runs) on

- the embedded frames of one split with the benchmark's Kinect-like noise
  at a multiple of its training level (same seeds; the noisy frames are
  quantised to uint16 millimetres, with the noise model's missing pixels
  as "no reading", exactly as a user's PNG would be), reporting the mean
  per-frame PSNR of the input, of the plain model output
  (`always_denoise=True`) and of the default behaviour (a quiet frame
  passed through for presets that are not noise-aware), and which action
  the default took;
- every embedded raw frame with no noise added, reporting the median and
  99th percentile of |output - input| in mm beside the frame's estimated
  noise and the plausibility limits.

`--split validation` (sequence 3, held out from every protocol run) is the
data the quiet-frame ratio and the plausibility limits were chosen on;
`--split test` (sequences 1 and 4) is the reported table.

Run: python -m experiments.denoising_safety --split test [PRESET ...]
Writes experiments/results/denoising_safety_SPLIT.json and appends the
tables to RESULTS.md.
"""

import argparse
import math
import os
import time
import warnings

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks import common  # noqa: E402
from experiments import record_results  # noqa: E402

LEVELS = {"validation": (0.1, 0.15, 0.2, 0.25, 0.5, 1.0, 2.0),
          "test": (0.25, 0.5, 1.0, 2.0)}
TRAINING_SCALE = 27.5
SEED = 1234


def denoising_presets():
    from spen_keras.presets import get_spec, list_presets

    return [name for name in list_presets()
            if get_spec(name).family == "denoising"]


def split_frames(split):
    from spen_keras.denoising.seven_scenes_frames import load_frames

    if split == "validation":
        return [f for f in load_frames("train") if f["sequence"] == 3]
    return load_frames("test")


def noisy_raw(frame, level, seed=SEED):
    """The frame with the benchmark noise at `level` x its training scale,
    as a user's uint16 PNG would hold it."""
    from spen_keras.denoising.denoising_pipeline import noise_seed
    from spen_keras.denoising.depth_normalization import denormalize_depth
    from spen_keras.denoising.kinect_noise import KinectNoiseModel

    noise = KinectNoiseModel(scale=TRAINING_SCALE * level)
    noisy, mask = noise.apply_numpy(
        frame["depth"], frame["mask"],
        noise_seed(seed, frame["sequence"], frame["frame"]))
    return denormalize_depth(noisy, mask)


def frame_psnr(clean, mask, output):
    rmse = math.sqrt(float(np.mean(np.square(output[mask] - clean[mask]))))
    return math.inf if rmse == 0 else -20.0 * math.log10(rmse)


def run(model, raw, training_noise, quiet_ratio, **options):
    from spen_keras.denoising.denoise import denoise_frame

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return denoise_frame(model, raw, training_noise_mm=training_noise,
                             quiet_ratio=quiet_ratio,
                             allow_implausible=True, **options)


def measure(names, split, levels=None, raw=True):
    from spen_keras.denoising.depth_normalization import fill_invalid
    from spen_keras.denoising.depth_normalization import normalize_depth
    from spen_keras.denoising.depth_normalization import valid_mask
    from spen_keras.denoising.seven_scenes_frames import load_frames
    from spen_keras.presets import load_preset
    from spen_keras.denoising.training_noise import preset_quiet_ratio
    from spen_keras.denoising.training_noise import preset_training_noise

    frames = split_frames(split)
    levels = levels or LEVELS[split]
    inputs = {level: [noisy_raw(f, level) for f in frames] for level in levels}
    raw_frames = (load_frames("train") + load_frames("test")) if raw else []
    result = {"levels": list(levels), "input_psnr": {}, "presets": {},
              "raw_frames": [f"seq-{f['sequence']:02d}/frame-"
                             f"{f['frame']:06d}" for f in raw_frames]}
    for level in levels:
        values = []
        for frame, raw in zip(frames, inputs[level]):
            x = fill_invalid(normalize_depth(raw), valid_mask(raw))
            values.append(frame_psnr(frame["depth"], frame["mask"], x))
        result["input_psnr"][str(level)] = float(np.mean(values))
    print("input PSNR: " + ", ".join(f"{l}x {v:.2f}" for l, v in
                                     result["input_psnr"].items()),
          flush=True)
    for name in names:
        started = time.perf_counter()
        model, training_noise = load_preset(name), preset_training_noise(name)
        quiet = preset_quiet_ratio(name)
        rows = {}
        for level in levels:
            plain, default, actions, changes = [], [], set(), []
            for frame, raw in zip(frames, inputs[level]):
                _, out, report = run(model, raw, training_noise, quiet,
                                     always_denoise=True)
                plain.append(frame_psnr(frame["depth"], frame["mask"], out))
                changes.append((report.noise_mm, report.median_change_mm,
                                report.p95_change_mm, report.p99_change_mm,
                                report.median_limit_mm, report.p95_limit_mm))
                if report.quiet:
                    _, out, report = run(model, raw, training_noise, quiet)
                default.append(frame_psnr(frame["depth"], frame["mask"], out))
                actions.add(report.action)
            rows[str(level)] = {
                "input_psnr": result["input_psnr"][str(level)],
                "guard_use": max(max(c[1] / c[4], c[2] / c[5])
                                 for c in changes),
                "plain_psnr": float(np.mean(plain)),
                "default_psnr": float(np.mean(default)),
                "action": " / ".join(sorted(actions)),
                "changes": changes}
        raw_rows = []
        for frame in raw_frames:
            _, _, report = run(model, frame["raw"], training_noise, quiet,
                               always_denoise=True)
            _, _, default = run(model, frame["raw"], training_noise, quiet)
            raw_rows.append({"noise_mm": report.noise_mm,
                             "median_change_mm": report.median_change_mm,
                             "p95_change_mm": report.p95_change_mm,
                             "p99_change_mm": report.p99_change_mm,
                             "median_limit_mm": report.median_limit_mm,
                             "p95_limit_mm": report.p95_limit_mm,
                             "default_action": default.action,
                             "guard_use": max(
                                 report.median_change_mm
                                 / report.median_limit_mm,
                                 report.p95_change_mm / report.p95_limit_mm),
                             "default_p99_change_mm": default.p99_change_mm})
        result["presets"][name] = {"training_noise_mm": training_noise,
                                   "levels": rows, "raw": raw_rows,
                                   "seconds": time.perf_counter() - started}
        print(f"[{name}] " + ", ".join(
            f"{l}x {r['plain_psnr']:.2f}/{r['default_psnr']:.2f}"
            for l, r in rows.items()) + "; guard use "
            + " ".join(f"{r['guard_use']:.2f}" for r in rows.values())
            + " raw " + " ".join(f"{r['guard_use']:.2f}" for r in raw_rows)
            + "; raw p95 "
            + " ".join(f"{r['p95_change_mm']:.0f}/{r['p95_limit_mm']:.0f}"
                       for r in raw_rows),
            flush=True)
    return result


def markdown(result, split, seconds):
    levels = result["levels"]
    head = " | ".join(f"{l}x plain / default" for l in levels)
    lines = [f"## Denoising safety, {split} frames "
             f"({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Machine: {common.machine()}; {seconds:.0f} s. Mean per-frame "
             "PSNR (dB) with the benchmark noise at a multiple of the training "
             "level; plain = the model's output (`always_denoise`), default "
             "= what `spen-keras denoise` writes (a quiet frame passed "
             "through, marked *); guard use = the largest fraction of a "
             "plausibility limit any plain output used (1 = refused). "
             "Input PSNR: "
             + ", ".join(f"{l}x {result['input_psnr'][str(l)]:.2f}"
                         for l in levels) + ".", "",
             f"| preset | trained at (mm) | {head} | guard use |",
             "|---|---|" + "---|" * (len(levels) + 1)]
    for name, row in result["presets"].items():
        cells = []
        for level in levels:
            r = row["levels"][str(level)]
            mark = "*" if "passed" in r["action"] else ""
            cells.append(f"{r['plain_psnr']:.2f} / {r['default_psnr']:.2f}"
                         f"{mark}")
        noise = row["training_noise_mm"]
        use = max(max(r["guard_use"] for r in row["levels"].values()),
                  max((r["guard_use"] for r in row["raw"]), default=0.0))
        lines.append(f"| {name} | "
                     f"{'-' if noise is None else f'{noise:.0f}'} | "
                     + " | ".join(cells) + f" | {use:.2f} |")
    if not result["raw_frames"]:
        return "\n".join(lines) + "\n"
    lines += ["", "Raw frames, no noise added: median / 99th-percentile "
              "|change| in mm of the plain output (frame's estimated noise "
              "in the header); "
              "* = the default passes the frame through.", ""]
    raw_names = result["raw_frames"]
    first = next(iter(result["presets"].values()))
    lines.append("| preset | " + " | ".join(
        f"{n} ({r['noise_mm']:.1f})" for n, r in zip(raw_names, first["raw"]))
        + " |")
    lines.append("|---|" + "---|" * len(raw_names))
    for name, row in result["presets"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{r['median_change_mm']:.0f} / {r['p99_change_mm']:.0f}"
            + ("*" if r["default_action"] == "passed through" else "")
            for r in row["raw"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*")
    parser.add_argument("--split", choices=sorted(LEVELS), default="test")
    parser.add_argument("--levels", type=float, nargs="+", default=None,
                        help="noise levels (multiples of the training "
                             "level; default: the split's)")
    parser.add_argument("--no-raw", action="store_true",
                        help="skip the raw frames")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; write no results file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = measure(args.presets or denoising_presets(), args.split,
                     args.levels, raw=not args.no_raw)
    seconds = time.perf_counter() - started
    text = markdown(result, args.split, seconds)
    print(text)
    if not args.no_record:
        record_results({"machine": common.machine(), "split": args.split,
                        **result, "seconds": round(seconds, 1)},
                       f"denoising_safety_{args.split}", text)


if __name__ == "__main__":
    main()
