"""Training speed and peak memory of unrolled SPEN training (DeepPrior energy).

What is measured: the shipped Table 1 depth denoiser, built from its preset
spec (`dp_3` for T = 3, `dp_20` for T = 20, untrained):
E(y; x) = ||y - x||^2 / (2 sigma^2) + DeepPrior(y) (conv 7x7x32, SoftPlus,
conv 7x7x32, SoftPlus, conv 1x1), minimised by T momentum steps (momentum
0.25, learned step sizes) and trained with `model.fit` (Adam at the preset's
rate, masked MSE on every iterate, Eq. 9) at batch 8 on 96x128 crops. The grid is
T in {3, 20} x HVP in {exact, finite_difference} x checkpoint in {off, on}.
For each configuration: training steps/s and s/step over N timed steps after a
2-step warm-up fit (which traces the train function), and peak RSS, with
a roofline line per configuration: the step's FLOPs counted analytically per
convolution and the fraction of the machine's conv rate achieved, against a
ceiling measured in the same run (`benchmarks.roofline`). Inference is
measured by `benchmarks.inference`, through the shipped presets themselves.

Why one process per configuration: peak RSS (`ru_maxrss`) only ever grows, and
TensorFlow keeps its allocator pools, graphs and caches for the life of the
process, so configurations measured one after another in one process would
each inherit the previous peak. Every configuration therefore runs in a fresh
child (`--worker`), optionally under `/usr/bin/time -v`, and reports its own
`ru_maxrss`. The training peak is read right after the timed fit, before any
inference is measured; the /usr/bin/time figure covers the whole child.

Inputs are the embedded 7-Scenes train frames with seeded synthetic Kinect
noise (`spen_keras.denoising`) when available, else seeded smooth random
images. The parent prints one JSON document, writes it to
benchmarks/results/unrolled_training.json and appends a Markdown section to
benchmarks/RESULTS.md.

    python -m benchmarks.unrolled_training            # full grid, 10-16 min
    python -m benchmarks.unrolled_training --quick    # T=3 only, 2 steps
    python -m benchmarks.unrolled_training --only 20:exact   # the target pair
"""

import argparse
import gc
import json
import os
import sys
import time

from benchmarks import common
from benchmarks.common import BATCH, CROP, SEED, fmt

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "unrolled_training.json")
TARGET_RSS_RATIO, TARGET_TIME_RATIO = 0.5, 1.5


# --- child: one configuration -------------------------------------------

def worker(args):
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    warmup = 2
    if args.batches:
        # Pre-made batches (the peer benchmark's, so that both sides train
        # on the same arrays and neither pays for a data pipeline in its
        # peak RSS).
        saved = np.load(args.batches)
        xs, ys = saved["xs"], saved["ys"]
        source = str(saved["source"]) + " (pre-made batches)"
        if len(xs) < warmup + args.steps:
            raise SystemExit(f"{args.batches} holds {len(xs)} batches; "
                             f"{warmup + args.steps} are needed.")
    else:
        xs, ys, _, source = common.load_data(warmup + args.steps)

    # Pre-materialised batches: no input pipeline cost in the steps. tf.data
    # autotuning is off: its thread sleeps 10, 20, 40, ... ms between passes
    # and deleting the iterator at the end of `fit` waits for the current
    # sleep, which stalled `fit` until ~10.2 s after it began.
    options = tf.data.Options()
    options.autotune.enabled = False

    def dataset(lo, hi):
        return tf.data.Dataset.from_tensor_slices(
            (xs[lo:hi].reshape((-1,) + xs.shape[2:]),
             ys[lo:hi].reshape((-1,) + ys.shape[2:]))
        ).batch(BATCH, drop_remainder=True).with_options(options)

    model = common.build_model(args.T, args.hvp, args.checkpoint)
    rss_before = common.current_rss_mb()
    model.fit(dataset(0, warmup), steps_per_epoch=warmup, epochs=1,
              verbose=0, shuffle=False)
    rss_after_warmup = common.current_rss_mb()

    step_times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times.append(time.perf_counter() - self.start)

    gc.collect()  # not inside the timed steps: tracing left many objects
    load_before = os.getloadavg()[0]
    start, cpu_start = time.perf_counter(), time.process_time()
    history = model.fit(dataset(warmup, warmup + args.steps),
                        steps_per_epoch=args.steps, epochs=1, verbose=0,
                        shuffle=False, callbacks=[StepTimer()])
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    record = {
        "T": args.T, "hvp": args.hvp, "checkpoint": args.checkpoint,
        "batch": BATCH, "crop": list(CROP), "data": source,
        # Step time = train_function call, batch begin to batch end; the fit
        # call's own set-up and tear-down are in fit_wall_s only.
        "timed_steps": args.steps, "steps_per_s": 1.0 / np.mean(step_times),
        "s_per_step": float(np.mean(step_times)),
        "s_per_step_median": float(np.median(step_times)),
        "s_per_step_max": float(np.max(step_times)),
        # CPU seconds (all threads) per step: much less sensitive than wall
        # time to other processes sharing the cores.
        "cpu_s_per_step": cpu / args.steps,
        "fit_wall_s": elapsed,
        "loss": float(history.history["loss"][-1]),
        # 1-min load average around the timed fit: > 2 on 2 cores means
        # other processes competed for the CPU and the timings are inflated.
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "rss_before_fit_mb": rss_before,
        "rss_after_warmup_mb": rss_after_warmup,
        "peak_rss_train_mb": common.peak_rss_mb(),
    }
    record["peak_rss_mb"] = common.peak_rss_mb()
    print(common.TRAINING_MARKER + json.dumps(record), flush=True)


