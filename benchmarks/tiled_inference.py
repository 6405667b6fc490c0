"""Peak memory and time of whole-frame vs tiled depth denoising (dp_3).

What is measured: `spen_keras.denoising.denoise_depth` with the shipped
`dp_3` preset (T = 3 momentum steps on ||y - x||^2 / (2 sigma^2) +
DeepPrior(y), two 7x7x32 convolutions, so a tiling margin of
3 x 12 = 36 pixels) on large frames:

- 1920x1080, whole frame (`max_untiled_pixels` = infinity), for comparison;
- 1920x1080, tiled (the `denoise_depth` default: tiles of at most
  `--tile` pixels a side, margins included, default 512);
- 4096x3072, tiled (whole-frame 4096x3072 is not run: about 6x the
  1920x1080 memory);
- 1920x1080, whole frame by an eager `model(x)` call (not `denoise_depth`,
  which runs the model in a `tf.function`): the way of calling the model
  that peaks highest (eagerly every step's tape and intermediates stay
  alive), for context.

Frames: an embedded 7-Scenes test frame (480x640 Kinect depth, millimetres)
scaled up to the target size by nearest-neighbour sampling, with the seeded
Kinect-like noise of the Table 1 benchmark (`KinectNoiseModel`, 2% missing
pixels) added at the target size.

One child process per configuration (`--worker`): peak RSS (`ru_maxrss`)
only ever grows within a process and TensorFlow keeps its pools for the
life of a process, so only a fresh child gives a per-configuration peak.
Each child reports `ru_maxrss` of itself (the whole process: Python,
TensorFlow, model, frames, inference), the RSS before the `denoise_depth`
call, `ru_maxrss` at the moment the model starts (after `denoise_depth`'s
numpy pre-processing: normalising and hole filling, which work on the whole
frame in float64 and grow with it), and the wall and CPU time of one
`denoise_depth` call (tracing of its `tf.function` included, as a user
running `spen-keras denoise` on one frame pays it). It also saves the
normalised float output (before conversion back to millimetres) so that the
parent can report the max abs difference tiled vs whole frame at 1920x1080.

    python -m benchmarks.tiled_inference               # the 3 runs, ~2-4 min
    python -m benchmarks.tiled_inference --tile 384    # another tile size
    python -m benchmarks.tiled_inference --no-record   # print only
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from benchmarks import common
from benchmarks.common import current_rss_mb, peak_rss_mb

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "tiled_inference.json")
MARKER = "TILED_INFERENCE_RESULT "
MODES = {"whole": "whole frame", "tiled": "tiled",
         "eager": "whole frame, eager model(x)"}
PRESET = "dp_3"
SEED = 0
RUNS = [  # (height, width, mode)
    (1080, 1920, "whole"),
    (1080, 1920, "tiled"),
    (3072, 4096, "tiled"),
    (1080, 1920, "eager"),
]


# --- child: one configuration -------------------------------------------

def make_frame(height, width):
    """A raw uint16 depth frame of the given size: an embedded test frame
    scaled up (nearest neighbour) plus seeded Kinect-like noise."""
    import numpy as np
    from spen_keras.denoising import KinectNoiseModel, load_frames
    from spen_keras.denoising.depth_normalization import DEPTH_SCALE_MM

    frame = load_frames("test")[0]
    rows = np.arange(height) * frame["raw"].shape[0] // height
    cols = np.arange(width) * frame["raw"].shape[1] // width
    depth = frame["depth"][rows][:, cols]
    mask = frame["mask"][rows][:, cols]
    noisy, noisy_mask = KinectNoiseModel().apply_numpy(depth, mask, seed=SEED)
    raw = np.round(noisy * DEPTH_SCALE_MM)
    return np.where(noisy_mask, np.clip(raw, 1, 65534), 0).astype(np.uint16)


def worker(args):
    import numpy as np
    from spen_keras import SPEN
    from spen_keras.denoising import denoise as denoise_module

    raw = make_frame(args.height, args.width)
    model = SPEN.from_preset(PRESET)
    captured = {}

    def spy(function):
        def wrapped(*a, **k):
            # Peak so far = frame, model, and denoise_depth's numpy
            # pre-processing (normalising, hole filling), before the model.
            captured["peak_before_model"] = peak_rss_mb()
            result = function(*a, **k)
            captured["y"] = result[0] if isinstance(result, tuple) else result
            return result
        return wrapped

    # Keep the normalised float output for the tiled-vs-whole comparison.
    denoise_module.predict_frames = spy(denoise_module.predict_frames)
    denoise_module.predict_tiled = spy(denoise_module.predict_tiled)
    tiled = args.mode == "tiled"
    rss_before = current_rss_mb()
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    if args.mode == "eager":
        from spen_keras.denoising import fill_invalid, normalize_depth
        from spen_keras.denoising import valid_mask
        x = fill_invalid(normalize_depth(raw), valid_mask(raw))
        captured["y"] = model(x[None, ..., None].astype(np.float32)).numpy()
        out = None
    else:
        out = denoise_module.denoise_depth(
            model, raw, tile_size=args.tile if tiled else None,
            max_untiled_pixels=0 if tiled else float("inf"))
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    record = {
        "preset": PRESET, "height": args.height, "width": args.width,
        "mode": args.mode,
        "tile_size": args.tile if tiled else None,
        "margin": denoise_module.receptive_margin(model),
        "wall_s": wall, "cpu_s": cpu,
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "rss_before_mb": rss_before,
        "peak_rss_before_model_mb": captured.get("peak_before_model"),
        "peak_rss_mb": peak_rss_mb(),
    }
    if args.save:
        np.save(args.save, np.asarray(captured["y"], np.float32).reshape(
            args.height, args.width))
        if out is not None:
            np.save(args.save.replace(".npy", "_mm.npy"), out)
    print(MARKER + json.dumps(record), flush=True)


# --- parent ----------------------------------------------------------------

def run_child(height, width, mode, tile, save):
    command = common.script_command(
        __file__, "--worker", "--height", height, "--width", width,
        "--tile", tile, "--mode", mode)
    if save:
        command += ["--save", save]
    label = f"{width}x{height} {mode}"
    print(f"running {label} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True,
                               env=common.child_env())
    for line in completed.stdout.splitlines():
        if line.startswith(MARKER):
            record = json.loads(line[len(MARKER):])
            record["process_wall_s"] = time.perf_counter() - started
            return record
    # A whole frame that does not fit is a result too, not a crash.
    last = (completed.stderr.strip().splitlines() or [""])[-1]
    return {"height": height, "width": width, "mode": mode,
            "tile_size": tile if mode == "tiled" else None,
            "error": f"child exited {completed.returncode}: {last}"}


def markdown(document):
    lines = [
        f"## {document['date']}: tiled inference (dp_3, denoise_depth)",
        "",
        f"Machine: {document['machine']}. Frames: {document['frames']}.",
        "",
        f"Command: `{document['command']}` (total wall time "
        f"{document['total_wall_s']:.0f} s).",
        "",
        "| frame | mode | tile (px, margins incl.) | margin | peak RSS (MB) "
        "| RSS before (MB) | peak before model (MB) | wall s | CPU s "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in document["runs"]:
        if "error" in r:
            lines.append(f"| {r['width']}x{r['height']} | {r['mode']} | | | "
                         f"{r['error']} | | | | | |")
            continue
        lines.append(
            f"| {r['width']}x{r['height']} | {MODES[r['mode']]} | "
            f"{r['tile_size'] or ''} | {r['margin']} | {r['peak_rss_mb']:.0f} | "
            f"{r['rss_before_mb']:.0f} | "
            f"{format(r['peak_rss_before_model_mb'], '.0f') if r['peak_rss_before_model_mb'] else ''} | "
            f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
            f"{max(r['loadavg_1min']):.1f} |")
    lines += ["", document["summary"], ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--mode", choices=sorted(MODES), default="tiled")
    parser.add_argument("--save")
    parser.add_argument("--tile", type=int, default=512,
                        help="tile side in pixels, margins included")
    parser.add_argument("--no-record", action="store_true",
                        help="print only; write no results files")
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    started = time.perf_counter()
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} at start; "
              "wall times will be inflated", file=sys.stderr)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        outputs = {}
        for height, width, mode in RUNS:
            save = None
            if (height, width) == (1080, 1920):
                save = os.path.join(scratch, f"{mode}.npy")
            runs.append(run_child(height, width, mode, args.tile, save))
            if save and os.path.exists(save):
                outputs[mode] = save
        import numpy as np
        diff = diff_mm = None
        if "tiled" in outputs and "whole" in outputs:
            diff = float(np.abs(np.load(outputs["tiled"])
                                - np.load(outputs["whole"])).max())
            diff_mm = int(np.abs(
                np.load(outputs["tiled"].replace(".npy", "_mm.npy"))
                .astype(int)
                - np.load(outputs["whole"].replace(".npy", "_mm.npy"))).max())
    ok = {(r["height"], r["mode"]): r for r in runs if "error" not in r}
    summary = []
    if diff is not None:
        summary.append(
            f"- 1920x1080, tiled vs whole frame: max abs difference "
            f"{diff:.2e} on normalised depth (target <= 1e-5: "
            f"{'PASS' if diff <= 1e-5 else 'FAIL'}), {diff_mm} mm on the "
            "uint16 output.")
    if (1080, "tiled") in ok:
        tiled_peak = ok[(1080, "tiled")]["peak_rss_mb"]
        line = (f"- 1920x1080 tiled peak RSS {tiled_peak:.0f} MB (target "
                f"<= 1536 MB: {'PASS' if tiled_peak <= 1536 else 'FAIL'})")
        if (1080, "whole") in ok:
            whole = ok[(1080, "whole")]
            line += (f"; whole frame {whole['peak_rss_mb']:.0f} MB "
                     f"({tiled_peak / whole['peak_rss_mb']:.2f}x), time "
                     f"{ok[(1080, 'tiled')]['wall_s'] / whole['wall_s']:.2f}x"
                     " (wall), "
                     f"{ok[(1080, 'tiled')]['cpu_s'] / whole['cpu_s']:.2f}x"
                     " (CPU)")
        if (1080, "eager") in ok:
            line += (f"; eager model(x) on the whole frame "
                     f"{ok[(1080, 'eager')]['peak_rss_mb']:.0f} MB")
        summary.append(line + ".")
    document = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": (f"{os.cpu_count()} CPU cores, {platform.processor() or platform.machine()}; "
                    f"Python {platform.python_version()}"),
        "frames": ("embedded 7-Scenes test frame 0 scaled up (nearest "
                   "neighbour) + seeded Kinect-like noise"),
        "command": common.command_line(__file__),
        "preset": PRESET, "tile_size": args.tile,
        "max_abs_diff_1080p": diff, "max_abs_diff_1080p_mm": diff_mm,
        "runs": runs,
        "summary": "\n".join(summary),
        "total_wall_s": time.perf_counter() - started,
    }
    try:
        import keras
        import tensorflow as tf
        document["machine"] += (f", TensorFlow {tf.__version__}, "
                                f"Keras {keras.__version__}")
    except ImportError:
        pass
    print(json.dumps(document, indent=2))
    print(markdown(document), file=sys.stderr)
    if not args.no_record:
        common.record_results(document, RESULTS_JSON, markdown(document))


if __name__ == "__main__":
    main()
