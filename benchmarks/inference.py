"""Inference speed of the shipped depth denoisers, measured on what ships.

What is measured: the shipped, trained presets (`dp_3`, `dp_20`: Table 1's
DeepPrior denoisers, loaded with `spen_keras.presets.load_preset`) denoising
whole frames, batch 1, warm:

- `tf_function`: `tf.function` of the model's forward pass with an input
  signature of free batch, H and W ([None, None, None, 1]), so one trace
  serves every frame size. The function runs exactly what `model.call` runs
  (`SPEN._forward(x, training=False)`) and also returns the minimizer's
  `num_steps` scalar (the steps actually taken), which costs nothing;
- `saved_model`: `model.export()` to a temporary folder (the SPEN's own
  serving signature: any batch and image size), `tf.saved_model.load` and
  its `serving_default` signature, as a deployment would call it;

each without early stop (the presets ship with `tolerance=None`: always T
steps) and with early stop (a copy of the preset, by a config round trip,
with `tolerance` set; same weights): minimisation stops once the RMS change
of y between two steps is at most the tolerance (`--tolerance`, default
5e-4 in normalised depth, i.e. 2.5 mm RMS).

Frames: the embedded 7-Scenes test frames (480x640, 6 frames) with the seeded
Kinect-like noise of the Table 1 benchmark (`make_evaluation_arrays`). For
the image-size scaling points (`dp_3`, `tf_function`, no early stop) the
frames are resampled to the target size by nearest-neighbour sampling (noisy
input and clean target alike).

In each child: load the preset, build the callable, call it once on frame 0
(traces; `trace_s`), then time `--reps` calls on frames 0, 1, 2, ...
(cycling), each to a numpy result (wall time per frame; CPU seconds of the
process, all threads, per frame). PSNR over valid pixels (the Table 1
protocol) of the outputs of the distinct timed frames against the clean
frames. One process per configuration, as in `benchmarks.unrolled_training`
(`common.inference_point`): `ru_maxrss` only ever grows within a process.

The parent compares children: the max abs difference between the
`tf_function` and the `saved_model` outputs (same preset, tolerance, size,
dtype policy; should be ~1e-6), and for early stop the mean steps taken and
the PSNR difference against no early stop. It fits time = a + b * pixels to
the size points (R^2, time per megapixel).

`--dtype-policy mixed_float16` (for GPUs; `mixed_bfloat16` for CPUs with
bfloat16 units) runs the energy layers (the DeepPrior convolutions and the
data term) in half precision with float32 variables, and keeps the
minimizer's iterates, step sizes and momentum in float32, so that rounding
does not accumulate over the unrolled steps. (A fully half-precision model
also runs since the step sizes are cast to the compute dtype.)
Float16 convolutions are very slow on CPUs; use a small `--sizes` there.

    python -m benchmarks.inference                # dp_3 + dp_20 grid, sizes
    python -m benchmarks.inference --quick --no-record   # smoke, ~2 min
    python -m benchmarks.inference --presets dp_3 --no-sizes \\
        --dtype-policy float32 mixed_float16      # the GPU check
"""

import argparse
import gc
import json
import os
import sys
import tempfile
import time

from benchmarks import common
from benchmarks.common import DEFAULT_SIZES, FRAME, fit_line, fmt

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "inference.json")
DEFAULT_TOLERANCE = 5e-4
MIXED_PSNR_DB = 0.05       # mixed precision must stay within this of float32
TARGET_FPS_GPU = 60.0      # the issue's target for DP-3 on a GPU, float32
MODES = ("tf_function", "saved_model")


# --- child: one configuration -------------------------------------------

