"""Scaling curves: training step time and peak RSS against T, inference time
against image size; a PNG, a JSON and a table.

Training points: the child of `benchmarks.unrolled_training` (`--worker`: the
shipped `dp_20` preset's model with `num_steps` = T, untrained, batch 8 of
96x128 crops, a 2-step warm-up fit then `--steps` timed steps, one process
per point) for T in `--T-values` (default 1, 2, 5, 10, 20, 30, 40; T=3 uses
the `dp_3` spec, which differs from `dp_20` only in T and the learning rate)
and three modes:

- plain: exact Hessian-vector products, no checkpointing;
- checkpointed: exact, `checkpoint=True` (keeps only the iterates, recomputes
  each step in the backward pass);
- finite difference: `hvp="finite_difference"`, no checkpointing.

Inference points: the child of `benchmarks.inference`: `dp_3` under
`tf.function`,
batch 1, warm, no early stop, on the 7-Scenes test frames resampled to
`--sizes` (default 120x160 ... 960x1280, H x W).

Fits: least squares lines of median step time and of peak RSS (training,
`ru_maxrss` after the timed fit) against T per mode, and of median s/frame
against megapixels, each with slope, intercept and R^2. Expected: step time
linear in T in every mode (each step costs the same); peak RSS linear in T
for plain (the tape keeps every step's intermediates) and flat or much
flatter for checkpointed and finite difference (they keep only the iterates,
about 2 x 8 x 96 x 128 x 4 bytes = 0.8 MB a step); inference time linear in
the number of pixels (convolutions). The script says what it found.

Writes benchmarks/results/scaling.png (3 panels), benchmarks/results/
scaling.json and a Markdown section appended to benchmarks/RESULTS.md.

    python -m benchmarks.scaling                 # full, ~25-40 min on 2 cores
    python -m benchmarks.scaling --quick --no-record   # smoke, ~3 min
    python -m benchmarks.scaling --T-values 1 5 10 --modes plain
"""

import argparse
import json
import os
import sys
import time

from benchmarks import common
from benchmarks.common import DEFAULT_SIZES, fit_line

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "scaling.json")
RESULTS_PNG = os.path.join(common.RESULTS_DIR, "scaling.png")
MODES = {  # name: (hvp, checkpoint)
    "plain": ("exact", False),
    "checkpointed": ("exact", True),
    "finite_difference": ("finite_difference", False),
}
DEFAULT_T = (1, 2, 5, 10, 20, 30, 40)
LINEAR_R2 = 0.95     # a fit at least this good is called linear
FLAT_FRACTION = 0.2  # RSS growth over the T range below this x plain's: flat


def train_point(T, mode, steps, timeout=None):
    """One training point in a fresh `unrolled_training --worker`."""
    hvp, checkpoint = MODES[mode]
    record = common.training_point(T, hvp, checkpoint, steps, f"T={T} {mode}",
                                   timeout=timeout)
    record["mode"] = mode
    return record


def verdicts(fits):
    """What the fits show, as {key: sentence} plus booleans.

    `fits` maps "step_time"/"peak_rss" to {mode: fit_line(...) with
    "t_range": (T_min, T_max)}, and optionally "inference" to a fit against
    megapixels.
    """
    out = {}
    for mode, fit in fits.get("step_time", {}).items():
        linear = fit["r2"] is not None and fit["r2"] >= LINEAR_R2
        out[f"step_time_linear_{mode}"] = linear
        out[f"step_time_{mode}"] = (
            f"step time vs T, {mode}: "
            + ("too few points" if fit["r2"] is None else
               f"{fit['slope']:.3f} s per unrolled step + "
               f"{fit['intercept']:.3f} s, R^2 {fit['r2']:.3f}: "
               + ("linear" if linear else "NOT linear")))
    rss = fits.get("peak_rss", {})

    def growth(fit):
        if fit["slope"] is None:
            return None
        lo, hi = fit["t_range"]
        return fit["slope"] * (hi - lo)

    plain = growth(rss["plain"]) if "plain" in rss else None
    for mode, fit in rss.items():
        g = growth(fit)
        if g is None:
            out[f"peak_rss_{mode}"] = f"peak RSS vs T, {mode}: too few points"
            continue
        text = (f"peak RSS vs T, {mode}: {fit['slope']:.1f} MB per unrolled "
                f"step + {fit['intercept']:.0f} MB, R^2 {fit['r2']:.3f}, "
                f"{g:+.0f} MB over T={fit['t_range'][0]}..{fit['t_range'][1]}")
        if mode == "plain":
            linear = fit["r2"] >= LINEAR_R2 and fit["slope"] > 0
            out["peak_rss_linear_plain"] = linear
            text += ": " + ("linear" if linear else "NOT linear")
        elif plain:
            flat = g <= FLAT_FRACTION * plain
            out[f"peak_rss_flat_{mode}"] = flat
            text += (f": {g / plain:.2f}x plain's growth, "
                     + ("flat/much flatter than plain" if flat
                        else "NOT much flatter than plain"))
        out[f"peak_rss_{mode}"] = text
    fit = fits.get("inference")
    if fit:
        linear = fit["r2"] is not None and fit["r2"] >= LINEAR_R2
        out["inference_linear"] = linear
        out["inference"] = (
            "inference time vs pixels: "
            + ("too few points" if fit["r2"] is None else
               f"{fit['slope']:.3f} s per megapixel + "
               f"{fit['intercept']:.3f} s, R^2 {fit['r2']:.4f}: "
               + ("linear" if linear else "NOT linear")))
    return out


