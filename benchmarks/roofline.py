"""Roofline figures for the DeepPrior denoiser: FLOPs and the machine's ceiling.

Three things; the count and the ceiling are used by every benchmark in this
folder through `benchmarks.common` (`dp_flops`, `ceiling_in_child`,
`annotate`), this script checks the count and measures the ceiling:

1. `common.dp_flops(...)`: the analytic FLOP count of one unrolled training
   step and one inference step of the Table 1 DeepPrior SPEN, counted per convolution.
   A convolution with kernel k x k, c_in -> c_out channels and an output of
   N x H_o x W_o pixels costs 2 k^2 c_in c_out N H_o W_o FLOPs (one multiply
   and one add per tap), and so do its two gradients: the gradient with
   respect to its input (`Conv2DBackpropInput`) and with respect to its
   kernel (`Conv2DBackpropFilter`) pair every output pixel with every tap
   once each. Per unrolled step and per convolution of the energy:

   - inference: the energy's forward conv and its input gradient (dE/dy):
     1 Conv2D + 1 Conv2DBackpropInput;
   - training (exact HVP): the same two in the forward pass, and in the
     backward pass the gradient of each of them with respect to its tensor
     input and its kernel: 2 Conv2D + 2 Conv2DBackpropInput +
     2 Conv2DBackpropFilter, i.e. 3x inference;
   - checkpointed: the forward pass once more in the backward pass (+2);
   - finite-difference HVP: the forward pass, then two first-order passes
     (forward, input and kernel gradients) at y +- eps v: 2 + 6 = 8;
     checkpointed on top of it, the forward pass once more: 10.

   At the first unrolled step y_0 = x is a constant, so no gradient with
   respect to the first conv's input flows out of it; this and the
   element-wise work (SoftPlus and its derivatives, the momentum update, the
   loss) are left out: they are memory-bound, not FLOP-bound, and the
   profile shows their time separately.
2. `graph_flops(concrete_function)`: the same count read off the traced
   TensorFlow graph (every Conv2D, Conv2DBackpropInput, Conv2DBackpropFilter
   and MatMul with its static shapes) plus TensorFlow's own registered
   `flops` statistics (`tf.compat.v1.profiler`, which knows Conv2D and
   MatMul but not the backprop ops): the check of (1).
3. `measure_ceiling()`: the machine's rate on a large 7x7, 32 -> 32
   convolution (forward and both gradients, the step's three kernels) and
   on a float32 matmul, measured in the same run as the benchmark (`--ceiling`
   is the child `common.ceiling_in_child` runs); `common.annotate(record)`
   adds the achieved fraction of the forward-conv rate to a benchmark record.

    python -m benchmarks.roofline               # ceiling + counts + check
    python -m benchmarks.roofline --ceiling     # ceiling only, JSON
"""

import argparse
import json
import os
import time

