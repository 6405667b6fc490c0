"""Our unrolled DP training step against the same step written in PyTorch.

The peer computes exactly the function `benchmarks.unrolled_training` trains
(the shipped `dp_3` / `dp_20` preset, untrained): E(y; x) = ||y - x||^2 /
(2 exp(log_var)) + DeepPrior(y), DeepPrior = conv 7x7x32 (valid) + bias,
SoftPlus at temperature 25 (softplus(25 h) / 25), conv 7x7x32 + bias, SoftPlus,
conv 1x1 (no bias), summed over pixels; y_0 = x; T momentum steps
h_{t+1} = 0.25 h_t + eta_t dE/dy, y_{t+1} = y_t - h_{t+1}, with
eta_t = softplus(raw_t) learned; loss = sum_t w_t masked-MSE(y_t, y*) with
Eq. 9's w_t = 1 / (T (T - t + 1)) and the mask y* > 0 (per-example mean over
valid pixels, 0 for none; mean over the batch); Adam (eps 1e-7 as Keras) at
the preset's rate (3e-3 for DP-3, 1e-3 for DP-20); batch 8 of 96x128 crops.

Peer forms (`--forms`):

- `eager`: plain PyTorch, NCHW, inner gradient by
  `torch.autograd.grad(E.sum(), y, create_graph=True)`, `loss.backward()`,
  `torch.optim.Adam`.
- `channels_last`: the same with parameters and images in channels-last
  memory format.
- `compiled`: `torch.compile` (inductor) of ONE unrolled step (dE/dy and the
  momentum update), called T times; loss, backward and Adam run eagerly
  around it. `torch.compile` cannot differentiate a graph that calls
  `torch.autograd.grad(..., create_graph=True)`: AOTAutograd raises "does not
  currently support double backward", both for the whole training step and
  for the energy alone. So the compiled step takes dE/dy with
  `torch.func.grad`, which Dynamo traces into the forward graph; the outer
  backward through that graph is then first-order and AOTAutograd compiles
  it too. One step is compiled (not the T-step loop) so that DP-3 and DP-20
  reuse one small graph instead of tracing 20 copies.

All forms run with `torch.set_num_threads(os.cpu_count())` (TensorFlow uses
all cores by default) and `torch.set_flush_denormal(True)` (TensorFlow's
executor flushes denormals by default; without it the peer's T = 3 eager step
took 12.05 s instead of 0.91 s on the 2-core machine, as SoftPlus_25 and its
derivatives underflow into denormals; `--keep-denormals` shows it).

Harness: like `benchmarks.unrolled_training`, one child process per
measurement (an honest `ru_maxrss` each). First a `--check` child (TensorFlow
and PyTorch in one process) builds our model exactly as `common.build_model`
does, copies its initial weights into the peer and compares loss and the
gradients of every parameter on one real batch, for every form in float32
(relative error <= 1e-4) and for `eager` at the smallest T in float64
(<= 1e-7); it also saves the batches and the initial weights, so that the
peer children never import TensorFlow (which would inflate their RSS) and
train from the very same weights on the very same batches as ours. No
comparison is reported if the check fails. Then, for each T and each of
`--rounds` rounds, alternating: ours plain, peer eager, ours checkpointed,
the peer's other forms (ours is `unrolled_training --worker`, unchanged).
Reported per configuration: the median over rounds of each figure; ratios
peer / ours of the median step time and ours-checkpointed / peer of the peak
RSS.

    python -m benchmarks.peer_pytorch                  # T = 3 and 20, 2 rounds
    python -m benchmarks.peer_pytorch --quick --no-record
    python -m benchmarks.peer_pytorch --forms eager compiled --rounds 3

PyTorch is an optional, benchmark-only dependency (`pip install
torch==2.13.0`, or the `peer` extra); the package never imports it.
"""

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time

from benchmarks import common
from benchmarks.common import BATCH, CROP, SEED, fmt

RESULTS_JSON = os.path.join(common.RESULTS_DIR, "peer_pytorch.json")
MARKER = "PEER_PYTORCH_RESULT "
CHECK_MARKER = "PEER_PYTORCH_CHECK "
TORCH_PIN = "torch==2.13.0"
FORMS = ("eager", "channels_last", "compiled")
MOMENTUM, TEMPERATURE = 0.25, 25.0
WARMUP = 2
# float64: PyTorch's SoftPlus returns x itself where 25 x > 20 (TensorFlow's
# threshold differs), a ~2e-9 relative change of the gradients.
TOLERANCE = {"float32": 1e-4, "float64": 1e-7}
TARGET_SPEEDUP = 1.3  # ours at least 1.3x faster than PyTorch eager


