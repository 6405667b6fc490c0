"""The same SPEN on every Keras 3 backend: training step and inference time.

What is measured, per backend (one fresh process each, `--worker`): the
shipped `dp_3` / `dp_20` architectures (DeepPrior energy, momentum steps,
learned step sizes), trained by `model.fit` with MSE on every iterate
(Eq. 9) at batch 8 of 96x128 crops: seconds per training step at T = 3 and
T = 20 after a warm-up; and the `dp_3` preset's whole-frame inference at
480x640, batch 1, in frames/s. Inputs are seeded random smooth images (the
timing does not depend on the content).

`--compare OLD_ROOT` alternates the TensorFlow measurement between the
`spen_keras` package in the folder OLD_ROOT (e.g. a folder holding only a
link to a checkout's `spen_keras` from before a change) and this checkout's,
in one run, `--rounds` times, and reports the per-round speed ratios
new/old (>= 1: the new code is no slower): the measurement behind "no
slower than before".

    python -m benchmarks.backends                         # tf, jax, torch
    python -m benchmarks.backends --backends tensorflow --compare /tmp/old

Results: benchmarks/results/backends.json and a section of RESULTS.md.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks import common

BATCH, HEIGHT, WIDTH = 8, 96, 128
FRAME = (480, 640)


def _worker(steps3, steps20, frames, jit_compile="auto"):
    import keras

    import spen_keras
    from spen_keras import presets

    rng = np.random.default_rng(0)
    x = common.smooth_images(rng, BATCH, (HEIGHT, WIDTH)).astype("float32")
    y = np.clip(x + rng.normal(scale=0.02, size=x.shape), 0, 1).astype(
        "float32")
    result = {"backend": keras.backend.backend(), "jit_compile": jit_compile}
    for name, steps in (("dp_3", steps3), ("dp_20", steps20)):
        if not steps:
            continue
        keras.utils.set_random_seed(0)
        model = presets.get_spec(name).recipe.build()
        model.build((None, HEIGHT, WIDTH, 1))
        model.compile(keras.optimizers.Adam(1e-3), loss="mse",
                      jit_compile=jit_compile)
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0)  # warm-up
        started = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=steps, verbose=0)
        result[f"{name}_train_s_per_step"] = (time.perf_counter()
                                              - started) / steps
    if frames:
        model = spen_keras.load_preset("dp_3")
        frame = common.smooth_images(rng, 1, FRAME).astype("float32")
        model.predict(frame, verbose=0)  # warm-up (traces)
        started = time.perf_counter()
        for _ in range(frames):
            model.predict(frame, verbose=0)
        result["dp_3_frames_per_s"] = frames / (time.perf_counter() - started)
    return result


def _run(backend, root, steps3, steps20, frames, jit_compile="auto"):
    """One worker on `backend`, importing spen_keras from the folder
    `root` (and this folder's benchmarks)."""
    env = common.child_env({"KERAS_BACKEND": backend})
    env["PYTHONPATH"] = os.pathsep.join([root, common.ROOT])
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.backends", "--worker",
         str(steps3), str(steps20), str(frames), "--jit-compile",
         str(jit_compile)], env=env,
        capture_output=True, text=True, timeout=3600,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{backend} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+",
                        default=["tensorflow", "jax", "torch"])
    parser.add_argument("--compare", metavar="OLD_ROOT",
                        help="alternate TensorFlow runs of OLD_ROOT's code "
                             "and this checkout's")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, nargs=2, default=(6, 2),
                        metavar=("T3", "T20"),
                        help="timed training steps at T = 3 and T = 20")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--jit-compile", default="auto",
                        choices=["auto", "True", "False"],
                        help="model.compile's jit_compile for the training "
                             "runs (auto: Keras' default per backend; True: "
                             "XLA on TensorFlow and JAX, torch.compile on "
                             "PyTorch)")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    jit = {"auto": "auto", "True": True, "False": False}[args.jit_compile]
    if args.worker:
        print("RESULT " + json.dumps(_worker(*args.worker, jit)),
              flush=True)
        return 0
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    doc = {"machine": common.machine(), "command": common.command_line(
        "backends"), "batch": BATCH, "crop": [HEIGHT, WIDTH],
           "frame": list(FRAME), "runs": []}
    lines = [f"## backends.py, {time.strftime('%Y-%m-%d')}", "",
             f"`{doc['command']}`", "",
             "| backend | code | jit_compile | T=3 s/step | T=20 s/step | "
             "DP-3 frames/s |", "|---|---|---|---|---|---|"]
    if args.compare:
        ratios = []
        for round_ in range(args.rounds):
            pair = {}
            for label, root in (("old", args.compare), ("new", here)):
                pair[label] = _run("tensorflow", root, *args.steps,
                                   args.frames)
                doc["runs"].append({"round": round_, "code": label,
                                    **pair[label]})
                print(label, pair[label], flush=True)
            ratios.append({key: pair["old"][key] / pair["new"][key]
                           if "s_per_step" in key else
                           pair["new"][key] / pair["old"][key]
                           for key in pair["new"]
                           if key not in ("backend", "jit_compile")})
        doc["speed_ratios_new_over_old"] = ratios
        print("ratios (new speed / old speed):", ratios)
    for backend in args.backends:
        if backend == "tensorflow" and args.compare:
            continue
        steps = args.steps if backend == "tensorflow" else (1, 1)
        run = _run(backend, here, *steps, max(1, args.frames // 2),
                   args.jit_compile)
        doc["runs"].append({"code": "new", **run})
        print(run, flush=True)
    for run in doc["runs"]:
        lines.append(
            f"| {run['backend']} | {run['code']} | {run['jit_compile']} | "
            f"{common.fmt(run.get('dp_3_train_s_per_step'), '.3f')} | "
            f"{common.fmt(run.get('dp_20_train_s_per_step'), '.3f')} | "
            f"{common.fmt(run.get('dp_3_frames_per_s'), '.2f')} |")
    if args.compare:
        lines.append("")
        lines.append("Speed ratios new/old per round (>= 1: no slower): "
                     + "; ".join(", ".join(f"{k} {v:.3f}" for k, v in
                                           r.items())
                                 for r in doc["speed_ratios_new_over_old"]))
        medians = {key: float(np.median([r[key] for r in
                                         doc["speed_ratios_new_over_old"]]))
                   for key in doc["speed_ratios_new_over_old"][0]}
        doc["median_speed_ratios_new_over_old"] = medians
        lines.append("Median over rounds: " + ", ".join(
            f"{k} {v:.3f}" for k, v in medians.items()))
    common.record_results(doc, os.path.join(here, "benchmarks", "results",
                                            "backends.json"),
                          "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
