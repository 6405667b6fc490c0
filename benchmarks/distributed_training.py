"""Distributed training of the dp_3 preset's model: one process vs two-worker
MultiWorkerMirroredStrategy (127.0.0.1) vs MirroredStrategy over two logical
CPU devices, on the same global batch.

What is measured: the shipped dp_3 model (DeepPrior energy, T = 3, exact HVP),
built from its preset spec by `common.build_model` (as in the other
benchmarks), but under each strategy's scope (`spen_keras.presets.distribute`), and
trained with `model.fit` (Adam at the preset's initial rate, masked MSE on
every iterate) on the denoising family's training stream (embedded 7-Scenes train frames +
seeded Kinect noise, random 96x128 crops), global batch 8, split across the
replicas by `distribute_global_batches` (sharded: each worker's pipeline
builds only its own rows of every global batch). For each configuration, after a 2-step warm-up fit
(tracing, symbolic build) from the same seeded weights:

- steps/s and s/step over N timed steps of the real input pipeline, and the
  throughput relative to one process;
- the loss of each of the 2 + N steps (agreement: every configuration sees the
  same batches from the same weights, so the losses should agree to float
  rounding; max relative difference to one process is reported);
- starvation: the pipeline alone (the same distributed dataset, iterated with
  no training running) gives its seconds per global batch; then N more steps
  are timed on the first batches cached in memory (no input work at all). The
  pipeline starves the step if it is slower than the step, or if the step is
  slower with the live pipeline than with cached batches (beyond noise).

Why one process per configuration: logical CPU devices are fixed before
TensorFlow starts, a cluster needs one process per worker, and TensorFlow
keeps its pools for the process's life. On a 2-core machine the two workers
(or the two replicas) share the same two cores, so scale-out cannot be faster
here; the figures show the overhead of the collectives, and that the results agree.

    python -m benchmarks.distributed_training                    # 8 timed steps
    python -m benchmarks.distributed_training --quick --no-record  # smoke, 2 steps
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

from benchmarks import common
from benchmarks.common import BATCH, CROP, SEED

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "distributed_training.json")
MARKER = "DISTRIBUTED_TRAINING_RESULT "
WARMUP = 2
CONFIGS = ("one_process", "multiworker_2", "mirrored_2cpu")
CHILD_TIMEOUT = 900


# --- child: one process of one configuration --------------------------------

def build_model(strategy):
    """dp_3's model, untrained, as `common.build_model` builds it (T = 3,
    exact HVP, no checkpointing; the preset's loss and initial Adam rate),
    created and built under the strategy's scope."""
    import keras

    from spen_keras.presets import get_spec

    with strategy.scope():
        keras.utils.set_random_seed(SEED)
        return common.build_model(
            3, input_shape=get_spec("dp_3").recipe.task.input_shape)