def require_torch():
    """Imports torch or exits with a one-line error naming the pinned wheel."""
    try:
        import torch
    except ImportError:
        sys.stderr.write(
            "peer_pytorch.py needs PyTorch (an optional, benchmark-only "
            f"dependency): pip install {TORCH_PIN}\n")
        sys.exit(2)
    return torch


# --- the peer: the same energy and unrolled step in PyTorch ---------------

PARAM_NAMES = ("log_variance", "kernel_0", "bias_0", "kernel_1", "bias_1",
               "output_kernel", "raw_step_sizes")


def energy(y, x, log_variance, kernel_0, bias_0, kernel_1, bias_1,
           output_kernel):
    """E(y; x) per example, shape (batch,): data term + DeepPrior."""
    import torch.nn.functional as F
    data = (y - x).square().sum((1, 2, 3)) / (2.0 * log_variance.exp())
    hidden = F.softplus(F.conv2d(y, kernel_0, bias_0), beta=TEMPERATURE)
    hidden = F.softplus(F.conv2d(hidden, kernel_1, bias_1), beta=TEMPERATURE)
    prior = F.conv2d(hidden, output_kernel).sum((1, 2, 3))
    return data + prior


def step_autograd(y, velocity, eta, x, *params):
    """One momentum step, dE/dy by autograd.grad(create_graph=True)."""
    import torch
    if not y.requires_grad:  # y_0 = x
        y = y.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(energy(y, x, *params).sum(), y,
                                  create_graph=True)
    velocity = MOMENTUM * velocity + eta * grad
    return y - velocity, velocity


def step_func(y, velocity, eta, x, *params):
    """The same step with dE/dy by torch.func.grad (traceable by Dynamo)."""
    import torch
    grad = torch.func.grad(lambda z: energy(z, x, *params).sum())(y)
    velocity = MOMENTUM * velocity + eta * grad
    return y - velocity, velocity


def masked_mse(y_true, y_pred):
    """Per-example mean squared error over pixels with y_true > 0."""
    import torch
    valid = (y_true > 0).flatten(1)
    squared = (y_pred - y_true).square().flatten(1)
    total = torch.where(valid, squared, torch.zeros_like(squared)).sum(1)
    count = valid.to(y_pred.dtype).sum(1)
    return torch.where(count > 0, total / count.clamp_min(1),
                       torch.zeros_like(total))


def iterate_weights(num_steps):
    """Eq. 9's w_t / T = 1 / (T (T - t + 1)) (spen.iterate_weights)."""
    return [1.0 / (num_steps * (num_steps - t + 1))
            for t in range(1, num_steps + 1)]


class Peer:
    """The peer's parameters, unrolled loss and training step for one form."""

    def __init__(self, weights, num_steps, form, learning_rate,
                 dtype="float32"):
        import torch
        self.torch, self.form, self.num_steps = torch, form, num_steps
        dtype = getattr(torch, dtype)
        self.params = [torch.nn.Parameter(torch.as_tensor(weights[n])
                                          .to(dtype).clone())
                       for n in PARAM_NAMES]
        if form == "channels_last":
            for p in self.params:
                if p.dim() == 4:
                    p.data = p.data.contiguous(
                        memory_format=torch.channels_last)
        self.weights = iterate_weights(num_steps)
        self.step = step_autograd
        if form == "compiled":
            self.step = torch.compile(step_func, dynamic=False)
        self.optimizer = torch.optim.Adam(self.params, lr=learning_rate,
                                          eps=1e-7)  # Keras Adam's epsilon

    def prepare(self, array):
        """(batch, 1, H, W) numpy -> tensor in this form's layout."""
        torch = self.torch
        tensor = torch.as_tensor(array).to(self.params[0].dtype)
        if self.form == "channels_last":
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def loss(self, x, y_true):
        torch = self.torch
        energy_params = self.params[:-1]
        etas = torch.nn.functional.softplus(self.params[-1])
        y, velocity = x, torch.zeros_like(x)
        loss = 0.0
        for t in range(self.num_steps):
            y, velocity = self.step(y, velocity, etas[t], x, *energy_params)
            loss = loss + self.weights[t] * masked_mse(y_true, y).mean()
        return loss

    def gradients(self, x, y_true):
        loss = self.loss(x, y_true)
        grads = self.torch.autograd.grad(loss, self.params)
        return float(loss.detach()), [g.detach().cpu().numpy() for g in grads]

    def train_step(self, x, y_true):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(x, y_true)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())


