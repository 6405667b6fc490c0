"""A TensorFlow profiler trace of one DP-3 training step, and where its time goes.

Builds the benchmark's model (the shipped `dp_3` spec, untrained; see
`common.build_model`), warms the train function up with two
steps, then records `--steps` (default 1) training steps under
`tf.profiler.experimental`. The raw trace (an XPlane protobuf, the file
TensorBoard's profile plugin and xprof open) is kept under
`benchmarks/profiles/<name>/`; this script also reads it back and writes
`benchmarks/profiles/<name>.md`: the time of every TensorFlow op type on the
host's compute threads, summed, with its share of the step, and the conv
ops' achieved GFLOP/s by the analytic count (`common.dp_flops`).

    python -m benchmarks.profile_step                  # dp3_train_step
    python -m benchmarks.profile_step --inference      # whole-frame DP-3
"""

import argparse
import collections
import glob
import json
import os
import shutil
import time

from benchmarks import common

HERE = common.HERE


def op_type(name):
    """'Conv2DBackpropFilter' from an event name such as
    'gradient_tape/.../Conv2DBackpropFilter:Conv2DBackpropFilter' (the
    profiler names TF op events 'name:type')."""
    return name.rsplit(":", 1)[-1] if ":" in name else name


def summarise(xplane_path):
    """{op type: (total microseconds, count)} over the host's TF op events,
    and the wall span of the traced steps."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(xplane_path, "rb") as handle:
        space.ParseFromString(handle.read())
    totals = collections.defaultdict(lambda: [0.0, 0])
    steps = []
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            # The executor's threads run the graph's ops; each op is an
            # event named "op_name:OpType" (the Eigen threads below them
            # only hold the intra-op work regions of those same ops).
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if "::" in name or ":" not in name:
                    continue
                entry = totals[op_type(name)]
                entry[0] += event.duration_ps / 1e6
                entry[1] += 1
    return dict(totals), steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--T", type=int, default=3)
    parser.add_argument("--inference", action="store_true",
                        help="profile one whole-frame inference instead")
    parser.add_argument("--name", default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    name = args.name or (f"dp{args.T}_inference_480x640" if args.inference
                         else f"dp{args.T}_train_step")
    logdir = os.path.join(HERE, "profiles", name)
    shutil.rmtree(logdir, ignore_errors=True)
    keras.utils.set_random_seed(0)
    model = common.build_model(args.T)
    xs, ys, frame, _ = common.load_data(2 + args.steps)
    if args.inference:
        run = tf.function(lambda x: model(x, training=False))
        data = [tf.constant(frame)] * (args.steps + 2)
        step = lambda i: run(data[i]).numpy()  # noqa: E731
        flops = common.dp_flops("inference", args.T, 1, *frame.shape[1:3])
    else:
        def step(i):
            model.train_on_batch(xs[i], ys[i])
        flops = common.dp_flops("exact", args.T, xs.shape[1],
                                  *xs.shape[2:4])
    step(0)
    step(1)  # traced and warm
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for i in range(2, 2 + args.steps):
        step(i)
    wall = (time.perf_counter() - start) / args.steps
    tf.profiler.experimental.stop()
    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"),
                      recursive=True)
    totals, _ = summarise(paths[0])
    busy = sum(t for t, _ in totals.values()) / args.steps
    rows = sorted(totals.items(), key=lambda kv: -kv[1][0])
    # oneDNN's kernels are named _MklNativeConv2D, _MklNativeFusedConv2D
    # (conv + bias), _MklNativeConv2DBackpropInput, ...
    conv_us = sum(v[0] for k, v in totals.items()
                  if "Conv2D" in k) / args.steps
    doc = {"name": name, "T": args.T, "inference": args.inference,
           "wall_s_per_step": wall, "op_time_s_per_step": busy / 1e6,
           "flops": flops,
           "conv_gflops_achieved_in_conv_ops":
               flops["total"] / (conv_us / 1e6) / 1e9 if conv_us else None,
           "ops": {k: {"s_per_step": v[0] / 1e6 / args.steps,
                       "count_per_step": v[1] / args.steps}
                   for k, v in rows},
           "trace": os.path.relpath(paths[0], HERE)}
    # Achieved GFLOP/s of each conv op type in its own (summed) time.
    doc["conv_rates"] = {}
    for op in common.CONV_OPS:
        micros = sum(v[0] for k, v in totals.items()
                     if k.replace("_MklNative", "").replace("Fused", "")
                     == op) / args.steps
        if micros and flops["by_op"][op]:
            doc["conv_rates"][op] = {
                "s_per_step": micros / 1e6,
                "gflop_per_step": flops["by_op"][op] / 1e9,
                "gflops": flops["by_op"][op] / (micros / 1e6) / 1e9}
    with open(os.path.join(HERE, "profiles", name + ".json"), "w") as f:
        json.dump(doc, f, indent=2)
    lines = [f"# Profile: {name}", "",
             f"Recorded {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             f" by `{common.command_line(__file__)}`; trace: "
             f"`{doc['trace']}` (open with TensorBoard's profile plugin or "
             "xprof).", "",
             f"Wall time per step under the profiler: {wall:.3f} s. Summed op "
             f"time on the host's threads: {busy / 1e6:.3f} s per step "
             "(ops on the two cores overlap, so the sum can exceed the wall "
             "time).", "",
             f"Analytic FLOPs: {flops['total'] / 1e9:.1f} GFLOP per step; "
             f"in the conv ops' own time that is "
             f"{doc['conv_gflops_achieved_in_conv_ops'] or 0:.1f} GFLOP/s.",
             ""]
    if doc["conv_rates"]:
        lines += ["| conv op (analytic FLOPs) | GFLOP per step | s per step "
                  "| GFLOP/s in its own time |", "|---|---|---|---|"]
        lines += [f"| {op} | {r['gflop_per_step']:.1f} | {r['s_per_step']:.3f}"
                  f" | {r['gflops']:.1f} |"
                  for op, r in doc["conv_rates"].items()]
        lines.append("")
    lines += ["| op type | s per step | share of op time | ops per step |",
             "|---|---|---|---|"]
    for key, (micros, count) in rows[:25]:
        lines.append(f"| {key} | {micros / 1e6 / args.steps:.4f} "
                     f"| {100 * micros / max(busy * args.steps, 1):.1f}% "
                     f"| {count / args.steps:.0f} |")
    with open(os.path.join(HERE, "profiles", name + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
