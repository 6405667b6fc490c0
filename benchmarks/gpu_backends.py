"""The GPU check of the JAX and PyTorch backends (no TensorFlow needed there).

Two halves, run on two machines:

1. Here, on a CPU with TensorFlow (the reference implementation):

       python -m benchmarks.gpu_backends --reference .whl/gpu_reference.npz

   writes the embedded 7-Scenes test frame 0 (noisy input with the
   evaluation noise, its clean target) and the `dp_3` and `dp_20` presets'
   outputs on it, computed by TensorFlow on this CPU.

2. On the CUDA machine, once per backend (`benchmarks/gpu_check_jax.sh`
   runs both):

       KERAS_BACKEND=jax python -m benchmarks.gpu_backends \
           --measure .whl/gpu_reference.npz --out OUT

   - equality: `dp_3` and `dp_20` on that frame against TensorFlow's CPU
     output (max |difference|, target 1e-4) and their PSNR against the
     clean frame;
   - training: seconds per step of `model.fit` at T = 3 and T = 20, batch 8
     of 96x128 (the shipped DP architectures, Eq. 9 loss, Adam; compiled
     as Keras' `jit_compile="auto"` does on that backend), after a warm-up,
     over `--train-steps` steps in one epoch;
   - inference: `dp_3` and `dp_20` whole-frame (480x640, batch 1)
     frames/s through `predict_on_batch` (compiled on JAX), after a warm-up;
   - the same inference under Keras' `mixed_bfloat16` policy (weights float32,
     computation bfloat16): frames/s and the PSNR change against float32.

   Results: OUT/gpu_backends_BACKEND.json and a RESULTS.md section in
   OUT/RESULTS_gpu_backends.md (copy it into benchmarks/RESULTS.md).

The targets (issue: "Every Keras 3 backend"): on an H200, JAX, float32
default precision, DP-3 480x640 inference at 200 frames/s or more and the
T = 3 training step at 7.5 ms or less (1.5x the hand-written JAX step of
4.9 ms); PyTorch no slower than PyTorch eager (it is eager: Keras' PyTorch
backend does not compile by default).
"""

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import numpy as np

from benchmarks import common

BATCH, HEIGHT, WIDTH = 8, 96, 128
PRESETS = ("dp_3", "dp_20")
TOLERANCE = 1e-4


def write_reference(path):
    """TensorFlow on this CPU: the frame and the presets' outputs."""
    import keras

    assert keras.backend.backend() == "tensorflow", (
        "the reference is TensorFlow's: unset KERAS_BACKEND")
    from spen_keras import load_preset
    from spen_keras.denoising import load_frames, make_evaluation_arrays

    x, y = make_evaluation_arrays(load_frames("test")[:1])
    arrays = {"x": x, "y": y}
    for name in PRESETS:
        arrays[name] = keras.ops.convert_to_numpy(load_preset(name)(x))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    print(f"Wrote {path}: frame {x.shape[1:3]}, outputs of "
          f"{', '.join(PRESETS)} by TensorFlow {_version('tensorflow')}.")


def _version(module):
    return getattr(sys.modules.get(module) or __import__(module),
                   "__version__", "?")


def _device(backend):
    if backend == "jax":
        import jax

        return str(jax.devices()[0].device_kind), jax.devices()[0].platform
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0), "gpu"
    return platform.processor() or "cpu", "cpu"


def _synchronize(backend):
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def _train_seconds_per_step(keras, name, steps):
    from spen_keras import presets

    rng = np.random.default_rng(0)
    x = common.smooth_images(rng, BATCH, (HEIGHT, WIDTH))
    y = np.clip(x + rng.normal(scale=0.02, size=x.shape), 0, 1).astype(
        "float32")
    keras.utils.set_random_seed(0)
    model = presets.get_spec(name).recipe.build()
    model.build((None, HEIGHT, WIDTH, 1))
    model.compile(keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)  # compiles
    xs, ys = np.tile(x, (steps, 1, 1, 1)), np.tile(y, (steps, 1, 1, 1))
    started = time.perf_counter()
    history = model.fit(xs, ys, batch_size=BATCH, epochs=1, shuffle=False,
                        verbose=0)
    seconds = (time.perf_counter() - started) / steps
    assert np.isfinite(history.history["loss"]).all()
    return seconds


def _frames_per_s(backend, model, x, frames):
    model.predict_on_batch(x)  # compiles
    model.predict_on_batch(x)
    _synchronize(backend)
    started = time.perf_counter()
    for _ in range(frames):
        output = model.predict_on_batch(x)
    _synchronize(backend)
    return frames / (time.perf_counter() - started), np.asarray(output)


def _psnr(y, prediction):
    from spen_keras.denoising import psnr

    import keras

    return float(keras.ops.convert_to_numpy(psnr(y, prediction)).mean())