class StepTimes:
    """Keras callback: wall time of every training batch."""

    def __new__(cls):
        import keras

        class _StepTimes(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times, self.losses = [], []

            def on_train_batch_begin(self, batch, logs=None):
                self._start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                self.times.append(time.perf_counter() - self._start)
                self.losses.append(float((logs or {}).get("loss", "nan")))

        return _StepTimes()


def child(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    if args.config == "mirrored_2cpu":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from spen_keras.denoising import load_frames, make_training_dataset
    from spen_keras.presets.distribute import (distribute_global_batches,
                                       get_strategy, is_chief)

    name = {"one_process": "default", "multiworker_2": "multiworker",
            "mirrored_2cpu": "mirrored"}[args.config]
    strategy = get_strategy(name)
    frames = load_frames("train")

    def stream(shard=None):
        return make_training_dataset(frames, crop_size=CROP,
                                     batch_size=BATCH, seed=SEED, shard=shard)

    def cached(shard=None):
        return stream(shard).take(WARMUP).cache().repeat()

    def distributed(fn):
        if strategy.num_replicas_in_sync == 1:
            return fn()
        # Sharded: each worker's pipeline builds only its rows.
        return distribute_global_batches(strategy, fn, BATCH, shardable=True)

    model = build_model(strategy)
    # Live pipeline: warm-up, then timed steps (one fit, 1 step per epoch
    # would add per-epoch overhead: use one epoch of WARMUP + N steps and
    # time the batches).
    live = StepTimes()
    started = time.perf_counter()
    model.fit(distributed(stream), steps_per_epoch=WARMUP + args.steps,
              epochs=1, verbose=0, callbacks=[live])
    fit_wall = time.perf_counter() - started
    timed = live.times[WARMUP:]

    # The pipeline alone: seconds per global batch once it runs.
    iterator = iter(distributed(stream))
    for _ in range(2):
        next(iterator)
    start = time.perf_counter()
    for _ in range(args.input_batches):
        batch = next(iterator)
    tf.nest.map_structure(
        lambda v: [t.numpy() for t in strategy.experimental_local_results(v)]
        if isinstance(v, tf.distribute.DistributedValues) else v.numpy(),
        batch)
    input_s = (time.perf_counter() - start) / args.input_batches

    # Cached batches: the step with no input work.
    cache = StepTimes()
    model.fit(distributed(cached), steps_per_epoch=WARMUP + args.steps,
              epochs=1, verbose=0, callbacks=[cache])
    cached_times = cache.times[WARMUP:]
    return {
        "config": args.config, "strategy": name,
        "replicas": strategy.num_replicas_in_sync, "chief": is_chief(strategy),
        "timed_steps": args.steps,
        "s_per_step": float(np.mean(timed)),
        "s_per_step_median": float(np.median(timed)),
        "steps_per_s": 1.0 / float(np.mean(timed)),
        "examples_per_s": BATCH / float(np.mean(timed)),
        "first_fit_wall_s": fit_wall,
        "losses": live.losses,
        "input_s_per_global_batch": input_s,
        "s_per_step_cached_median": float(np.median(cached_times)),
        "loadavg_1min": os.getloadavg()[0],
    }


# --- parent ---------------------------------------------------------------

def free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_child(config, args, env=None):
    command = common.script_command(
        __file__, "--child", "--config", config, "--steps", args.steps,
        "--input-batches", args.input_batches)
    return subprocess.Popen(command, env=common.child_env(env),
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def collect(processes):
    """Waits for every child (killing all on a failure or timeout) and
    returns their results."""
    results, deadline = [], time.time() + CHILD_TIMEOUT
    try:
        for process in processes:
            out, err = process.communicate(
                timeout=max(1.0, deadline - time.time()))
            lines = [l for l in out.splitlines() if l.startswith(MARKER)]
            if process.returncode != 0 or not lines:
                raise RuntimeError(f"child failed (exit {process.returncode})"
                                   f":\n{err[-3000:]}")
            results.append(json.loads(lines[-1][len(MARKER):]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    return results


def run_config(config, args):
    started = time.perf_counter()
    if config == "multiworker_2":
        ports = free_ports(2)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        processes = [start_child(config, args, {"TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}})})
            for i in range(2)]
    else:
        processes = [start_child(config, args)]
    results = collect(processes)
    record = next(r for r in results if r["chief"])
    record["workers"] = len(results)
    record["worker_s_per_step"] = [r["s_per_step"] for r in results]
    record["workers_losses_equal"] = all(
        r["losses"] == results[0]["losses"] for r in results)
    record["process_wall_s"] = time.perf_counter() - started
    return record


def summarise(records):
    import numpy as np
    base = records[0]
    for r in records:
        a, b = np.array(r["losses"]), np.array(base["losses"])
        r["loss_max_rel_diff_vs_one_process"] = float(
            np.max(np.abs(a - b) / np.abs(b)))
        r["throughput_vs_one_process"] = r["steps_per_s"] / base["steps_per_s"]
        r["input_vs_step"] = r["input_s_per_global_batch"] / r["s_per_step"]
        r["live_vs_cached_step"] = (r["s_per_step_median"]
                                    / r["s_per_step_cached_median"])
        # Starved: the pipeline alone cannot keep up with the step, or the
        # live step is clearly slower than the cached one (10%: timing noise
        # on a shared 2-core machine is of that order).
        r["starved"] = bool(r["input_vs_step"] >= 1.0
                            or r["live_vs_cached_step"] > 1.10)


def markdown(doc):
    m = doc["machine"]
    lines = [
        f"## {doc['date']}: distributed training (dp_3, global batch {BATCH}, "
        f"{CROP[0]}x{CROP[1]}){' [--quick]' if doc['quick'] else ''}", "",
        f"Machine: {m['nproc']} CPU cores, {m['cpu']}; TensorFlow "
        f"{m['tensorflow']}, Keras {m['keras']}, Python {m['python']}. Data: "
        "embedded 7-Scenes train frames + Kinect noise, the training stream "
        "split per replica by `distribute_global_batches`.", "",
        f"Command: `{doc['command']}` (total wall time "
        f"{doc['total_wall_s']:.0f} s). {doc['timed_steps']} timed steps after "
        f"{WARMUP} warm-up steps.", "",
        "| configuration | replicas | steps/s | s/step mean | s/step median "
        "| vs one process | loss max rel. diff | input s/batch (alone) "
        "| input / step | s/step cached batches | live / cached | starved "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["records"]:
        lines.append(
            f"| {r['config']} | {r['replicas']} | {r['steps_per_s']:.3f} "
            f"| {r['s_per_step']:.3f} | {r['s_per_step_median']:.3f} "
            f"| {r['throughput_vs_one_process']:.2f}x "
            f"| {r['loss_max_rel_diff_vs_one_process']:.1e} "
            f"| {r['input_s_per_global_batch']:.4f} "
            f"| {r['input_vs_step']:.3f} "
            f"| {r['s_per_step_cached_median']:.3f} "
            f"| {r['live_vs_cached_step']:.2f} "
            f"| {'yes' if r['starved'] else 'no'} "
            f"| {r['loadavg_1min']:.1f} |")
    lines += ["", "Two workers (or two replicas) share the same 2 cores: "
              "scale-out cannot be faster on this machine; the figures give "
              "the overhead of the collectives (the input is sharded: each "
              "worker builds only its rows), and the agreement of the "
              "losses."]
    return "\n".join(lines) + "\n"


def parent(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.quick:
        args.steps, args.input_batches = 2, 4
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} before start; "
              "other processes will inflate the step times", file=sys.stderr)
    start = time.perf_counter()
    records = []
    for i, config in enumerate(CONFIGS, 1):
        print(f"[{i}/{len(CONFIGS)}] {config} ...", file=sys.stderr,
              flush=True)
        records.append(run_config(config, args))
        r = records[-1]
        print(f"    {r['s_per_step']:.2f} s/step, loss {r['losses'][-1]:.6f}"
              f" ({r['process_wall_s']:.0f} s)", file=sys.stderr, flush=True)
    summarise(records)
    doc = {
        "benchmark": "distributed_training",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": common.command_line(__file__),
        "machine": common.machine(), "quick": args.quick,
        "timed_steps": args.steps,
        "total_wall_s": time.perf_counter() - start, "records": records,
    }
    print(json.dumps(doc, indent=2))
    if not args.no_record:
        common.record_results(doc, RESULTS_JSON, markdown(doc))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 timed steps, 4 input batches")
    parser.add_argument("--steps", type=int, default=8,
                        help="timed training steps per configuration")
    parser.add_argument("--input-batches", type=int, default=16,
                        help="global batches timed on the pipeline alone")
    parser.add_argument("--no-record", action="store_true",
                        help="print JSON only; write no result files")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(MARKER + json.dumps(child(args)), flush=True)
    else:
        parent(args)


if __name__ == "__main__":
    main()