def to_nchw(batches):
    """(n, batch, H, W, 1) -> (n, batch, 1, H, W), contiguous."""
    import numpy as np
    return np.ascontiguousarray(np.transpose(batches, (0, 1, 4, 2, 3)))


# --- the check child: our model vs the peer, one batch ----------------------

def keras_weights(model):
    """Our trainable weights by peer name, in the peer's layouts (OIHW)."""
    import numpy as np
    out = {}
    for variable in model.trainable_weights:
        name = variable.name.split("/")[-1].split(":")[0]
        value = np.asarray(variable.numpy())
        if value.ndim == 4:
            value = np.transpose(value, (3, 2, 0, 1))  # HWIO -> OIHW
        if name in out:
            raise RuntimeError(f"two trainable weights named {name!r}")
        out[name] = value
    if sorted(out) != sorted(PARAM_NAMES):
        raise RuntimeError(f"unexpected weights {sorted(out)}; expected "
                           f"{sorted(PARAM_NAMES)}")
    return out


def keras_loss_and_gradients(model, x, y):
    """Loss and d loss / d weight exactly as SPEN.train_step computes them."""
    import numpy as np
    import tensorflow as tf
    with tf.GradientTape() as tape:
        loss, _ = model._total_loss(x, y, None)
    grads = tape.gradient(loss, model.trainable_weights)
    named = {}
    for variable, grad in zip(model.trainable_weights, grads):
        name = variable.name.split("/")[-1].split(":")[0]
        grad = np.asarray(grad)
        named[name] = np.transpose(grad, (3, 2, 0, 1)) if grad.ndim == 4 \
            else grad
    return float(loss), named


def relative_error(ref, value):
    import numpy as np
    ref, value = np.asarray(ref, np.float64), np.asarray(value, np.float64)
    scale = np.linalg.norm(ref)
    diff = np.linalg.norm(ref - value)
    return float(diff / scale) if scale > 0 else float(diff)


def compare(model, weights, num_steps, form, x, y, dtype, learning_rate):
    """Relative errors of the peer's loss and gradients against ours."""
    ref_loss, ref_grads = keras_loss_and_gradients(model, x, y)
    peer = Peer(weights, num_steps, form, learning_rate, dtype)
    start = time.perf_counter()
    loss, grads = peer.gradients(peer.prepare(to_nchw(x[None])[0]),
                                 peer.prepare(to_nchw(y[None])[0]))
    errors = {"loss": relative_error(ref_loss, loss)}
    for name, grad in zip(PARAM_NAMES, grads):
        errors[name] = relative_error(ref_grads[name], grad)
    worst = max(errors.values())
    return {"T": num_steps, "form": form, "dtype": dtype,
            "loss_ours": ref_loss, "loss_peer": loss,
            "relative_errors": errors, "max_relative_error": worst,
            "tolerance": TOLERANCE[dtype],
            "passed": bool(worst <= TOLERANCE[dtype]),
            "peer_seconds": time.perf_counter() - start}