from benchmarks import common
from benchmarks.common import CONV_OPS, PASSES, conv_flop, conv_layers
from benchmarks.common import dp_flops

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "roofline.json")
DEPTHWISE_OPS = ("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                 "DepthwiseConv2dNativeBackpropFilter")


# --- the check against the traced graph ---------------------------------

def _static(shape):
    dims = shape.as_list() if shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        return None
    out = 1
    for d in dims:
        out *= d
    return out


def _live_ops(graph, outputs):
    """The ops that the outputs or a stateful op (a variable update) depend
    on: what the runtime executes. A registered gradient function builds
    every gradient of an op (Conv2D's builds the input and the kernel
    gradients) even when the tape needs one of them; the other is dead and
    pruned before the graph runs, so it is not counted."""
    roots = [t.op for t in outputs]
    roots += [op for op in graph.get_operations()
              if op.type in ("AssignVariableOp", "AssignAddVariableOp",
                             "AssignSubVariableOp", "ResourceApplyAdam")]
    live, stack = set(), list(roots)
    while stack:
        op = stack.pop()
        if op in live:
            continue
        live.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return [op for op in graph.get_operations() if op in live]


def graph_flops(concrete):
    """FLOPs of the conv and matmul ops of a traced `ConcreteFunction`,
    from their static shapes (live ops only: see `_live_ops`), and
    TensorFlow's registered float_ops (which counts dead ops too)."""
    import tensorflow as tf

    by_op = dict.fromkeys(CONV_OPS + ("MatMul",), 0)
    counts = dict.fromkeys(by_op, 0)
    unknown = 0
    outputs = [t for t in concrete.graph.outputs]
    for op in _live_ops(concrete.graph, outputs):
        if op.type in CONV_OPS:
            if op.type == "Conv2D":
                out, kernel = op.outputs[0].shape, op.inputs[1].shape
            elif op.type == "Conv2DBackpropInput":
                out, kernel = op.inputs[2].shape, op.inputs[1].shape
            else:
                out, kernel = op.inputs[2].shape, op.outputs[0].shape
            n_out, taps = _static(out), _static(kernel)
            if n_out is None or taps is None:
                unknown += 1
                continue
            c_out = kernel.as_list()[-1]
            by_op[op.type] += 2 * n_out * taps // c_out
            counts[op.type] += 1
        elif op.type in DEPTHWISE_OPS:
            # The energy's single-channel input gradient (DeepPriorEnergy):
            # kh x kw taps per element of the depthwise conv's output
            # (multiplier 1); counted with the conv input gradients.
            if op.type == "DepthwiseConv2dNative":
                out, kernel = op.outputs[0].shape, op.inputs[1].shape
            elif op.type == "DepthwiseConv2dNativeBackpropInput":
                out, kernel = op.inputs[2].shape, op.inputs[1].shape
            else:
                out, kernel = op.inputs[2].shape, op.outputs[0].shape
            n_out = _static(out)
            if n_out is None or None in kernel.as_list()[:2]:
                unknown += 1
                continue
            taps = kernel.as_list()[0] * kernel.as_list()[1]
            by_op["Conv2DBackpropInput"] += 2 * n_out * taps
            counts["Depthwise"] = counts.get("Depthwise", 0) + 1
        elif op.type == "MatMul":
            a, b = op.inputs[0].shape.as_list(), op.inputs[1].shape.as_list()
            if None in a or None in b:
                unknown += 1
                continue
            m = a[1] if op.get_attr("transpose_a") else a[0]
            k = a[0] if op.get_attr("transpose_a") else a[1]
            n = b[0] if op.get_attr("transpose_b") else b[1]
            by_op["MatMul"] += 2 * m * k * n
            counts["MatMul"] += 1
    registered = None
    try:
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(concrete.graph,
                                                options=options)
        registered = int(profile.total_float_ops)
    except Exception as error:  # the profiler is best-effort
        registered = f"unavailable ({type(error).__name__})"
    return {"total": sum(by_op.values()), "by_op": by_op, "op_counts": counts,
            "ops_without_static_shape": unknown,
            "tf_profiler_registered_flops": registered}


def traced_train_step(model, x, y):
    """The `ConcreteFunction` of one training step of a compiled model."""
    import tensorflow as tf

    model.optimizer.build(model.trainable_variables)
    return tf.function(model.train_step).get_concrete_function((x, y))


def traced_inference(model, x):
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False)
                       ).get_concrete_function(x)


# --- the machine's ceiling ------------------------------------------------

def _rate(fn, flop, min_seconds):
    fn()  # trace and warm up
    fn()
    best, total, reps = float("inf"), 0.0, 0
    while total < min_seconds or reps < 3:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, total, reps = min(best, elapsed), total + elapsed, reps + 1
    return {"gflops_best": flop / best / 1e9,
            "gflops_mean": flop * reps / total / 1e9, "reps": reps}


CEILING_SHAPES = ((8, 96, 128), (8, 256, 256), (1, 480, 640))