def parse_size(text):
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def frames_at(size):
    """(x, y) evaluation frames (n, H, W, 1), resampled to `size`."""
    import numpy as np
    from spen_keras.denoising import load_frames, make_evaluation_arrays

    x, y = make_evaluation_arrays(load_frames("test"))
    if tuple(size) != x.shape[1:3]:
        rows = (np.arange(size[0]) * x.shape[1]) // size[0]
        cols = (np.arange(size[1]) * x.shape[2]) // size[1]
        x = np.ascontiguousarray(x[:, rows][:, :, cols])
        y = np.ascontiguousarray(y[:, rows][:, :, cols])
    return x, y


def _set_dtype(config, name, inside=False):
    """Sets every DTypePolicy below the energy of a serialized model."""
    if isinstance(config, dict):
        if config.get("class_name") == "UnrolledMinimizer":
            _set_dtype(config["config"]["energy"], name, True)
            return
        if inside and config.get("class_name") == "DTypePolicy":
            config["config"]["name"] = name
        for value in config.values():
            _set_dtype(value, name, inside)
    elif isinstance(config, list):
        for value in config:
            _set_dtype(value, name, inside)


def load_model(preset, tolerance=None, dtype_policy="float32"):
    """The shipped preset; with a tolerance or another dtype policy, a copy
    made by a config round trip that holds the preset's weights."""
    import keras
    from spen_keras.presets import load_preset

    model = load_preset(preset)
    if tolerance is None and dtype_policy == "float32":
        return model
    config = keras.saving.serialize_keras_object(model)
    if tolerance is not None:
        config["config"]["minimizer"]["config"]["tolerance"] = float(tolerance)
    if dtype_policy != "float32":
        _set_dtype(config, dtype_policy)
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(model.get_weights())
    return copy


def build_callable(model, mode, workdir):
    """fn(x) -> (y as numpy, steps taken or None) and set-up timings."""
    import tensorflow as tf

    info = {}
    if mode == "tf_function":
        signature = model.serving_signature()

        @tf.function(input_signature=signature)
        def forward(x):
            result = model._forward(x, training=False)  # what call() runs
            return result.y, result.num_steps

        def fn(x):
            y, steps = forward(x)
            return y.numpy(), int(steps)
        return fn, info
    path = os.path.join(workdir, "saved_model")
    start = time.perf_counter()
    model.export(path, verbose=False)
    info["export_s"] = time.perf_counter() - start
    start = time.perf_counter()
    loaded = tf.saved_model.load(path)
    info["load_s"] = time.perf_counter() - start
    serve = loaded.signatures["serving_default"]

    def fn(x):
        out = serve(x=tf.constant(x))
        return next(iter(out.values())).numpy(), None
    return fn, info


def worker(args):
    import numpy as np
    import tensorflow as tf

    from spen_keras.denoising.psnr import psnr

    size = parse_size(args.size)
    x, y = frames_at(size)
    model = load_model(args.preset, args.tolerance, args.dtype_policy)
    with tempfile.TemporaryDirectory() as workdir:
        fn, info = build_callable(model, args.mode, workdir)
        rss_before = common.current_rss_mb()
        start = time.perf_counter()
        fn(x[:1])  # traces (tf_function) or warms the loaded graph
        trace_s = time.perf_counter() - start
        gc.collect()
        times, steps, outputs = [], [], {}
        load_before = os.getloadavg()[0]
        cpu_start = time.process_time()
        for i in range(args.reps):
            k = i % len(x)
            start = time.perf_counter()
            out, taken = fn(x[k:k + 1])
            times.append(time.perf_counter() - start)
            outputs.setdefault(k, out[0])
            if taken is not None:
                steps.append(taken)
        cpu = time.process_time() - cpu_start
    keys = sorted(outputs)
    y_hat = np.stack([outputs[k] for k in keys]).astype(np.float32)
    scores = np.asarray(psnr(tf.constant(y[keys]), tf.constant(y_hat)))
    noisy = np.asarray(psnr(tf.constant(y[keys]), tf.constant(x[keys])))
    if args.outputs:
        np.savez(args.outputs, frames=np.asarray(keys), y=y_hat)
    record = {
        "preset": args.preset, "T": int(model.minimizer.num_steps),
        "mode": args.mode, "tolerance": args.tolerance,
        "early_stop": args.tolerance is not None,
        "dtype_policy": args.dtype_policy,
        "height": size[0], "width": size[1], "batch": 1,
        "megapixels": size[0] * size[1] / 1e6,
        "reps": args.reps, "frames": [int(k) for k in keys],
        "trace_s": trace_s,
        "frames_per_s": len(times) / float(np.sum(times)),
        "s_per_frame": float(np.mean(times)),
        "s_per_frame_median": float(np.median(times)),
        "s_per_frame_min": float(np.min(times)),
        "cpu_s_per_frame": cpu / len(times),
        "steps_taken": float(np.mean(steps)) if steps else None,
        "steps_taken_per_frame": steps or None,
        "psnr_db": float(np.mean(scores)),
        "psnr_noisy_db": float(np.mean(noisy)),
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "rss_before_call_mb": rss_before,
        "peak_rss_mb": common.peak_rss_mb(),
        "roofline": None,
    }
    record.update(info)
    print(common.INFERENCE_MARKER + json.dumps(record), flush=True)