def check_worker(args):
    """Saves data and initial weights; checks every form against ours."""
    import keras
    import numpy as np
    torch = require_torch()
    torch.set_num_threads(os.cpu_count())
    results, saved_data = [], False
    for T in args.T_list:
        # The worker's order: seed, data, model; so that these are the very
        # initial weights our `--worker` child trains from.
        keras.utils.set_random_seed(SEED)
        xs, ys, _, source = common.load_data(args.num_batches)
        if not saved_data:
            np.savez(os.path.join(args.workdir, "data.npz"),
                     xs=to_nchw(xs), ys=to_nchw(ys), source=source)
            # The same batches for our child (NHWC): neither side builds a
            # data pipeline in the timed process.
            np.savez(os.path.join(args.workdir, "data_nhwc.npz"),
                     xs=xs, ys=ys, source=source)
            saved_data = True
        model = common.build_model(T)
        model(xs[0])  # creates the weights
        weights = keras_weights(model)
        learning_rate = float(model.optimizer.learning_rate.numpy())
        np.savez(os.path.join(args.workdir, f"weights_T{T}.npz"),
                 learning_rate=learning_rate, **weights)
        x, y = xs[0], ys[0]
        for form in args.forms:
            results.append(compare(model, weights, T, form, x, y, "float32",
                                   learning_rate))
            print(f"    check T={T} {form} float32: max rel. error "
                  f"{results[-1]['max_relative_error']:.2e}", file=sys.stderr,
                  flush=True)
        if args.float64_check and T == min(args.T_list):  # pins it down
            keras.config.set_floatx("float64")
            keras.config.set_dtype_policy("float64")
            try:
                model64 = common.build_model(T)
                model64(xs[0].astype(np.float64))
                for variable in model64.trainable_weights:
                    name = variable.name.split("/")[-1].split(":")[0]
                    value = weights[name]
                    if value.ndim == 4:
                        value = np.transpose(value, (2, 3, 1, 0))  # -> HWIO
                    variable.assign(value.astype(np.float64))
                results.append(compare(
                    model64, weights, T, "eager", x.astype(np.float64),
                    y.astype(np.float64), "float64", learning_rate))
                print(f"    check T={T} eager float64: max rel. error "
                      f"{results[-1]['max_relative_error']:.2e}",
                      file=sys.stderr, flush=True)
            finally:
                keras.config.set_floatx("float32")
                keras.config.set_dtype_policy("float32")
    print(CHECK_MARKER + json.dumps({
        "passed": all(r["passed"] for r in results), "results": results,
        "data": source, "torch": torch.__version__}), flush=True)


# --- the peer child: one timed configuration --------------------------------

def peer_worker(args):
    import numpy as np
    torch = require_torch()
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    # Denormals flushed to zero, as TensorFlow's executor does by default:
    # without it the peer's T = 3 eager step took 12.05 s instead of 0.91 s
    # on the 2-core machine (SoftPlus_25 and its derivatives underflow into
    # denormals, which the CPU handles in microcode).
    torch.set_flush_denormal(not args.keep_denormals)
    torch.manual_seed(SEED)
    data = np.load(os.path.join(args.workdir, "data.npz"))
    weights = dict(np.load(os.path.join(args.workdir,
                                        f"weights_T{args.T}.npz")))
    learning_rate = float(weights.pop("learning_rate"))
    peer = Peer(weights, args.T, args.form, learning_rate)
    xs = [peer.prepare(b) for b in data["xs"]]
    ys = [peer.prepare(b) for b in data["ys"]]
    # Two warm-up steps for every form, as ours: the first compiles
    # `compiled` (both of its variants: y_0 = x without and y_t with
    # requires_grad), so the second already runs compiled code.
    warmup = WARMUP
    rss_before = common.current_rss_mb()
    warmup_times = []
    for i in range(warmup):
        start = time.perf_counter()
        peer.train_step(xs[i % len(xs)], ys[i % len(ys)])
        warmup_times.append(time.perf_counter() - start)
    rss_after_warmup = common.current_rss_mb()
    gc.collect()
    # Timed steps on the batches ours times (batches WARMUP.. of the same
    # seeded stream), after the same warm-up batches: the losses are
    # comparable with ours.
    step_times, losses = [], []
    load_before = os.getloadavg()[0]
    start_all, cpu_start = time.perf_counter(), time.process_time()
    for i in range(args.steps):
        j = (WARMUP + i) % len(xs)
        start = time.perf_counter()
        losses.append(peer.train_step(xs[j], ys[j]))
        step_times.append(time.perf_counter() - start)
    elapsed = time.perf_counter() - start_all
    cpu = time.process_time() - cpu_start
    record = {
        "T": args.T, "form": args.form, "batch": BATCH,
        "crop": list(CROP), "data": str(data["source"]),
        "torch": torch.__version__, "threads": threads,
        "timed_steps": args.steps,
        "steps_per_s": 1.0 / float(np.mean(step_times)),
        "s_per_step": float(np.mean(step_times)),
        "s_per_step_median": float(np.median(step_times)),
        "s_per_step_max": float(np.max(step_times)),
        "cpu_s_per_step": cpu / args.steps, "fit_wall_s": elapsed,
        # The first warm-up step of `compiled` includes the compilation;
        # compile_s is that step minus a timed step.
        "warmup_s": warmup_times,
        "compile_s": (warmup_times[0] - float(np.median(step_times))
                      if args.form == "compiled" else None),
        "loss": float(np.mean(losses)),  # like Keras's epoch-mean loss
        "loadavg_1min": [load_before, os.getloadavg()[0]],
        "rss_before_fit_mb": rss_before,
        "rss_after_warmup_mb": rss_after_warmup,
        "peak_rss_train_mb": common.peak_rss_mb(),
        "roofline": None,
    }
    print(MARKER + json.dumps(record), flush=True)