# --- parent: the grid ----------------------------------------------------

def run_child(config, args):
    T, hvp, checkpoint = config
    return common.training_point(T, hvp, checkpoint, args.steps,
                                 f"configuration {config}", time_v=True)


def ratios(records):
    """Checkpointed / plain peak RSS and step time, per (T, hvp)."""
    out = []
    for plain in (r for r in records if not r["checkpoint"]):
        ckpt = [r for r in records if r["checkpoint"] and
                (r["T"], r["hvp"]) == (plain["T"], plain["hvp"])]
        if not ckpt:
            continue
        rss = ckpt[0]["peak_rss_train_mb"] / plain["peak_rss_train_mb"]
        # Medians: robust to a step slowed by another process on the CPU.
        step = (ckpt[0]["s_per_step_median"] / plain["s_per_step_median"])
        item = {"T": plain["T"], "hvp": plain["hvp"], "rss_ratio": rss,
                "step_time_ratio": step,
                "mean_step_time_ratio": ckpt[0]["s_per_step"]
                / plain["s_per_step"],
                "cpu_time_ratio": ckpt[0]["cpu_s_per_step"]
                / plain["cpu_s_per_step"]}
        if plain["T"] == 20:  # the target is stated for DP-20
            item["rss_pass"] = rss <= TARGET_RSS_RATIO
            item["step_time_pass"] = step <= TARGET_TIME_RATIO
        out.append(item)
    return out


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"## {doc['date']}: unrolled training (DeepPrior, batch {BATCH}, "
        f"{CROP[0]}x{CROP[1]}){' [--quick]' if doc['quick'] else ''}", "",
        f"Machine: {m['nproc']} CPU cores, {m['cpu']}; TensorFlow "
        f"{m['tensorflow']}, Keras {m['keras']}, Python {m['python']}. "
        f"Data: {doc['records'][0]['data']}.", "",
        f"Command: `{doc['command']}` (total wall time "
        f"{doc['total_wall_s']:.0f} s).", "",
        "| T | HVP | checkpoint | steps/s | s/step mean | s/step median | "
        "CPU s/step | load | peak RSS train (MB) | /usr/bin/time max RSS (MB) | "
        "RSS before fit (MB) | GFLOP/step | GFLOP/s | % of conv ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["records"]:
        roof = r.get("roofline") or {}
        lines.append(
            f"| {r['T']} | {r['hvp']} | {'yes' if r['checkpoint'] else 'no'} "
            f"| {r['steps_per_s']:.3f} | {r['s_per_step']:.2f} "
            f"| {r['s_per_step_median']:.2f} | {r['cpu_s_per_step']:.2f} "
            f"| {max(r['loadavg_1min']):.1f} "
            f"| {r['peak_rss_train_mb']:.0f} "
            f"| {fmt(r.get('time_v_max_rss_mb'), '.0f')} "
            f"| {r['rss_before_fit_mb']:.0f} "
            f"| {fmt(roof.get('flops', 0) / 1e9, '.1f') if roof else ''} "
            f"| {fmt(roof.get('achieved_gflops'), '.1f')} "
            f"| {fmt(100 * roof['fraction_of_conv_ceiling'], '.0f') if roof else ''} |")
    ceiling = doc.get("ceiling")
    if ceiling:
        lines += ["", f"Roofline: FLOPs counted analytically per convolution "
                  f"(`benchmarks/roofline.py`) over the median step time; "
                  f"ceiling measured in this run: forward conv "
                  f"{ceiling['ceiling_gflops']:.1f} GFLOP/s "
                  f"({ceiling['conv']}, best input size), backprop-input "
                  f"{ceiling['Conv2DBackpropInput']['gflops_best']:.1f}, "
                  f"backprop-filter "
                  f"{ceiling['Conv2DBackpropFilter']['gflops_best']:.1f}, "
                  f"matmul {ceiling['MatMul']['gflops_best']:.1f}."]
    lines += ["", f"Checkpointed / plain, peak RSS train and median step "
              f"time (target for T=20: peak RSS <= {TARGET_RSS_RATIO}x, "
              f"step time <= {TARGET_TIME_RATIO}x):", ""]
    for q in doc["ratios"]:
        verdict = lambda key: ("" if key not in q else
                               " PASS" if q[key] else " FAIL")
        lines.append(
            f"- T={q['T']}, {q['hvp']}: peak RSS {q['rss_ratio']:.2f}x"
            f"{verdict('rss_pass')}, step time {q['step_time_ratio']:.2f}x"
            f"{verdict('step_time_pass')} (mean step time "
            f"{q['mean_step_time_ratio']:.2f}x, CPU time "
            f"{q['cpu_time_ratio']:.2f}x)")
    return "\n".join(lines) + "\n"