# --- parent ---------------------------------------------------------------

def _key(r):
    return (r["preset"], r["height"], r["width"], r["dtype_policy"])


def comparisons(records, outputs):
    """tf_function vs saved_model output differences; early stop vs not;
    mixed precision vs float32."""
    import numpy as np

    def load(r):
        data = np.load(outputs[id(r)])
        return dict(zip(data["frames"].tolist(), data["y"]))

    diffs, early, mixed = [], [], []
    for r in records:
        if r["mode"] != "tf_function" or id(r) not in outputs:
            continue
        for s in records:
            if (s["mode"] == "saved_model" and _key(s) == _key(r)
                    and s["tolerance"] == r["tolerance"]
                    and id(s) in outputs):
                a, b = load(r), load(s)
                common = sorted(set(a) & set(b))
                diffs.append({
                    "preset": r["preset"], "size": f"{r['height']}x"
                    f"{r['width']}", "dtype_policy": r["dtype_policy"],
                    "tolerance": r["tolerance"], "frames": len(common),
                    "max_abs_diff": float(max(
                        np.max(np.abs(a[k] - b[k])) for k in common))})
    for r in records:
        if not r["early_stop"]:
            continue
        base = [s for s in records if not s["early_stop"]
                and s["mode"] == r["mode"] and _key(s) == _key(r)]
        if base:
            b = base[0]
            early.append({
                "preset": r["preset"], "mode": r["mode"],
                "dtype_policy": r["dtype_policy"],
                "tolerance": r["tolerance"], "T": r["T"],
                "steps_taken": r["steps_taken"],
                "psnr_db": r["psnr_db"], "psnr_no_early_stop_db":
                b["psnr_db"], "psnr_diff_db": r["psnr_db"] - b["psnr_db"],
                "speedup": b["s_per_frame_median"]
                / r["s_per_frame_median"]})
    for r in records:
        if r["dtype_policy"] == "float32":
            continue
        base = [s for s in records if s["dtype_policy"] == "float32"
                and s["mode"] == r["mode"] and s["tolerance"] == r["tolerance"]
                and (s["preset"], s["height"], s["width"])
                == (r["preset"], r["height"], r["width"])]
        if base:
            diff = r["psnr_db"] - base[0]["psnr_db"]
            out_diff = None
            if id(r) in outputs and id(base[0]) in outputs:
                a, b = load(r), load(base[0])
                common = sorted(set(a) & set(b))
                out_diff = float(max(np.max(np.abs(a[k] - b[k]))
                                     for k in common))
            mixed.append({
                "max_abs_diff_vs_float32": out_diff,
                "preset": r["preset"], "mode": r["mode"],
                "tolerance": r["tolerance"], "dtype_policy": r["dtype_policy"],
                "psnr_db": r["psnr_db"], "psnr_float32_db":
                base[0]["psnr_db"], "psnr_diff_db": diff,
                "within_0_05_db": abs(diff) <= MIXED_PSNR_DB,
                "speedup": base[0]["s_per_frame_median"]
                / r["s_per_frame_median"]})
    return diffs, early, mixed


