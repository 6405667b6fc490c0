"""Replays the faults users reported (bad inputs, lost files, crashes) and
records what a user sees now: exit status, seconds, and the last line the
process printed to stderr (or stdout). Each case runs in a fresh process
through the installed console script or a short Python program, in a
scratch folder.

    python -m benchmarks.user_faults [--output benchmarks/results/user_faults.md]

Writes a Markdown table (docs/troubleshooting.md is written from it).
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
FRAME = (HERE.parent / "datasets" / "seven_scenes" / "embedded" / "stairs"
         / "seq-04" / "frame-000001.depth.png")


NATIVE_NOTICES = ("I0000 ", "WARNING: All log messages before absl",
                  "To enable the following instructions")


def console(*args):
    return [sys.executable, "-c", "import sys, spen_keras_launcher; "
            "sys.exit(spen_keras_launcher.main(sys.argv[1:]))", *args]


def python(code):
    return [sys.executable, "-c", textwrap.dedent(code)]


def setup(scratch):
    """Files the cases use: a real crop, the same in metres, a fitted
    model saved as .keras, a zero-byte checkpoint, a live lock."""
    from spen_keras.denoising.depth_io import read_depth_png, write_depth_png

    crop = read_depth_png(FRAME)[200:264, 300:380]
    write_depth_png(scratch / "in.png", crop)
    write_depth_png(scratch / "metres.png", np.where(
        crop > 0, np.maximum(crop // 1000, 1), 0).astype(np.uint16))
    (scratch / "existing.png").write_bytes(b"mine")
    (scratch / "a_file").write_text("mine")
    (scratch / "frames").mkdir()
    (scratch / "zero_backup").mkdir()
    (scratch / "zero_backup" / "checkpoint.npz").write_bytes(b"")
    (scratch / "empty_data").mkdir()
    (scratch / "corrupt_data").mkdir()
    (scratch / "corrupt_data" / "stairs.zip").write_bytes(
        b"<html>404 Not Found</html>")
    (scratch / "in.conll").write_text(
        "The NN (S1(S(NP*) * -\nate VBD (VP* * eat\n"
        "fish NN (NP*)))) * -\n\n")
    (scratch / "rows.csv").write_text(",".join(["0"] * 1836) + "\n")


FIT_SAVE = """
    import numpy as np, keras
    from spen_keras import SPEN, UnrolledMinimizer, SumEnergy, QuadraticDataEnergy, DeepPriorEnergy, MomentumStep
    from spen_keras.denoising import MaskedMeanSquaredError
    e = SumEnergy([QuadraticDataEnergy(initial_variance=1e-3), DeepPriorEnergy(filters=(4, 4), kernel_sizes=(3, 3))])
    m = SPEN(UnrolledMinimizer(e, num_steps=2, step_rule=MomentumStep(0.25), step_size=1e-4, learn_step_sizes=True))
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedMeanSquaredError())
    x = np.random.RandomState(0).uniform(0.2, 0.6, (4, 24, 24, 1)).astype("float32")
    m.fit(x, x, epochs=2, batch_size=2, verbose=0)
    m.export("exported", verbose=False)
    m.save("m.keras")
    print("fit -> export -> save: ok")
"""

LOAD_FIT = """
    import warnings; warnings.simplefilter("error", UserWarning)
    import numpy as np, keras, spen_keras
    m = keras.saving.load_model("m.keras")
    x = np.random.RandomState(0).uniform(0.2, 0.6, (4, 24, 24, 1)).astype("float32")
    m.export("exported2", verbose=False)
    before = int(m.optimizer.iterations)
    m.fit(x, x, epochs=1, batch_size=2, verbose=0)
    print(f"load_model -> export -> fit: ok, Adam restored at step {before}, now {int(m.optimizer.iterations)}")
"""

PREDICT = """
    import numpy as np
    from spen_keras import SPEN
    m = SPEN.from_preset("dp_3")
    x = np.full((1, 32, 32, 1), 0.4, "float32")
    m.predict(x, verbose=0)
    m.predict({bad}, verbose=0)