# --- parent ------------------------------------------------------------------

def run_child(cmd, marker, what):
    """Runs one child (under /usr/bin/time -v when it works), returns its
    marker record with process_wall_s and time_v_max_rss_mb added; the
    check child's progress lines are passed on."""
    return common.run_child(cmd, marker, what, time_v=True, echo="    check ")


def run_ours(T, checkpoint, args, workdir):
    record = common.training_point(
        T, "exact", checkpoint, args.steps,
        f"ours T={T} checkpoint={checkpoint}", time_v=True,
        batches=os.path.join(workdir, "data_nhwc.npz"))
    record["form"] = "ours_checkpointed" if checkpoint else "ours"
    record["roofline"] = None
    return record


def run_peer(T, form, args, workdir):
    cmd = common.script_command(
        __file__, "--peer-worker", "--T", T, "--form", form, "--steps",
        args.steps, "--workdir", workdir)
    cmd += ["--keep-denormals"] * args.keep_denormals
    return run_child(cmd, MARKER, f"peer T={T} form={form}")


MEDIAN_KEYS = ("steps_per_s", "s_per_step", "s_per_step_median",
               "cpu_s_per_step", "peak_rss_train_mb", "rss_before_fit_mb",
               "time_v_max_rss_mb", "loss", "compile_s")


def summarise(records):
    """Median over rounds of each figure, per (T, form)."""
    out = []
    keys = []
    for r in records:
        if (r["T"], r["form"]) not in keys:
            keys.append((r["T"], r["form"]))
    for T, form in keys:
        rounds = [r for r in records if (r["T"], r["form"]) == (T, form)]
        item = {"T": T, "form": form, "rounds": len(rounds),
                "hvp": "exact", "checkpoint": form == "ours_checkpointed",
                "batch": rounds[0]["batch"], "crop": rounds[0]["crop"],
                "load_max": max(max(r["loadavg_1min"]) for r in rounds),
                "roofline": None}
        for key in MEDIAN_KEYS:
            values = [r[key] for r in rounds if r.get(key) is not None]
            item[key] = statistics.median(values) if values else None
        # What training adds on top of the process before its first step:
        # ours' base holds TensorFlow (~580 MB) and the data pipeline with
        # the noisy frame pools (~110 MB), the peer's base PyTorch and the
        # saved batches only.
        item["train_rss_increment_mb"] = statistics.median(
            r["peak_rss_train_mb"] - r["rss_before_fit_mb"] for r in rounds)
        out.append(item)
    return out


def ratios(summary):
    """peer / ours median step time, ours-checkpointed / peer peak RSS."""
    out = []
    for T in sorted({s["T"] for s in summary}):
        by_form = {s["form"]: s for s in summary if s["T"] == T}
        mine, ckpt = by_form.get("ours"), by_form.get("ours_checkpointed")
        for form, peer in by_form.items():
            if form.startswith("ours"):
                continue
            item = {"T": T, "form": form}
            if mine:
                item["peer_over_ours_step"] = (peer["s_per_step_median"]
                                               / mine["s_per_step_median"])
                item["peer_over_ours_cpu"] = (peer["cpu_s_per_step"]
                                              / mine["cpu_s_per_step"])
                if form == "eager":
                    item["speedup_pass"] = (item["peer_over_ours_step"]
                                            >= TARGET_SPEEDUP)
            if ckpt:
                item["peer_over_ours_checkpointed_step"] = (
                    peer["s_per_step_median"] / ckpt["s_per_step_median"])
                item["ours_checkpointed_over_peer_rss"] = (
                    ckpt["peak_rss_train_mb"] / peer["peak_rss_train_mb"])
                item["rss_pass"] = item["ours_checkpointed_over_peer_rss"] < 1
                item["ours_checkpointed_over_peer_rss_increment"] = (
                    ckpt["train_rss_increment_mb"]
                    / peer["train_rss_increment_mb"])
            if mine:
                item["ours_over_peer_rss"] = (mine["peak_rss_train_mb"]
                                              / peer["peak_rss_train_mb"])
            out.append(item)
    return out


