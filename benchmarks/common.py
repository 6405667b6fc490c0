"""What the benchmark scripts share; the one module they import from here.

Every script in `benchmarks/` runs from the repository root as
`python -m benchmarks.NAME` and imports this module and no other script of
the folder (tests/test_benchmark_scripts.py checks it). A script that needs
another one's measurement runs it as a child process (`script_command`),
never imports it. What is here:

- where results go and how they are recorded (`record_results`, the
  command line and the machine a result names);
- peak and current RSS of this process, and running one configuration in a
  fresh child (`run_child`): peak RSS (`ru_maxrss`) only ever grows within a
  process and TensorFlow keeps its pools for the process's life, so every
  measured configuration runs in a process of its own;
- the measured model: the shipped Table 1 DeepPrior denoiser built from its
  preset spec with T, the HVP mode and checkpointing set (`build_model`),
  and its training batches (`load_data`); the children of
  `unrolled_training` and `inference` as one training or inference point;
- the roofline: the analytic FLOP count of a DeepPrior step (`dp_flops`),
  the machine's conv ceiling measured by `benchmarks.roofline --ceiling`
  in a child (`ceiling_in_child`) and the fraction of it a record achieved
  (`annotate`); least-squares lines (`fit_line`).

Importing it imports the standard library only: TensorFlow, Keras and the
package are imported inside the functions that need them.
"""

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS_DIR = os.path.join(HERE, "results")
RESULTS_MD = os.path.join(HERE, "RESULTS.md")

# The measured training configuration: batch 8 of 96x128 crops; whole
# 480x640 frames for inference, and the image sizes (H x W) inference is
# measured at for its scaling with size.
BATCH, CROP, FRAME = 8, (96, 128), (480, 640)
SEED = 0
DEFAULT_SIZES = ("120x160", "240x320", "480x640", "720x960", "960x1280")

# Each child prints its record on one line after its marker.
TRAINING_MARKER = "UNROLLED_TRAINING_RESULT "
INFERENCE_MARKER = "INFERENCE_RESULT "
CEILING_MARKER = "ROOFLINE_RESULT "


# --- results ---------------------------------------------------------------

def script_name(script):
    """'inference' for 'inference', 'inference.py' or its path."""
    return os.path.splitext(os.path.basename(script))[0]


def command_line(script):
    """The command that ran this process, as a result records it:
    `python -m benchmarks.NAME ARGS`."""
    return " ".join(["python", "-m", f"benchmarks.{script_name(script)}"]
                    + sys.argv[1:])


def record_results(doc, json_path, markdown_text, results_md=RESULTS_MD,
                   title="Benchmark results"):
    """Writes the run's JSON document to json_path and appends its Markdown
    section to `results_md` (RESULTS.md beside the scripts; a new file
    starts with `title`)."""
    os.makedirs(os.path.dirname(json_path), exist_ok=True)
    with open(json_path, "w") as f:
        json.dump(doc, f, indent=2)
    new = not os.path.exists(results_md)
    with open(results_md, "a") as f:
        if new:
            f.write(f"# {title}\n\nAppended by the scripts in this folder; "
                    "newest last.\n")
        f.write("\n" + markdown_text)


def machine():
    """The CPU, its cores and the versions a result was measured with."""
    import keras
    cpu = platform.processor() or "unknown"
    with open("/proc/cpuinfo") as info:
        names = [l.split(":", 1)[1].strip() for l in info
                 if l.startswith("model name")]
    backend = keras.backend.backend()
    tf = None
    if backend == "tensorflow" or "tensorflow" in sys.modules:
        import tensorflow as tf
    return {"nproc": os.cpu_count(), "cpu": names[0] if names else cpu,
            "tensorflow": None if tf is None else tf.__version__,
            "keras": keras.__version__, "backend": backend,
            "python": platform.python_version()}


def fmt(value, spec=".2f"):
    return "" if value is None else format(value, spec)


def current_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB


# --- child processes ---------------------------------------------------------

def script_command(script, *args):
    """The command running a script of this folder as a module."""
    return [sys.executable, "-m", f"benchmarks.{script_name(script)}",
            *map(str, args)]


def child_env(extra=None):
    """This environment, quiet TensorFlow, and the repository root on the
    path (so `-m benchmarks.NAME` resolves from any working directory)."""
    env = dict(os.environ, **(extra or {}))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["PYTHONPATH"] = os.pathsep.join(
        [ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                  if p])
    return env