"""

NAN_MODEL = """
    import numpy as np
    from spen_keras.denoising.denoise import denoise_depth
    from spen_keras.denoising.depth_io import read_depth_png
    denoise_depth(lambda x: np.full_like(x, np.nan), read_depth_png("in.png"))
"""

CONCURRENT = """
    import json, os, subprocess, sys, time
    os.makedirs("shared_backup", exist_ok=True)
    # 400 steps: the first run must still hold the lock when the second
    # (seconds later to start on a busy machine) checks it.
    cmd = [sys.executable, "-c", "import sys, spen_keras_launcher; sys.exit(spen_keras_launcher.main(sys.argv[1:]))",
           "train", "--preset", "foe_3", "--steps", "400", "--backup-dir", "shared_backup"]
    first = subprocess.Popen(cmd + ["--output-dir", "p1"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    while not os.path.exists("shared_backup/LOCK"):
        time.sleep(0.1)
    second = subprocess.run(cmd + ["--output-dir", "p2"], capture_output=True, text=True)
    first.kill(); first.wait()
    sys.stderr.write(second.stderr)
    sys.exit(second.returncode)
"""

INTERRUPTED_TRAINING = """
    import os, signal, subprocess, sys, time
    cmd = [sys.executable, "-c", "import sys, spen_keras_launcher; sys.exit(spen_keras_launcher.main(sys.argv[1:]))",
           "train", "--preset", "foe_3", "--steps", "500", "--output-dir", "interrupted"]
    run = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while not os.path.exists("runs/backup/foe_3/checkpoint.npz") and run.poll() is None:
        time.sleep(0.2)
    run.send_signal(signal.SIGINT)  # what Ctrl-C sends
    sys.stderr.write(run.communicate()[1])
    sys.exit(run.returncode)
"""

LOAD_HINT = """
    import shutil
    from spen_keras import cli, presets
    shutil.copytree(presets.shipped_preset_dir("mlc_bibtex_br"), "my_br")  # as `train --output-dir my_br` writes it
    hint = cli.load_hint("my_br")
    print(f"load_preset({hint!r}) -> {type(presets.load_preset(hint)).__name__}")
"""

DATASETS = """
    import tempfile, spen_keras.datasets, tensorflow_datasets as tfds
    print(type(tfds.builder("seven_scenes", data_dir=tempfile.mkdtemp())).__name__, "registered")
"""

CASES = [
    ("README snippet: fit -> export -> save", python(FIT_SAVE)),
    ("load_model with only `import spen_keras` -> export -> fit",
     python(LOAD_FIT)),
    ("predict rank 3 after a good rank-4 call", python(PREDICT.replace(
        "{bad}", "x[0]"))),
    ("predict 3 channels after a good call", python(PREDICT.replace(
        "{bad}", "np.repeat(x, 3, -1)"))),
    ("12x12 input to dp_3", python(PREDICT.replace(
        "{bad}", "np.full((1, 12, 12, 1), 0.4, 'float32')"))),
    ("denoise same.png same.png", console("denoise", "in.png", "in.png",
                                          "--overwrite")),
    ("denoise onto an existing file", console("denoise", "in.png",
                                              "existing.png")),
    ("model output NaN (Python API)", python(NAN_MODEL)),
    ("16-bit PNG in metres", console("denoise", "metres.png", "m_out.png",
                                     "--preset", "foe_3")),
    ("output named .jpg", console("denoise", "in.png", "out.jpg")),
    ("directory as input", console("denoise", "frames", "out.png")),
    ("missing output folder", console("denoise", "in.png", "no/out.png")),
    ("output is a directory", console("denoise", "in.png", "frames")),
    ("second train run into the same backup", python(CONCURRENT)),
    ("0-byte checkpoint in the backup", console(
        "train", "--preset", "foe_3", "--steps", "2", "--backup-dir",
        "zero_backup", "--output-dir", "z")),
    ("output preset folder under a file", console(
        "train", "--preset", "foe_3", "--steps", "2", "--output-dir",
        "a_file/preset")),
    ("demo --batch-size 0", console("demo", "--batch-size", "0")),
    ("demo --seed -1", console("demo", "--seed", "-1")),
    ("KERAS_BACKEND=jax spen-keras zoo list", console("zoo", "list")),
    ("spen-keras --help", console("--help")),
    ("spen-keras --version", console("--version")),
    *((f"spen-keras {' '.join(words)} --help", console(*words, "--help"))
      for words in [("zoo",), ("zoo", "list"), ("zoo", "reproduce"),
                    ("train",), ("denoise",), ("demo",), ("srl-label",),
                    ("predict-labels",)]),
    ("denoise with an SRL preset", console(
        "denoise", "in.png", "o.png", "--preset", "srl_spen_lp")),
    ("denoise with a multi-label preset", console(
        "denoise", "in.png", "o.png", "--preset", "mlc_bibtex_br")),
    ("srl-label with a denoising preset", console(
        "srl-label", "in.conll", "o.props", "--preset", "dp_3")),
    ("predict-labels with a denoising preset", console(
        "predict-labels", "rows.csv", "o.csv", "--preset", "dp_3")),
    ("denoise into a folder that refuses files (/proc)", console(
        "denoise", "in.png", "/proc/o.png", "--preset", "foe_3",
        "--always-denoise")),
    ("srl-label into a folder that refuses files (/proc)", console(
        "srl-label", "in.conll", "/proc/o.props")),
    ("predict-labels into a folder that refuses files (/proc)", console(
        "predict-labels", "rows.csv", "/proc/o.csv", "--preset",
        "mlc_bibtex_br")),
    ("srl-label (no log lines)", console("srl-label", "in.conll",
                                         "o.props")),
    ("Ctrl-C during train", python(INTERRUPTED_TRAINING)),
    ("train --output-dir my_br: the load hint", python(LOAD_HINT)),
    ("import spen_keras.datasets; tfds.builder", python(DATASETS)),
    ("--data-dir an empty folder (no network)", console(
        "zoo", "reproduce", "table1", "--data-dir", "empty_data",
        "--output-dir", "o1")),
    ("--data-dir with a corrupt scene zip", console(
        "zoo", "reproduce", "table1", "--data-dir", "corrupt_data",
        "--output-dir", "o2")),
]


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(
        HERE / "results" / "user_faults.md"))
    args = parser.parse_args()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="spen-keras-faults-"))
    setup(scratch)
    rows = []
    for name, command in CASES:
        env = {k: v for k, v in os.environ.items()
               if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
        if name.startswith("KERAS_BACKEND=jax"):
            env["KERAS_BACKEND"] = "jax"
        started = time.perf_counter()
        done = subprocess.run(command, cwd=scratch, env=env,
                              capture_output=True, text=True, timeout=900)
        seconds = time.perf_counter() - started
        # TensorFlow's native start-up notices (printed by any Python program
        # importing it; the console script holds them back) are not counted.
        stderr_lines = len([l for l in done.stderr.splitlines() if l.strip()
                            and not l.startswith(NATIVE_NOTICES)])
        seen = (last_line(done.stdout) if done.returncode == 0 else "") or \
            last_line(done.stderr) or last_line(done.stdout)
        errors = [l for l in done.stderr.splitlines()
                  if l.startswith("spen-keras: error:")]
        if errors:
            seen = errors[0]
        if name.endswith("--help"):
            seen = done.stdout.splitlines()[0]
        rows.append({"case": name, "exit": done.returncode,
                     "seconds": round(seconds, 1),
                     "stderr_lines": stderr_lines, "seen": seen})
        print(f"{name}: exit {done.returncode}, {seconds:.1f} s, "
              f"{stderr_lines} stderr lines: {seen}", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    table = ["| case | exit | s | stderr lines | what the user sees |",
             "|---|---|---|---|---|"]
    for row in rows:
        seen = row["seen"].replace("|", "\\|").replace(str(scratch) + "/", "")
        table.append(f"| {row['case']} | {row['exit']} | {row['seconds']} | "
                     f"{row['stderr_lines']} | {seen} |")
    output = pathlib.Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(table) + "\n")
    output.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(f"Wrote {output}")


if __name__ == "__main__":
    main()