def measure_ceiling(min_seconds=2.0, shapes=CEILING_SHAPES, kernel=7,
                    width=32, matmul=2048):
    """GFLOP/s of k x k, width -> width 'valid' convolutions (forward, input
    and kernel gradients) on a few input sizes (the training crops' batch,
    a large batch, a whole frame) and of a float32 matmul, in this process.
    The ceiling is the best forward-conv rate over the sizes."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    w = tf.constant(rng.normal(size=(kernel, kernel, width, width)) * 0.05,
                    tf.float32)
    result = {"conv": f"{kernel}x{kernel}, {width}->{width}, valid",
              "shapes": {}}
    for batch, height, width_px in shapes:
        x = tf.constant(rng.normal(size=(batch, height, width_px, width)),
                        tf.float32)
        out_shape = (batch, height - kernel + 1, width_px - kernel + 1, width)
        g = tf.constant(rng.normal(size=out_shape), tf.float32)
        flop = conv_flop(kernel, width, width, out_shape[1], out_shape[2],
                         batch)
        forward = tf.function(lambda x=x: tf.nn.conv2d(x, w, 1, "VALID"))
        backprop_input = tf.function(
            lambda x=x, g=g: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=w, out_backprop=g,
                strides=[1] * 4, padding="VALID"))
        backprop_filter = tf.function(
            lambda x=x, g=g: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(w), out_backprop=g,
                strides=[1] * 4, padding="VALID"))
        result["shapes"][f"{batch}x{height}x{width_px}"] = {
            "Conv2D": _rate(lambda: forward().numpy(), flop, min_seconds),
            "Conv2DBackpropInput": _rate(lambda: backprop_input().numpy(),
                                         flop, min_seconds),
            "Conv2DBackpropFilter": _rate(lambda: backprop_filter().numpy(),
                                          flop, min_seconds),
        }
    for op in CONV_OPS:
        result[op] = max((r[op] for r in result["shapes"].values()),
                         key=lambda r: r["gflops_best"])
    a = tf.constant(rng.normal(size=(matmul, matmul)), tf.float32)
    mm = tf.function(lambda: tf.linalg.matmul(a, a))
    result["matmul"] = f"{matmul}x{matmul} float32"
    result["MatMul"] = _rate(lambda: mm().numpy(), 2 * matmul ** 3,
                             min_seconds)
    # The ceiling the achieved fractions refer to: the forward conv's best.
    result["ceiling_gflops"] = result["Conv2D"]["gflops_best"]
    return result


def _conv_op_fns(x_shape, k, c_in, c_out, rng):
    """tf.functions running one Conv2D, Conv2DBackpropInput and
    Conv2DBackpropFilter of a 'valid' k x k, c_in -> c_out conv on inputs of
    x_shape (N, H, W)."""
    import tensorflow as tf

    n, h, w = x_shape
    x = tf.constant(rng.normal(size=(n, h, w, c_in)), tf.float32)
    kernel = tf.constant(rng.normal(size=(k, k, c_in, c_out)) * 0.05,
                         tf.float32)
    g = tf.constant(rng.normal(size=(n, h - k + 1, w - k + 1, c_out)),
                    tf.float32)
    return {
        "Conv2D": tf.function(lambda: tf.nn.conv2d(x, kernel, 1, "VALID")),
        "Conv2DBackpropInput": tf.function(
            lambda: tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x), filter=kernel, out_backprop=g,
                strides=[1] * 4, padding="VALID")),
        "Conv2DBackpropFilter": tf.function(
            lambda: tf.raw_ops.Conv2DBackpropFilter(
                input=x, filter_sizes=tf.shape(kernel), out_backprop=g,
                strides=[1] * 4, padding="VALID")),
    }


def per_layer_prediction(mode, num_steps, batch, height, width,
                         min_seconds=0.5):
    """Each DeepPrior conv op timed alone at the step's own shapes, and the
    step time they predict: sum over layers and op types of passes x FLOPs /
    that op's standalone rate. A measured step close to the prediction
    spends its time in the conv kernels at these shapes (not in the
    library's graph); the gap between the prediction and the ceiling is what
    the kernels themselves lose on these shapes (1 input channel, a 1x1
    output conv, the backprop kernels)."""
    import numpy as np

    rng = np.random.default_rng(0)
    passes = PASSES[mode]
    layers, total_s, shape_h, shape_w = [], 0.0, height, width
    for k, c_in, c_out, h_out, w_out in conv_layers(height, width):
        flop = conv_flop(k, c_in, c_out, h_out, w_out, batch)
        fns = _conv_op_fns((batch, shape_h, shape_w), k, c_in, c_out, rng)
        row = {"layer": f"{k}x{k}, {c_in}->{c_out}", "gflop": flop / 1e9}
        if c_in == 1:
            # What DeepPriorEnergy runs for this input gradient (see
            # `single_channel_conv`): a depthwise conv summed over channels.
            from spen_keras.core.backend.tensorflow_backend import (
                _transposed_single_channel_conv as transposed)
            import tensorflow as tf
            g = tf.constant(rng.normal(size=(batch, h_out, w_out, c_out)),
                            tf.float32)
            kernel = tf.constant(rng.normal(size=(k, k, 1, c_out)) * 0.05,
                                 tf.float32)
            fns["Conv2DBackpropInput"] = tf.function(
                lambda g=g, kernel=kernel: transposed(g, kernel))
            row["input_gradient"] = "depthwise conv, summed (as computed)"
        for op, fn in fns.items():
            if not passes[op]:
                continue
            rate = _rate(lambda fn=fn: fn().numpy(), flop, min_seconds)
            seconds = passes[op] * num_steps * flop / (
                rate["gflops_best"] * 1e9)
            row[op] = {"gflops": rate["gflops_best"],
                       "s_per_step": seconds}
            total_s += seconds
        layers.append(row)
        shape_h, shape_w = h_out, w_out
    return {"mode": mode, "T": num_steps, "batch": batch,
            "size": [height, width], "layers": layers,
            "predicted_s_per_step": total_s,
            "flops": dp_flops(mode, num_steps, batch, height,
                              width)["total"]}


# --- command line ----------------------------------------------------------

def check_counts(T=3, batch=8, crop=(96, 128)):
    """Analytic vs graph FLOPs for the dp_3 model's training step (plain,
    checkpointed, finite-difference) and its inference, in this process."""
    import keras
    import tensorflow as tf

    x = tf.random.uniform((batch,) + tuple(crop) + (1,), 0.3, 0.7, seed=1)
    rows = []
    for mode in ("exact", "checkpointed", "finite_difference"):
        model = common.build_model(
            T, hvp="finite_difference" if mode == "finite_difference"
            else "exact", checkpoint=mode == "checkpointed")
        model(x)
        counted = graph_flops(traced_train_step(model, x, x))
        analytic = dp_flops(mode, T, batch, *crop)
        rows.append({"step": f"training, {mode}", "analytic": analytic,
                     "graph": counted})
        if mode == "exact":
            counted = graph_flops(traced_inference(model, x))
            rows.append({"step": "inference",
                         "analytic": dp_flops("inference", T, batch, *crop),
                         "graph": counted})
        keras.backend.clear_session()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ceiling", action="store_true",
                        help="measure the ceiling only; print one JSON line")
    parser.add_argument("--min-seconds", type=float, default=2.0)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.ceiling:
        print(common.CEILING_MARKER
              + json.dumps(measure_ceiling(args.min_seconds)), flush=True)
        return
    ceiling = common.ceiling_in_child(args.min_seconds)
    checks = check_counts()
    predictions = [per_layer_prediction("exact", 3, 8, 96, 128),
                   per_layer_prediction("inference", 3, 1, 480, 640)]
    doc = {"benchmark": "roofline",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "ceiling": ceiling, "checks": checks,
           "per_layer_predictions": predictions,
           "dp_flops": {f"T={T}, {mode}": dp_flops(mode, T, *shape)
                        for T in (3, 20)
                        for mode, shape in (("exact", (8, 96, 128)),
                                            ("inference", (1, 480, 640)))}}
    print(json.dumps(doc, indent=2))
    if args.no_record:
        return
    lines = [f"## {doc['date']}: roofline (FLOP counts and the ceiling)", "",
             f"Command: `{common.command_line(__file__)}`", "",
             "| measured | GFLOP/s (best) | GFLOP/s (mean) |", "|---|---|---|"]
    for key in CONV_OPS + ("MatMul",):
        what = ceiling["matmul"] if key == "MatMul" else ceiling["conv"]
        lines.append(f"| {key} ({what}, best size) "
                     f"| {ceiling[key]['gflops_best']:.1f} "
                     f"| {ceiling[key]['gflops_mean']:.1f} |")
    lines += ["", "| DP-3 step (batch 8, 96x128) | analytic GFLOP | graph "
              "GFLOP | TF registered GFLOP |", "|---|---|---|---|"]
    for row in checks:
        reg = row["graph"]["tf_profiler_registered_flops"]
        lines.append(
            f"| {row['step']} | {row['analytic']['total'] / 1e9:.3f} "
            f"| {row['graph']['total'] / 1e9:.3f} "
            f"| {reg / 1e9 if isinstance(reg, int) else reg} |")
    for p in predictions:
        lines += ["", f"Each conv op of a DP-3 {p['mode']} step (batch "
                  f"{p['batch']}, {p['size'][0]}x{p['size'][1]}) timed alone "
                  "at the step's shapes: GFLOP/s (best of repeated calls) and "
                  "the seconds per step it accounts for. The single-"
                  "channel layer's input gradient is timed as the energy "
                  "computes it (a depthwise conv summed over channels, "
                  "`single_channel_conv`).", "",
                  "| layer | GFLOP per call | Conv2D | BackpropInput | "
                  "BackpropFilter |", "|---|---|---|---|---|"]
        for row in p["layers"]:
            cells = [f"{row[op]['gflops']:.0f} GFLOP/s, "
                     f"{row[op]['s_per_step']:.3f} s" if op in row else "-"
                     for op in CONV_OPS]
            lines.append(f"| {row['layer']} | {row['gflop']:.2f} | "
                         + " | ".join(cells) + " |")
        lines += ["", f"Predicted step time from these rates: "
                  f"{p['predicted_s_per_step']:.3f} s "
                  f"({p['flops'] / p['predicted_s_per_step'] / 1e9:.0f} "
                  f"GFLOP/s, {100 * p['flops'] / p['predicted_s_per_step'] / 1e9 / ceiling['ceiling_gflops']:.0f}% of the ceiling)."]
    common.record_results(doc, RESULTS_JSON, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