def fill_saved_model_steps(records):
    """The SavedModel signature returns y only: its steps taken are those
    of the same model on the same frames under tf.function (T without early
    stop). Marked with `steps_taken_from`."""
    for r in records:
        if r["mode"] != "saved_model" or r["steps_taken"] is not None:
            continue
        if not r["early_stop"]:
            r["steps_taken"], r["steps_taken_from"] = float(r["T"]), "T"
            continue
        twins = [s for s in records if s["mode"] == "tf_function"
                 and _key(s) == _key(r) and s["tolerance"] == r["tolerance"]
                 and s["frames"] == r["frames"]]
        if twins:
            r["steps_taken"] = twins[0]["steps_taken"]
            r["steps_taken_from"] = "tf_function"


def size_fit(records):
    pts = [r for r in records if r["preset"] == "dp_3"
           and r["mode"] == "tf_function" and not r["early_stop"]
           and r["dtype_policy"] == "float32"]
    by_size = {}
    for r in pts:
        by_size.setdefault((r["height"], r["width"]), r)
    pts = sorted(by_size.values(), key=lambda r: r["megapixels"])
    fit = fit_line([r["megapixels"] for r in pts],
                   [r["s_per_frame_median"] for r in pts])
    fit["points"] = [{"size": f"{r['height']}x{r['width']}",
                      "megapixels": r["megapixels"],
                      "s_per_frame_median": r["s_per_frame_median"]}
                     for r in pts]
    fit["us_per_pixel"] = (None if fit["slope"] is None
                           else fit["slope"])  # s per megapixel = us/pixel
    return fit


_MACHINE = {}