def parent(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # for machine()
    steps_list = [3] if args.quick else [3, 20]
    if args.quick:
        args.steps = 2
    configs = [(T, hvp, ckpt) for T in steps_list
               for hvp in ("exact", "finite_difference")
               for ckpt in (False, True)
               if not args.only or f"{T}:{hvp}" in args.only]
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} before start; "
              "other processes will inflate the step times", file=sys.stderr)
    start = time.perf_counter()
    print("measuring the conv and matmul ceiling ...", file=sys.stderr,
          flush=True)
    ceiling = common.ceiling_in_child(1.0 if args.quick else 2.0)
    records = []
    for i, config in enumerate(configs, 1):
        print(f"[{i}/{len(configs)}] T={config[0]} hvp={config[1]} "
              f"checkpoint={config[2]} ...", file=sys.stderr, flush=True)
        records.append(common.annotate(run_child(config, args), ceiling))
        r = records[-1]
        print(f"    {r['s_per_step']:.2f} s/step, peak RSS "
              f"{r['peak_rss_train_mb']:.0f} MB "
              f"({r['process_wall_s']:.0f} s)", file=sys.stderr, flush=True)
    doc = {
        "benchmark": "unrolled_training",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": common.command_line(__file__),
        "machine": common.machine(), "quick": args.quick,
        "total_wall_s": time.perf_counter() - start, "ceiling": ceiling,
        "records": records, "ratios": ratios(records),
    }
    print(json.dumps(doc, indent=2))
    if not args.no_record:
        common.record_results(doc, RESULTS_JSON, markdown(doc))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: T=3 only, 2 timed steps")
    parser.add_argument("--steps", type=int, default=5,
                        help="timed training steps per configuration")
    parser.add_argument("--only", nargs="+", default=None, metavar="T:HVP",
                        help="run only these configurations, plain and "
                             "checkpointed, e.g. --only 20:exact")
    parser.add_argument("--no-record", action="store_true",
                        help="print JSON only; write no result files")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--T", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--hvp", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--batches", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--inference", action="store_true",
                        help=argparse.SUPPRESS)  # accepted, ignored: see
    # benchmarks.inference for inference through the shipped presets.
    args = parser.parse_args()
    worker(args) if args.worker else parent(args)


if __name__ == "__main__":
    main()