def compute_fits(train, infer):
    fits = {"step_time": {}, "peak_rss": {}}
    for mode in MODES:
        pts = sorted((r for r in train if r["mode"] == mode),
                     key=lambda r: r["T"])
        if not pts:
            continue
        Ts = [r["T"] for r in pts]
        for key, field in (("step_time", "s_per_step_median"),
                           ("peak_rss", "peak_rss_train_mb")):
            fit = fit_line(Ts, [r[field] for r in pts])
            fit["t_range"] = (min(Ts), max(Ts))
            fits[key][mode] = fit
    if infer:
        fits["inference"] = fit_line([r["megapixels"] for r in infer],
                                     [r["s_per_frame_median"] for r in infer])
    return fits


def plot(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colours = {"plain": "C0", "checkpointed": "C1", "finite_difference": "C2"}
    for ax, key, field, label in (
            (axes[0], "step_time", "s_per_step_median", "s / training step"),
            (axes[1], "peak_rss", "peak_rss_train_mb", "peak RSS (MB)")):
        for mode, fit in doc["fits"][key].items():
            pts = [r for r in doc["training"] if r["mode"] == mode]
            Ts = np.array([r["T"] for r in pts])
            ax.plot(Ts, [r[field] for r in pts], "o", color=colours[mode],
                    label=mode)
            if fit["slope"] is not None:
                grid = np.linspace(Ts.min(), Ts.max(), 50)
                ax.plot(grid, fit["intercept"] + fit["slope"] * grid, "-",
                        color=colours[mode], alpha=0.6,
                        label=f"fit: {fit['slope']:.3g}/step, "
                              f"R²={fit['r2']:.3f}")
        ax.set_xlabel("T (unrolled steps)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_title("training step (batch 8, 96x128)")
    axes[1].set_title("peak RSS of the training process")
    ax = axes[2]
    infer = doc["inference"]
    if infer:
        mp = np.array([r["megapixels"] for r in infer])
        ax.plot(mp, [r["s_per_frame_median"] for r in infer], "o", color="C3",
                label="dp_3, tf.function")
        fit = doc["fits"].get("inference")
        if fit and fit["slope"] is not None:
            grid = np.linspace(0, mp.max(), 50)
            ax.plot(grid, fit["intercept"] + fit["slope"] * grid, "-",
                    color="C3", alpha=0.6,
                    label=f"fit: {fit['slope']:.3g} s/MP, R²={fit['r2']:.4f}")
        for r in infer:
            ax.annotate(f"{r['height']}x{r['width']}",
                        (r["megapixels"], r["s_per_frame_median"]),
                        fontsize=7, textcoords="offset points", xytext=(4, -8))
        ax.legend(fontsize=8)
    ax.set_xlabel("megapixels (batch 1)")
    ax.set_ylabel("s / frame")
    ax.set_title("inference vs image size")
    ax.grid(alpha=0.3)
    fig.suptitle(f"spen_keras scaling, {doc['date']}"
                 f"{' [--quick]' if doc['quick'] else ''}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"## {doc['date']}: scaling with T and image size"
        f"{' [--quick]' if doc['quick'] else ''}", "",
        f"Machine: {m['nproc']} CPU cores, {m['cpu']}; TensorFlow "
        f"{m['tensorflow']}, Keras {m['keras']}, Python {m['python']}. "
        f"Training: `unrolled_training.py --worker` (dp_20 spec with T "
        f"steps, batch 8, 96x128, {doc['steps']} timed steps after 2 warm-up "
        f"steps). Inference: `inference.py` worker (dp_3, tf.function, "
        f"batch 1, warm).", "",
        f"Command: `{doc['command']}` (total wall time "
        f"{doc['total_wall_s']:.0f} s). Plot: `results/scaling.png`.", "",
        "| T | mode | s/step median | s/step mean | CPU s/step | load | "
        "peak RSS train (MB) | RSS before fit (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(doc["training"], key=lambda r: (r["mode"], r["T"])):
        lines.append(
            f"| {r['T']} | {r['mode']} | {r['s_per_step_median']:.3f} "
            f"| {r['s_per_step']:.3f} | {r['cpu_s_per_step']:.2f} "
            f"| {max(r['loadavg_1min']):.1f} | {r['peak_rss_train_mb']:.0f} "
            f"| {r['rss_before_fit_mb']:.0f} |")
    if doc["inference"]:
        lines += ["", "| size (HxW) | megapixels | s/frame median | "
                  "frames/s | CPU s/frame | peak RSS (MB) |",
                  "|---|---|---|---|---|---|"]
        for r in doc["inference"]:
            lines.append(
                f"| {r['height']}x{r['width']} | {r['megapixels']:.3f} "
                f"| {r['s_per_frame_median']:.3f} | {r['frames_per_s']:.2f} "
                f"| {r['cpu_s_per_frame']:.2f} | {r['peak_rss_mb']:.0f} |")
    lines += ["", "Fits (least squares):", ""]
    lines += [f"- {v}" for k, v in doc["verdicts"].items()
              if isinstance(v, str)]
    if doc["failed"]:
        lines.append(f"- FAILED points: {', '.join(doc['failed'])}")
    for r in doc["training"] + doc["inference"]:
        if r.get("roofline"):
            what = (f"T={r['T']} {r['mode']}" if "crop" in r else
                    f"inference {r['height']}x{r['width']}")
            lines.append(f"- Roofline, {what}: "
                         f"{common.format_line(r['roofline'])}")
    return "\n".join(lines) + "\n"


def parent(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.quick:
        args.T_values = [1, 2, 3]
        args.steps = 1
        if args.sizes == list(DEFAULT_SIZES):
            args.sizes = ["120x160", "240x320"]
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} before start; "
              "other processes will inflate the timings", file=sys.stderr)
    start = time.perf_counter()
    points = [(T, mode) for mode in args.modes for T in args.T_values]
    train, infer, failed = [], [], []
    n = len(points) + len(args.sizes)
    for i, (T, mode) in enumerate(points, 1):
        print(f"[{i}/{n}] training T={T} {mode} ...", file=sys.stderr,
              flush=True)
        try:
            r = train_point(T, mode, args.steps, args.child_timeout)
        except RuntimeError as error:
            print(f"    FAILED: {error}", file=sys.stderr, flush=True)
            failed.append(f"T={T} {mode}")
            continue
        train.append(r)
        print(f"    {r['s_per_step_median']:.3f} s/step, peak RSS "
              f"{r['peak_rss_train_mb']:.0f} MB ({r['process_wall_s']:.0f} s)",
              file=sys.stderr, flush=True)
    for j, size in enumerate(args.sizes, len(points) + 1):
        print(f"[{j}/{n}] inference dp_3 {size} ...", file=sys.stderr,
              flush=True)
        try:
            r = common.inference_point("dp_3", "tf_function", None, size,
                                       args.reps_sizes,
                                       timeout=args.child_timeout)
        except RuntimeError as error:
            print(f"    FAILED: {error}", file=sys.stderr, flush=True)
            failed.append(f"inference {size}")
            continue
        infer.append(r)
        print(f"    {r['s_per_frame_median']:.3f} s/frame, peak RSS "
              f"{r['peak_rss_mb']:.0f} MB ({r['process_wall_s']:.0f} s)",
              file=sys.stderr, flush=True)
    infer.sort(key=lambda r: r["megapixels"])
    for r in train:
        r.setdefault("roofline", None)
    if not (args.quick or args.no_roofline):
        common.annotate_all(train + infer)
    fits = compute_fits(train, infer)
    doc = {
        "benchmark": "scaling",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": common.command_line(__file__),
        "machine": common.machine(), "quick": args.quick,
        "steps": args.steps, "total_wall_s": time.perf_counter() - start,
        "training": train, "inference": infer, "fits": fits,
        "verdicts": verdicts(fits), "failed": failed,
    }
    for key, value in doc["verdicts"].items():
        if isinstance(value, str):
            print(value, file=sys.stderr)
    print(json.dumps(doc, indent=2))
    if not args.no_record:
        common.record_results(doc, RESULTS_JSON, markdown(doc))
        try:
            plot(doc, RESULTS_PNG)
        except ImportError as error:
            print(f"no plot ({error}); pip install matplotlib",
                  file=sys.stderr)
    elif args.png:
        plot(doc, args.png)
    return 1 if failed else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: T in 1, 2, 3, 1 timed step, sizes "
                             "120x160 and 240x320")
    parser.add_argument("--T-values", type=int, nargs="+",
                        default=list(DEFAULT_T))
    parser.add_argument("--modes", nargs="+", default=list(MODES),
                        choices=list(MODES))
    parser.add_argument("--steps", type=int, default=3,
                        help="timed training steps per point")
    parser.add_argument("--sizes", nargs="*", default=list(DEFAULT_SIZES),
                        metavar="HxW", help="inference image sizes")
    parser.add_argument("--reps-sizes", type=int, default=3,
                        help="timed frames per image size")
    parser.add_argument("--child-timeout", type=float, default=None,
                        help="seconds before a point's process is killed")
    parser.add_argument("--no-roofline", action="store_true",
                        help="do not call common.annotate (no roofline; "
                             "skipped with --quick)")
    parser.add_argument("--png", help="with --no-record: write the plot here")
    parser.add_argument("--no-record", action="store_true",
                        help="print JSON only; write no result files")
    return parent(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