def machine():
    """`common.machine()` and the GPUs TensorFlow sees."""
    if _MACHINE:
        return _MACHINE
    import tensorflow as tf
    _MACHINE.update(common.machine(), gpus=[
        d.name for d in tf.config.list_physical_devices("GPU")])
    return _MACHINE


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"## {doc['date']}: inference of the shipped presets (whole frames, "
        f"batch 1, warm){' [--quick]' if doc['quick'] else ''}", "",
        f"Machine: {m['nproc']} CPU cores, {m['cpu']}"
        f"{', GPUs: ' + ', '.join(m['gpus']) if m['gpus'] else ''}; "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, Python "
        f"{m['python']}. Data: embedded 7-Scenes test frames + seeded "
        f"Kinect noise (nearest-neighbour resampled for other sizes). Early "
        f"stop: tolerance {doc['tolerance']} (RMS change of y).", "",
        f"Command: `{doc['command']}` (total wall time "
        f"{doc['total_wall_s']:.0f} s).", "",
        "| preset | size | mode | early stop | dtype | frames/s | s/frame "
        "mean | s/frame median | CPU s/frame | trace s | steps taken | "
        "PSNR dB | load | peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["records"]:
        lines.append(
            f"| {r['preset']} | {r['height']}x{r['width']} | {r['mode']} "
            f"| {'yes' if r['early_stop'] else 'no'} | {r['dtype_policy']} "
            f"| {r['frames_per_s']:.3f} | {r['s_per_frame']:.3f} "
            f"| {r['s_per_frame_median']:.3f} | {r['cpu_s_per_frame']:.2f} "
            f"| {r['trace_s']:.1f} | {fmt(r['steps_taken'], '.2f')} "
            f"| {r['psnr_db']:.3f} | {max(r['loadavg_1min']):.1f} "
            f"| {r['peak_rss_mb']:.0f} |")
    lines.append("")
    for d in doc["saved_model_vs_tf_function"]:
        lines.append(
            f"- SavedModel vs tf.function, {d['preset']} {d['size']} "
            f"{d['dtype_policy']}, early stop "
            f"{'on' if d['tolerance'] is not None else 'off'}: max abs "
            f"difference {d['max_abs_diff']:.2e} over {d['frames']} frames")
    for e in doc["early_stop"]:
        lines.append(
            f"- Early stop (tolerance {e['tolerance']}), {e['preset']} "
            f"{e['mode']} {e['dtype_policy']}: {fmt(e['steps_taken'])} of "
            f"{e['T']} steps on "
            f"average, PSNR {e['psnr_diff_db']:+.3f} dB vs no early stop, "
            f"{e['speedup']:.2f}x speed")
    for e in doc["mixed_precision"]:
        lines.append(
            f"- {e['dtype_policy']} vs float32, {e['preset']} {e['mode']}, "
            f"early stop {'on' if e['tolerance'] is not None else 'off'}: "
            f"PSNR {e['psnr_db']:.3f} vs {e['psnr_float32_db']:.3f} dB "
            f"({e['psnr_diff_db']:+.4f} dB, max abs output difference "
            f"{fmt(e['max_abs_diff_vs_float32'], '.2e')}, "
            f"{'within' if e['within_0_05_db'] else 'NOT within'} "
            f"{MIXED_PSNR_DB} dB), {e['speedup']:.2f}x speed")
    for t in doc.get("targets", []):
        lines.append(f"- {t}")
    f = doc.get("size_fit")
    if f and f.get("slope") is not None:
        lines.append(
            f"- Time vs image size (dp_3, tf.function, sizes "
            f"{', '.join(p['size'] for p in f['points'])}): s/frame = "
            f"{f['intercept']:.3f} + {f['slope']:.3f} x megapixels, "
            f"R^2 = {f['r2']:.4f} ({f['us_per_pixel']:.3f} us per pixel)")
    for r in doc["records"]:
        line = r.get("roofline")
        if line:
            lines.append(f"- Roofline, {r['preset']} {r['height']}x"
                         f"{r['width']} {r['mode']} {r['dtype_policy']}, "
                         f"early stop {'on' if r['early_stop'] else 'off'}: "
                         f"{common.format_line(line)}")
    return "\n".join(lines) + "\n"


def configurations(args):
    """(preset, mode, tolerance, size, reps, dtype_policy) to run."""
    configs = []
    frame = args.frame
    if not args.no_grid:
        for preset in args.presets:
            reps = args.reps if preset == "dp_3" else args.reps_dp20
            for policy in args.dtype_policy:
                modes = MODES if policy == "float32" else args.mixed_modes
                for mode in modes:
                    for tol in (None, args.tolerance):
                        configs.append((preset, mode, tol, frame, reps,
                                        policy))
    for size in args.sizes:
        cfg = ("dp_3", "tf_function", None, size, args.reps_sizes, "float32")
        if cfg[:4] + (cfg[5],) not in [c[:4] + (c[5],) for c in configs]:
            configs.append(cfg)
    return configs