def measure(reference, out, train_steps, frames, names=PRESETS, crop=None):
    import keras

    import spen_keras
    from spen_keras import load_preset, presets
    from spen_keras.core.tiled_inference import receptive_margin

    backend = keras.backend.backend()
    data = dict(np.load(reference))
    if crop is not None:  # a dry run on a CPU: the frame's top-left corner
        data = {k: v[:, :crop[0], :crop[1]] for k, v in data.items()}
    x, y = data["x"], data["y"]
    device, platform_name = _device(backend)
    result = {"backend": backend, "device": device, "platform": platform_name,
              "keras": keras.__version__,
              backend: _version(backend), "spen_keras": spen_keras.__version__,
              "frame": list(x.shape[1:3]), "batch": [BATCH, HEIGHT, WIDTH]}
    print(f"[gpu_backends] {backend} on {device} ({platform_name})",
          flush=True)
    for name in names:
        model = load_preset(name)
        speed, output = _frames_per_s(backend, model, x, frames)
        # On a crop, only pixels farther than the model's receptive margin
        # from the crop's cut edges equal the whole frame's (its top and
        # left edges are the frame's own).
        margin = 0 if crop is None else receptive_margin(model)
        keep = (slice(None), slice(0, x.shape[1] - margin),
                slice(0, x.shape[2] - margin))
        result[f"{name}_max_abs_diff_vs_tf_cpu"] = float(
            np.abs(output[keep] - data[name][keep]).max())
        result[f"{name}_psnr"] = _psnr(y, output)
        result[f"{name}_psnr_tf_cpu"] = _psnr(y, data[name])
        result[f"{name}_frames_per_s"] = speed
        print(f"[gpu_backends] {name}: {speed:.1f} frames/s, max |diff| vs "
              f"TF CPU {result[f'{name}_max_abs_diff_vs_tf_cpu']:.2e}",
              flush=True)
    for name, steps in zip(names, train_steps):
        seconds = _train_seconds_per_step(keras, name, steps)
        result[f"{name}_train_ms_per_step"] = 1000 * seconds
        print(f"[gpu_backends] {name} training: {1000 * seconds:.2f} "
              "ms/step", flush=True)
    weights = pathlib.Path(spen_keras.zoo.__file__).parent / "presets"
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        for name in names:
            model = presets.get_spec(name).recipe.build()
            model.build((None, None, None, 1))
            model.load_weights(weights / name / "model.weights.h5")
            speed, output = _frames_per_s(backend, model, x, frames)
            output = output.astype("float32")
            result[f"{name}_bf16_frames_per_s"] = speed
            result[f"{name}_bf16_psnr"] = _psnr(y, output)
            result[f"{name}_bf16_psnr_change_db"] = (
                result[f"{name}_bf16_psnr"] - result[f"{name}_psnr"])
            print(f"[gpu_backends] {name} bfloat16: {speed:.1f} frames/s, "
                  f"PSNR change {result[f'{name}_bf16_psnr_change_db']:+.3f}"
                  " dB", flush=True)
    finally:
        keras.config.set_dtype_policy("float32")
    result["targets"] = {
        "dp_3 outputs equal TF CPU within 1e-4": result[
            "dp_3_max_abs_diff_vs_tf_cpu"] <= TOLERANCE,
    }
    if backend == "jax":
        result["targets"].update({
            "DP-3 inference >= 200 frames/s": result[
                "dp_3_frames_per_s"] >= 200,
            "T = 3 training step <= 7.5 ms": result[
                "dp_3_train_ms_per_step"] <= 7.5})
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"gpu_backends_{backend}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    with open(out / "RESULTS_gpu_backends.md", "a") as section:
        section.write(_markdown(result, names))
    print("RESULT " + json.dumps(result), flush=True)
    return result


def _markdown(r, names):
    rows = []
    for name in names:
        rows.append(
            f"| {name} | {r[f'{name}_train_ms_per_step']:.2f} | "
            f"{r[f'{name}_frames_per_s']:.1f} | "
            f"{r[f'{name}_bf16_frames_per_s']:.1f} | "
            f"{r[f'{name}_psnr']:.3f} | "
            f"{r[f'{name}_bf16_psnr_change_db']:+.3f} | "
            f"{r[f'{name}_max_abs_diff_vs_tf_cpu']:.1e} |")
    targets = "; ".join(f"{k}: {'yes' if v else 'NO'}"
                        for k, v in r["targets"].items())
    return (f"\n## GPU check, {r['backend']} backend, {r['device']}\n\n"
            f"`python -m benchmarks.gpu_backends --measure ...` "
            f"(Keras {r['keras']}, {r['backend']} {r[r['backend']]}); "
            f"training at batch {BATCH} of {HEIGHT}x{WIDTH}, inference on a "
            f"{r['frame'][0]}x{r['frame'][1]} frame, batch 1.\n\n"
            "| preset | train ms/step | float32 frames/s | bfloat16 "
            "frames/s | PSNR float32 (dB) | bfloat16 PSNR change (dB) | "
            "max diff vs TF CPU |\n|---|---|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nTargets: {targets}.\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--reference", metavar="NPZ",
                       help="write TensorFlow's CPU reference here")
    group.add_argument("--measure", metavar="NPZ",
                       help="measure this backend against the reference")
    parser.add_argument("--out", default=os.environ.get(
        "OUT", "benchmarks/results/gpu"))
    parser.add_argument("--train-steps", type=int, nargs="+",
                        default=(50, 20),
                        help="timed steps per preset (dp_3, dp_20)")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--presets", nargs="+", default=PRESETS,
                        choices=PRESETS)
    parser.add_argument("--crop", type=int, nargs=2, default=None,
                        metavar=("H", "W"),
                        help="use the frame's top-left HxW (dry runs)")
    args = parser.parse_args(argv)
    if args.reference:
        write_reference(args.reference)
    else:
        measure(args.measure, args.out, args.train_steps, args.frames,
                args.presets, args.crop)


if __name__ == "__main__":
    main()