def time_prefix(path):
    """['/usr/bin/time', '-v', '-o', path] if GNU time works here, else []."""
    if not os.path.exists("/usr/bin/time"):
        return []
    probe = subprocess.run(["/usr/bin/time", "-v", "true"],
                           capture_output=True, text=True)
    return ["/usr/bin/time", "-v", "-o", path] if probe.returncode == 0 else []


def run_child(command, marker, what, timeout=None, time_v=False, echo=None):
    """Runs one child and returns the record it printed after `marker`.

    Args:
        command: the child's command (`script_command`).
        marker: the prefix of the line holding the child's JSON record.
        what: names the child in errors ("T=3 plain").
        timeout: seconds before the child is killed (None: no limit).
        time_v: run it under `/usr/bin/time -v` when that works, and add
            its maximum RSS as `time_v_max_rss_mb`.
        echo: pass the child's stderr lines starting with this on.

    Returns:
        The record, with `process_wall_s` added.

    Raises:
        RuntimeError: the child failed, printed no record or timed out
            (its stderr's end is written to this process's stderr).
    """
    with tempfile.NamedTemporaryFile(suffix=".time") as time_file:
        prefix = time_prefix(time_file.name) if time_v else []
        start = time.perf_counter()
        try:
            proc = subprocess.run(prefix + command, capture_output=True,
                                  text=True, env=child_env(), timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{what} timed out after {timeout} s")
        wall = time.perf_counter() - start
        time_report = open(time_file.name).read()
    if echo:
        sys.stderr.write("".join(l + "\n" for l in proc.stderr.splitlines()
                                 if l.startswith(echo)))
    lines = [l for l in proc.stdout.splitlines() if l.startswith(marker)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"{what} failed (exit {proc.returncode})")
    record = json.loads(lines[-1][len(marker):])
    record["process_wall_s"] = wall
    for line in time_report.splitlines():
        if "Maximum resident set size" in line:
            record["time_v_max_rss_mb"] = int(line.split(":")[-1]) / 1024.0
    return record


def training_point(T, hvp, checkpoint, steps, what, timeout=None,
                   time_v=False, batches=None):
    """One training configuration in a fresh `unrolled_training --worker`:
    its record (steps/s, peak RSS, ...)."""
    command = script_command("unrolled_training", "--worker", "--T", T,
                             "--hvp", hvp, "--steps", steps)
    command += ["--checkpoint"] * bool(checkpoint)
    if batches:
        command += ["--batches", batches]
    return run_child(command, TRAINING_MARKER, what, timeout=timeout,
                     time_v=time_v)


def inference_point(preset, mode, tolerance, size, reps,
                    dtype_policy="float32", outputs=None, timeout=None):
    """One inference configuration in a fresh `inference --worker`: its
    record (frames/s, PSNR, peak RSS, ...)."""
    command = script_command("inference", "--worker", "--preset", preset,
                             "--mode", mode, "--size", size, "--reps", reps,
                             "--dtype-policy", dtype_policy)
    if tolerance is not None:
        command += ["--tolerance", repr(float(tolerance))]
    if outputs:
        command += ["--outputs", outputs]
    return run_child(command, INFERENCE_MARKER,
                     f"{preset} {mode} {size} tolerance={tolerance} "
                     f"{dtype_policy}", timeout=timeout)


# --- the measured model and its data ----------------------------------------

def smooth_images(rng, n, shape):
    """Seeded smooth random 'depth' images in [0.2, 0.8], (n, H, W, 1)."""
    import numpy as np
    coarse = rng.uniform(0.2, 0.8, (n, shape[0] // 16 + 2, shape[1] // 16 + 2))
    fine = np.repeat(np.repeat(coarse, 16, axis=1), 16, axis=2)
    kernel = np.ones(16) / 16.0
    for axis in (1, 2):  # box blur along rows and columns
        fine = np.apply_along_axis(np.convolve, axis, fine, kernel, "same")
    return fine[:, 8:8 + shape[0], 8:8 + shape[1], None].astype(np.float32)


def load_data(num_batches):
    """(x, y) batches for training, 8 crops and one whole frame for inference.

    The embedded 7-Scenes train frames with seeded Kinect noise when the
    denoising family is there, else seeded smooth random images.
    """
    import numpy as np
    try:
        from spen_keras import denoising
        frames_fn = denoising.load_frames
        dataset_fn = denoising.make_training_dataset
    except (ImportError, AttributeError):
        denoising = None
    if denoising is not None:
        frames = frames_fn("train")
        batches = list(dataset_fn(frames, crop_size=CROP, batch_size=BATCH,
                                  seed=SEED).take(num_batches))
        xs = np.stack([b[0].numpy() for b in batches])
        ys = np.stack([b[1].numpy() for b in batches])
        frame, _ = denoising.make_evaluation_arrays(frames[:1], seed=SEED)
        return xs, ys, frame, "7-Scenes train frames + Kinect noise"
    rng = np.random.default_rng(SEED)
    ys = smooth_images(rng, num_batches * BATCH, CROP)
    xs = ys + rng.normal(0.0, 0.02, ys.shape).astype(np.float32)
    frame = smooth_images(rng, 1, FRAME)
    frame += rng.normal(0.0, 0.02, frame.shape).astype(np.float32)
    shape = (num_batches, BATCH) + ys.shape[1:]
    return xs.reshape(shape), ys.reshape(shape), frame, "smooth random images"


def build_model(T, hvp="exact", checkpoint=False, input_shape=None):
    """The shipped preset's model (dp_3 for T = 3, dp_20 otherwise),
    untrained, with T, the HVP mode and checkpointing set as asked;
    compiled with the preset's loss and initial learning rate.

    Args:
        input_shape: build the model for this input shape before compiling
            (None: it is built at its first call).
    """
    import keras
    from spen_keras.presets import get_spec

    spec = get_spec("dp_3" if T == 3 else "dp_20")
    config = keras.saving.serialize_keras_object(spec.recipe.build())
    minimizer = config["config"]["minimizer"]["config"]
    minimizer.update(num_steps=T, hvp=hvp, checkpoint=bool(checkpoint))
    model = keras.saving.deserialize_keras_object(config)
    if input_shape is not None:
        model.build(input_shape)
    model.compile(optimizer=keras.optimizers.Adam(spec.recipe.learning_rate),
                  loss=spec.recipe.task.loss())
    return model


# --- FLOPs and the roofline ------------------------------------------------
# How the passes per convolution are counted: benchmarks/roofline.py's
# docstring, and benchmarks/README.md.

CONV_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")

# Conv passes per energy convolution and unrolled step, by mode.
PASSES = {
    "inference": {"Conv2D": 1, "Conv2DBackpropInput": 1,
                  "Conv2DBackpropFilter": 0},
    "exact": {"Conv2D": 2, "Conv2DBackpropInput": 2,
              "Conv2DBackpropFilter": 2},
    "checkpointed": {"Conv2D": 3, "Conv2DBackpropInput": 3,
                     "Conv2DBackpropFilter": 2},
    "finite_difference": {"Conv2D": 3, "Conv2DBackpropInput": 3,
                          "Conv2DBackpropFilter": 2},
    "finite_difference_checkpointed": {"Conv2D": 4, "Conv2DBackpropInput": 4,
                                       "Conv2DBackpropFilter": 2},
}

DP_FILTERS, DP_KERNELS = (32, 32), (7, 7)


def conv_layers(height, width, filters=DP_FILTERS, kernels=DP_KERNELS,
                channels=1):
    """(k, c_in, c_out, H_out, W_out) of each DeepPrior convolution, 'valid'
    padding, the 1x1 output convolution last."""
    layers, c_in, h, w = [], channels, height, width
    for c_out, k in zip(filters, kernels):
        h, w = h - k + 1, w - k + 1
        layers.append((k, c_in, c_out, h, w))
        c_in = c_out
    layers.append((1, c_in, 1, h, w))
    return layers


def conv_flop(k, c_in, c_out, h_out, w_out, batch=1):
    return 2 * k * k * c_in * c_out * h_out * w_out * batch


def dp_flops(mode, num_steps, batch, height, width, filters=DP_FILTERS,
             kernels=DP_KERNELS):
    """Analytic FLOPs of one step of `mode` ('inference', 'exact',
    'checkpointed', 'finite_difference') of a T-step DeepPrior SPEN on a
    batch of height x width single-channel images.

    Returns:
        {"total": FLOPs, "by_op": {op type: FLOPs}, "per_unrolled_step":...}
    """
    passes = PASSES[mode]
    by_op = dict.fromkeys(CONV_OPS, 0)
    for i, layer in enumerate(conv_layers(height, width, filters, kernels)):
        flop = conv_flop(*layer, batch=batch)
        for op, n in passes.items():
            by_op[op] += n * flop * num_steps
    if mode == "exact":
        # y_0 = x is a constant: at t = 1 the backward pass stops at the
        # first conv's input, so one of its input gradients is not run (the
        # checkpointed and finite-difference backward passes differentiate
        # with respect to y_t at every step, t = 1 included).
        k, c_in, c_out, h, w = conv_layers(height, width, filters, kernels)[0]
        by_op["Conv2DBackpropInput"] -= conv_flop(k, c_in, c_out, h, w, batch)
    total = sum(by_op.values())
    return {"total": total, "by_op": by_op,
            "per_unrolled_step": total / num_steps}


_CEILING = None


def ceiling_in_child(min_seconds=2.0):
    """The machine's conv and matmul ceiling (`benchmarks.roofline
    --ceiling`), measured in a fresh process (so that it neither inherits
    nor leaves allocator state), cached for the life of this process."""
    global _CEILING
    if _CEILING is None:
        _CEILING = run_child(
            script_command("roofline", "--ceiling", "--min-seconds",
                           min_seconds), CEILING_MARKER,
            "ceiling measurement")
        del _CEILING["process_wall_s"]
        _CEILING["measured_at"] = time.strftime("%Y-%m-%d %H:%M UTC",
                                                time.gmtime())
    return _CEILING


def roofline_line(flops, seconds, ceiling):
    achieved = flops / seconds / 1e9
    return {"flops": flops, "seconds": seconds, "achieved_gflops": achieved,
            "ceiling_gflops": ceiling["ceiling_gflops"],
            "fraction_of_conv_ceiling": achieved / ceiling["ceiling_gflops"],
            "matmul_gflops": ceiling["MatMul"]["gflops_best"]}


def training_mode(record):
    """The `dp_flops` mode of a training record (hvp, checkpoint)."""
    hvp = record.get("hvp", "exact")
    if hvp == "finite_difference":
        return ("finite_difference_checkpointed" if record.get("checkpoint")
                else "finite_difference")
    return "checkpointed" if record.get("checkpoint") else "exact"


def annotate(record, ceiling=None):
    """Adds `record["roofline"]` to a benchmark record.

    Training records carry T, batch, crop (H, W) and s_per_step (hvp and
    checkpoint optional); inference records carry T, height, width and
    s_per_frame (batch 1; or `batch` and `s_per_batch`). Records without
    either set are left as they are. Returns the record.
    """
    ceiling = ceiling or ceiling_in_child()
    T = record.get("T")
    if T is None:
        return record
    if "s_per_step" in record and "crop" in record:
        h, w = record["crop"]
        batch = record.get("batch", 8)
        mode = training_mode(record)
        train = dp_flops(mode, T, batch, h, w)["total"]
        line = roofline_line(train, record["s_per_step_median"]
                             if "s_per_step_median" in record
                             else record["s_per_step"], ceiling)
        line["kind"] = f"training step, {mode}"
        line["inference_step_flops"] = dp_flops("inference", T, batch, h,
                                                w)["total"]
        record["roofline"] = line
    elif "height" in record and ("s_per_frame" in record
                                 or "s_per_batch" in record):
        batch = record.get("batch", 1)
        seconds = record.get("s_per_batch", record.get("s_per_frame"))
        flops = dp_flops("inference", record.get("steps_taken") or T, batch,
                         record["height"], record["width"])["total"]
        line = roofline_line(flops, seconds, ceiling)
        line["kind"] = "inference"
        line["training_step_flops"] = dp_flops(
            "exact", T, 8, 96, 128)["total"]
        record["roofline"] = line
    return record


def annotate_all(records):
    """`annotate` each record; one that fails keeps its roofline (None) and
    the failure is printed."""
    for record in records:
        try:
            annotate(record)
        except Exception as error:
            print(f"roofline: {record.get('preset', '')} T={record.get('T')}"
                  f" {record.get('mode', record.get('form'))}: {error}",
                  file=sys.stderr)


def format_line(line):
    """One Markdown line for a record's roofline."""
    if not line:
        return ""
    return (f"{line['kind']}: {line['flops'] / 1e9:.1f} GFLOP in "
            f"{line['seconds']:.3f} s = {line['achieved_gflops']:.1f} GFLOP/s,"
            f" {100 * line['fraction_of_conv_ceiling']:.0f}% of the measured "
            f"conv ceiling ({line['ceiling_gflops']:.1f} GFLOP/s; matmul "
            f"{line['matmul_gflops']:.1f})")


def fit_line(xs, ys):
    """Least squares y = a + b x: {"intercept", "slope", "r2", "n"}."""
    import numpy as np
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    if len(xs) < 2 or np.ptp(xs) == 0:
        return {"intercept": float(np.mean(ys)) if len(ys) else None,
                "slope": None, "r2": None, "n": int(len(xs))}
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = np.sum((ys - (intercept + slope * xs)) ** 2)
    total = np.sum((ys - np.mean(ys)) ** 2)
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return {"intercept": float(intercept), "slope": float(slope),
            "r2": float(r2), "n": int(len(xs))}