def best_forms(summary):
    """Per T, the peer form with the lowest median step time."""
    best = {}
    for s in summary:
        if s["form"].startswith("ours"):
            continue
        if s["T"] not in best or (s["s_per_step_median"]
                                  < best[s["T"]]["s_per_step_median"]):
            best[s["T"]] = s
    return {str(T): s["form"] for T, s in best.items()}


def machine():
    import torch
    info = common.machine()
    info["torch"] = torch.__version__
    info["torch_threads"] = os.cpu_count()
    return info


def markdown(doc):
    m = doc["machine"]
    check = doc["check"]
    worst = max(r["max_relative_error"] for r in check["results"]
                if r["dtype"] == "float32")
    lines = [
        f"## {doc['date']}: ours vs PyTorch peer, unrolled DP training "
        f"(batch {BATCH}, {CROP[0]}x{CROP[1]})"
        f"{' [--quick]' if doc['quick'] else ''}", "",
        f"Machine: {m['nproc']} CPU cores, {m['cpu']}; TensorFlow "
        f"{m['tensorflow']}, Keras {m['keras']}, PyTorch {m['torch']} "
        f"({m['torch_threads']} threads), Python {m['python']}. "
        f"Data: {check['data']}.", "",
        f"Command: `{doc['command']}` (total wall time "
        f"{doc['total_wall_s']:.0f} s; {doc['rounds']} round(s), "
        f"{doc['steps']} timed steps per child, medians over rounds).", "",
        f"Equivalence check (loss and all parameter gradients, one batch, "
        f"same initial weights): {'PASS' if check['passed'] else 'FAIL'}; "
        f"worst float32 relative error {worst:.1e} (tolerance "
        f"{TOLERANCE['float32']:g})"
        + "".join(f"; float64 T={r['T']} {r['max_relative_error']:.1e}"
                  for r in check["results"] if r["dtype"] == "float64")
        + ".", "",
        "| T | form | steps/s | s/step mean | s/step median | CPU s/step | "
        "load | peak RSS train (MB) | RSS before fit (MB) | training adds "
        "(MB) | compile (s) | loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in doc["summary"]:
        lines.append(
            f"| {s['T']} | {s['form']} | {s['steps_per_s']:.3f} "
            f"| {s['s_per_step']:.2f} | {s['s_per_step_median']:.2f} "
            f"| {s['cpu_s_per_step']:.2f} | {s['load_max']:.1f} "
            f"| {s['peak_rss_train_mb']:.0f} | {s['rss_before_fit_mb']:.0f} "
            f"| {s['train_rss_increment_mb']:.0f} "
            f"| {fmt(s.get('compile_s'), '.0f')} | {s['loss']:.5f} |")
    lines += ["", f"Peer / ours median step time (target: PyTorch eager >= "
              f"{TARGET_SPEEDUP}x ours) and ours-checkpointed / peer peak "
              f"RSS (target: < 1). Best peer form: "
              + ", ".join(f"T={T} {f}" for T, f in doc["best_forms"].items())
              + ".", ""]
    verdict = lambda q, key: ("" if key not in q else
                              " PASS" if q[key] else " FAIL")
    for q in doc["ratios"]:
        parts = [f"- T={q['T']}, {q['form']}:"]
        if "peer_over_ours_step" in q:
            parts.append(f"step time peer/ours {q['peer_over_ours_step']:.2f}x"
                         f"{verdict(q, 'speedup_pass')} (CPU time "
                         f"{q['peer_over_ours_cpu']:.2f}x)")
        if "ours_checkpointed_over_peer_rss" in q:
            parts.append(
                f"peer/ours-checkpointed step time "
                f"{q['peer_over_ours_checkpointed_step']:.2f}x; peak RSS "
                f"ours-checkpointed/peer "
                f"{q['ours_checkpointed_over_peer_rss']:.2f}x"
                f"{verdict(q, 'rss_pass')} (ours plain/peer "
                f"{q['ours_over_peer_rss']:.2f}x; what training adds, "
                f"ours-checkpointed/peer "
                f"{q['ours_checkpointed_over_peer_rss_increment']:.2f}x)")
        lines.append(" ".join(parts[:1]) + " " + "; ".join(parts[1:]))
    return "\n".join(lines) + "\n"


def parent(args):
    torch = require_torch()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # for machine()
    T_list = [3] if args.quick else [3, 20]
    if args.quick:
        args.steps, args.rounds = 2, 1
    forms = list(args.forms)
    if "eager" not in forms:
        forms.insert(0, "eager")  # the target is stated against eager
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()[0]:.1f} before start; "
              "other processes will inflate the step times", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="peer_pytorch_") as workdir:
        print(f"[check] T={T_list} forms={forms} ...", file=sys.stderr,
              flush=True)
        cmd = common.script_command(
            __file__, "--check-worker", "--workdir", workdir,
            "--num-batches", WARMUP + args.steps, "--T-list", *T_list,
            "--forms", *forms)
        check = run_child(cmd, CHECK_MARKER, "equivalence check")
        if not check["passed"]:
            print(json.dumps(check, indent=2))
            sys.exit("peer_pytorch.py: the equivalence check FAILED: the peer "
                     "does not compute our function; no comparison reported")
        records = []
        for T in T_list:
            for rnd in range(args.rounds):
                order = ([("ours", False), ("peer", "eager"),
                          ("ours", True)]
                         + [("peer", f) for f in forms if f != "eager"])
                for who, what in order:
                    label = (f"ours checkpoint={what}" if who == "ours"
                             else f"peer {what}")
                    print(f"[T={T} round {rnd + 1}/{args.rounds}] {label} ...",
                          file=sys.stderr, flush=True)
                    r = (run_ours(T, what, args, workdir) if who == "ours"
                         else run_peer(T, what, args, workdir))
                    r["round"] = rnd + 1
                    records.append(r)
                    print(f"    {r['s_per_step_median']:.2f} s/step median, "
                          f"peak RSS {r['peak_rss_train_mb']:.0f} MB, loss "
                          f"{r['loss']:.5f} ({r['process_wall_s']:.0f} s)",
                          file=sys.stderr, flush=True)
    # After all the timed children: roofline's ceiling measurement (its own
    # child, once per process) must not run between them.
    summary = summarise(records)
    common.annotate_all(records + summary)
    doc = {
        "benchmark": "peer_pytorch",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": common.command_line(__file__),
        "machine": machine(), "quick": args.quick, "rounds": args.rounds,
        "steps": args.steps, "forms": forms, "torch": torch.__version__,
        "flush_denormal": not args.keep_denormals,
        "compiled_form": ("torch.compile (inductor, dynamic=False) of one "
                          "unrolled step with dE/dy by torch.func.grad; "
                          "autograd.grad(create_graph=True) cannot be "
                          "compiled (AOTAutograd: no double backward)"),
        "total_wall_s": time.perf_counter() - start,
        "check": check, "records": records, "summary": summary,
        "ratios": ratios(summary), "best_forms": best_forms(summary),
        "roofline": None,
    }
    print(json.dumps(doc, indent=2))
    if not args.no_record:
        common.record_results(doc, RESULTS_JSON, markdown(doc))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: T=3 only, 2 timed steps, 1 round")
    parser.add_argument("--steps", type=int, default=5,
                        help="timed training steps per child")
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternating rounds per T (medians reported)")
    parser.add_argument("--forms", nargs="+", default=list(FORMS),
                        choices=FORMS, help="peer forms (eager always runs)")
    parser.add_argument("--no-record", action="store_true",
                        help="print JSON only; write no result files")
    parser.add_argument("--check-worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--peer-worker", action="store_true",
                        help=argparse.SUPPRESS)
    parser.add_argument("--keep-denormals", action="store_true",
                        help="do not flush the peer's denormals to zero "
                             "(TensorFlow flushes them by default; the peer "
                             "is then many times slower)")
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--num-batches", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--T-list", type=int, nargs="+", default=[3],
                        help=argparse.SUPPRESS)
    parser.add_argument("--no-float64-check", dest="float64_check",
                        action="store_false", help=argparse.SUPPRESS)
    parser.add_argument("--T", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--form", choices=FORMS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check_worker:
        check_worker(args)
    elif args.peer_worker:
        peer_worker(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