def parent(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.quick:
        args.presets = ["dp_3"]
        args.reps = min(args.reps, 2)
        args.reps_sizes = min(args.reps_sizes, 2)
        if args.sizes == list(DEFAULT_SIZES):
            args.sizes = ["120x160", "240x320"]
    if args.no_sizes:
        args.sizes = []
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} before start; "
              "other processes will inflate the timings", file=sys.stderr)
    configs = configurations(args)
    start = time.perf_counter()
    records, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (preset, mode, tol, size, reps, policy) in enumerate(
                configs, 1):
            print(f"[{i}/{len(configs)}] {preset} {size} {mode} "
                  f"tolerance={tol} {policy} x{reps} ...", file=sys.stderr,
                  flush=True)
            path = os.path.join(tmp, f"out{i}.npz")
            try:
                r = common.inference_point(preset, mode, tol, size, reps,
                                           policy, path,
                                           timeout=args.child_timeout)
            except RuntimeError as error:
                print(f"    FAILED: {error}", file=sys.stderr, flush=True)
                continue
            records.append(r)
            outputs[id(r)] = path
            print(f"    {r['s_per_frame_median']:.3f} s/frame, "
                  f"{r['frames_per_s']:.2f} frames/s, steps "
                  f"{fmt(r['steps_taken'])}, PSNR {r['psnr_db']:.3f} dB, "
                  f"peak RSS {r['peak_rss_mb']:.0f} MB "
                  f"({r['process_wall_s']:.0f} s)", file=sys.stderr,
                  flush=True)
        fill_saved_model_steps(records)
        diffs, early, mixed = comparisons(records, outputs)
    if not args.no_roofline:
        common.annotate_all(records)
    targets = []
    gpu = bool(machine()["gpus"])
    for r in records:
        if (gpu and r["preset"] == "dp_3" and r["dtype_policy"] == "float32"
                and not r["early_stop"]
                and (r["height"], r["width"]) == tuple(FRAME)):
            ok = r["frames_per_s"] >= TARGET_FPS_GPU
            targets.append(f"Target DP-3 480x640 >= {TARGET_FPS_GPU:.0f} "
                           f"frames/s (float32, {r['mode']}): "
                           f"{r['frames_per_s']:.1f} frames/s "
                           f"{'PASS' if ok else 'FAIL'}")
    doc = {
        "benchmark": "inference",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": common.command_line(__file__),
        "machine": machine(), "quick": args.quick,
        "tolerance": args.tolerance,
        "total_wall_s": time.perf_counter() - start,
        "records": records, "saved_model_vs_tf_function": diffs,
        "early_stop": early, "mixed_precision": mixed,
        "size_fit": size_fit(records) if args.sizes else None,
        "targets": targets,
        "failed": len(configs) - len(records),
    }
    print(json.dumps(doc, indent=2))
    if not args.no_record:
        common.record_results(doc, RESULTS_JSON, markdown(doc))
    return 1 if doc["failed"] else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: dp_3 only, 2 frames, sizes "
                             "120x160 and 240x320")
    parser.add_argument("--presets", nargs="+", default=["dp_3", "dp_20"])
    parser.add_argument("--reps", type=int, default=6,
                        help="timed frames per dp_3 configuration")
    parser.add_argument("--reps-dp20", type=int, default=2,
                        help="timed frames per dp_20 configuration")
    parser.add_argument("--reps-sizes", type=int, default=3,
                        help="timed frames per image-size point")
    parser.add_argument("--sizes", nargs="*", default=list(DEFAULT_SIZES),
                        metavar="HxW", help="dp_3 tf.function image sizes")
    parser.add_argument("--no-sizes", action="store_true",
                        help="skip the image-size points")
    parser.add_argument("--no-grid", action="store_true",
                        help="only the image-size points")
    parser.add_argument("--frame", default=f"{FRAME[0]}x{FRAME[1]}",
                        metavar="HxW",
                        help="frame size of the preset x mode x early stop "
                             "grid (default the 7-Scenes 480x640)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="early-stop tolerance (RMS change of y)")
    parser.add_argument("--dtype-policy", nargs="+", default=["float32"],
                        choices=["float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--mixed-modes", nargs="+", default=list(MODES),
                        choices=MODES,
                        help="modes run with a dtype policy other than "
                             "float32")
    parser.add_argument("--child-timeout", type=float, default=None,
                        help="seconds before a child is killed")
    parser.add_argument("--no-roofline", action="store_true",
                        help="do not call common.annotate (no roofline)")
    parser.add_argument("--no-record", action="store_true",
                        help="print JSON only; write no result files")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--preset", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--size", default="480x640", help=argparse.SUPPRESS)
    parser.add_argument("--outputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if "--tolerance" not in sys.argv:
            args.tolerance = None
        args.dtype_policy = args.dtype_policy[0]
        worker(args)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
