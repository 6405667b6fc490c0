"""Table 1 on equal terms: one training protocol for every learned row.

Every learned row of Table 1 (the SPEN rows, the SSVM rows, ProximalNet and
the feed-forward convnet) is trained by the same protocol:

- the same data: random 96x128 crops (with flips) of the embedded training
  sequence 2; training sequence 3 is held out for validation, and the test
  frames (sequences 1 and 4) are never looked at while choosing anything;
- the same effort: `STEPS` Adam steps of `BATCH_SIZE` crops, i.e.
  `EXAMPLES_SEEN` training crops per run, from the same seeded stream, with
  the learning rate cosine-decayed to 5% over the run; no warm starts;
- a small learning-rate sweep: each row is trained at the two rates of
  `LEARNING_RATES` (bracketing the rate its earlier recipe used); the rate
  whose final validation PSNR is higher is the row's, and the run at that
  rate is the shipped preset (its final weights);
- validation PSNR (whole 480x640 frames of sequence 3, noise seed 1234) is
  measured every `VALIDATE_EVERY` steps; the curves of every run are kept in
  the preset's metadata and drawn by `training_curves_figure`;
- the convergence criterion: a run has converged when the last
  `CONVERGENCE_WINDOW` of its budget (steps 300-500) raised its best
  validation PSNR by less than `CONVERGENCE_TOLERANCE_DB`.

The presets beyond the paper's rows (`PROTOCOL_VARIANTS`: the augmented
DP-3 and convnet, the noise-aware DP-3) are trained by the same protocol,
each once, at the rate chosen for its row.

Runs are resumable (each one is `train_keras_preset` with its own locked
backup folder; the validation curve is kept beside the checkpoint), so the
whole sweep can be killed and started again, and several workers can share
one runs folder (`spen-keras equal-effort`, the denoising family's
command)::

    spen-keras equal-effort train --runs-dir RUNS \
        --rows dp_3 feedforward_convnet
    spen-keras equal-effort select --runs-dir RUNS --presets-dir OUT [--force]

`select` writes each row's chosen run as a preset with a `protocol` record
in its metadata (examples seen, steps, rates tried with their validation
PSNR, the curves, whether the criterion was met). The order in which the
shipped presets' runs were trained, and the runs of the
leave-one-sequence-out study, are an experiment built on this module
(experiments/equal_effort_queue.py in the repository).
"""

import dataclasses
import json
import math
import pathlib
import shutil

import keras
import numpy as np

from spen_keras.denoising.denoising_recipe import PROTOCOL_VARIANTS
from spen_keras.denoising.denoising_task import PROTOCOL_BATCH_SIZE
from spen_keras.denoising.denoising_task import PROTOCOL_STEPS
from spen_keras.denoising.denoising_task import PROTOCOL_TRAIN_SEQUENCES
from spen_keras.denoising.denoising_task import PROTOCOL_VALIDATION_SEQUENCES
from spen_keras.denoising.denoising_task import protocol_task

STEPS = PROTOCOL_STEPS
BATCH_SIZE = PROTOCOL_BATCH_SIZE
EXAMPLES_SEEN = STEPS * BATCH_SIZE
VALIDATE_EVERY = 50
TRAIN_SEQUENCES = PROTOCOL_TRAIN_SEQUENCES
VALIDATION_SEQUENCES = PROTOCOL_VALIDATION_SEQUENCES
VALIDATION_NOISE_SEED = 1234
CONVERGENCE_WINDOW = 0.4
CONVERGENCE_TOLERANCE_DB = 0.05
CURVE_FILE = "validation_curve.json"

_FOE = (3e-3, 1e-2)
_LOW = (1e-3, 3e-3)
LEARNING_RATES = {
    "proximalnet": _LOW,
    "foe_20": _FOE,
    "foe_20_plus": _FOE,
    "foe_3": _FOE,
    "dp_20": _LOW,
    "dp_3": _LOW,
    "foe_ssvm": _FOE,
    "dp_ssvm": _LOW,
    "feedforward_convnet": _LOW,
    "foe_3_icnn": _FOE,
    "dp_3_icnn": _LOW,
    "dp_3_icnn_paper": _LOW,
}
"""The learned rows of Table 1 and the two Adam rates each is trained at."""

PROTOCOL_ROWS = tuple(LEARNING_RATES) + tuple(PROTOCOL_VARIANTS)
"""Every preset the protocol trains: Table 1's learned rows, then the
variants beyond the paper (each trained at its row's chosen rate)."""

CRITERION = (f"converged: the last {CONVERGENCE_WINDOW:.0%} of the budget "
             f"raised the best validation PSNR by < "
             f"{CONVERGENCE_TOLERANCE_DB} dB")
VALIDATION = ("embedded 7-Scenes stairs train sequence 3 (held out), whole "
              f"480x640 frames, KinectNoiseModel() seed "
              f"{VALIDATION_NOISE_SEED}")


class EqualEffortError(ValueError):
    """A protocol command cannot do what it was asked: a row the protocol
    does not train, no finished run to select, a preset folder in the
    way."""


def check_rows(rows):
    """Refuses a name that is not one of `PROTOCOL_ROWS`."""
    unknown = [row for row in rows if row not in PROTOCOL_ROWS]
    if unknown:
        raise EqualEffortError(
            f"Not a row of the equal-effort protocol: {', '.join(unknown)}; "
            f"its rows: {', '.join(PROTOCOL_ROWS)}.")


def protocol_spec(spec, learning_rate, task=None, build=None):
    """`spec` with the protocol's recipe at one learning rate."""
    recipe = dataclasses.replace(
        spec.recipe, task=task or protocol_task(), steps=STEPS,
        batch_size=BATCH_SIZE, learning_rate=float(learning_rate),
        warm_start=None, build=build or spec.recipe.build)
    return dataclasses.replace(spec, recipe=recipe)


def validation_arrays(sequences=VALIDATION_SEQUENCES, noise=None):
    """(x, y) whole frames of the held-out training sequence(s)."""
    from spen_keras.denoising.denoising_pipeline import make_evaluation_arrays
    from spen_keras.denoising.kinect_noise import KinectNoiseModel
    from spen_keras.denoising.seven_scenes_frames import load_frames

    frames = [f for f in load_frames("train") if f["sequence"] in sequences]
    if not frames:
        raise ValueError(f"No embedded training frames of sequences "
                         f"{sequences}.")
    return make_evaluation_arrays(frames, noise or KinectNoiseModel(),
                                  seed=VALIDATION_NOISE_SEED)


def converged(curve, total_steps=STEPS, window=CONVERGENCE_WINDOW,
              tolerance=CONVERGENCE_TOLERANCE_DB):
    """Whether a validation curve meets the convergence criterion.

    Args:
        curve: [(step, PSNR), ...] in step order.
        total_steps: the run's budget.

    Returns:
        (met, gain): `gain` is how much the steps after
        `(1 - window) * total_steps` raised the best PSNR (dB); None and
        None when the curve has no point on one side of that step.
    """
    cut = (1.0 - window) * total_steps
    before = [value for step, value in curve if step <= cut]
    after = [value for step, value in curve if step > cut]
    if not before or not after:
        return None, None
    gain = max(max(after) - max(before), 0.0)
    return bool(gain < tolerance), float(gain)


class ValidationCurve(keras.callbacks.Callback):
    """A Keras callback measuring validation PSNR every `every` steps.

    The curve is kept in `folder/validation_curve.json` (rewritten after
    every measurement), so a resumed run continues it.
    """

    def __init__(self, folder, arrays, every, steps_per_epoch):
        super().__init__()
        self.path = pathlib.Path(folder) / CURVE_FILE
        self.arrays = arrays
        self.every = every
        self.steps_per_epoch = steps_per_epoch
        self.curve = []
        if self.path.exists():
            self.curve = [tuple(p) for p in
                          json.loads(self.path.read_text())["curve"]]

    def measure(self, step):
        from spen_keras.denoising.denoising_task import evaluate_denoiser

        x, y = self.arrays
        value = evaluate_denoiser(self.model, x, y)[0]
        self.curve = [p for p in self.curve if p[0] != step]
        self.curve.append((step, round(float(value), 4)))
        self.curve.sort()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".part")
        partial.write_text(json.dumps({"curve": self.curve}))
        partial.replace(self.path)
        print(f"  validation PSNR at step {step}: {value:.3f} dB",
              flush=True)

    def on_train_begin(self, logs=None):
        if not self.curve:
            self.measure(0)

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.steps_per_epoch
        if step % self.every == 0:
            self.measure(step)


def run_dir(runs_dir, row, learning_rate):
    return pathlib.Path(runs_dir) / row / f"lr_{learning_rate:g}"


def train_run(spec, learning_rate, runs_dir, arrays, task=None, build=None,
              name=None, command=None):
    """Trains one (row, rate) run of the protocol, resumably; returns its
    folder (holding `preset/` and the validation curve). A finished run
    is not trained again.

    Args:
        spec: the preset spec whose model and training data it takes.
        arrays: the validation frames (`validation_arrays`).
        task, build: another training task or model builder than the
            spec's (a run beyond the presets, e.g. on other sequences).
        name: the run's folder name (default: the spec's name).
        command: what the run's metadata records as its command.
    """
    from spen_keras.presets import training as preset_training

    name = name or spec.name
    folder = run_dir(runs_dir, name, learning_rate)
    preset_dir = folder / "preset"
    if (preset_dir / "metadata.json").exists():
        return folder
    run_spec = protocol_spec(spec, learning_rate, task=task, build=build)
    backup = folder / "backup"
    backup.mkdir(parents=True, exist_ok=True)
    per_epoch = preset_training.epochs_for(
        STEPS, preset_training.STEPS_PER_EPOCH)[0]
    curve = ValidationCurve(folder, arrays, VALIDATE_EVERY, per_epoch)
    preset_training.train_keras_preset(
        run_spec, preset_dir, backup, verbose=2, callbacks=[curve],
        steps_per_epoch=per_epoch,
        command=command or f"spen-keras equal-effort train --rows {name}")
    return folder


def read_run(folder):
    """The metadata and validation curve of a finished run, or None."""
    folder = pathlib.Path(folder)
    try:
        metadata = json.loads((folder / "preset" / "metadata.json")
                              .read_text())
        curve = json.loads((folder / CURVE_FILE).read_text())["curve"]
    except FileNotFoundError:
        return None
    return metadata, [tuple(p) for p in curve]


def protocol_record(runs_dir, row, rates=None):
    """The chosen run of one row and its `protocol` metadata record.

    Returns:
        (folder of the chosen run, record), or (None, None) if no run of
        the row has finished.
    """
    if rates is None and row in LEARNING_RATES:
        rates = LEARNING_RATES[row]
    elif rates is None:  # a variant: the one rate it was trained at
        rates = sorted(float(p.name[3:]) for p in
                       pathlib.Path(runs_dir).glob(f"{row}/lr_*"))
    finished = {}
    for rate in rates:
        run = read_run(run_dir(runs_dir, row, rate))
        if run is not None:
            finished[rate] = run
    if not finished:
        return None, None
    best = max(finished, key=lambda r: finished[r][1][-1][1])
    curve = finished[best][1]
    # What the chosen run did, from its own metadata (not the module's
    # current budget, which a longer check may have changed).
    steps, batch = finished[best][0]["steps"], finished[best][0]["batch_size"]
    met, gain = converged(curve, total_steps=steps)
    record = {
        "examples_seen": steps * batch,
        "steps": steps,
        "batch_size": batch,
        "training_data": finished[best][0]["training_data"],
        "validation": VALIDATION,
        "learning_rates_tried": {
            f"{r:g}": {"final_validation_psnr": finished[r][1][-1][1],
                       "best_validation_psnr": max(v for _, v in
                                                   finished[r][1]),
                       "test_psnr": finished[r][0]["our_value"],
                       "curve": finished[r][1],
                       "wall_time_s": finished[r][0]["wall_time_s"]}
            for r in sorted(finished)},
        "learning_rates_missing": [f"{r:g}" for r in rates
                                   if r not in finished],
        "chosen_learning_rate": best,
        "sweep": ("two rates, chosen on validation PSNR" if row in
                  LEARNING_RATES else f"none: trained at the rate chosen "
                  f"for {PROTOCOL_VARIANTS[row]}" if row in PROTOCOL_VARIANTS
                  else "none"),
        "convergence_criterion": CRITERION,
        "converged": met,
        "gain_in_last_window_db": None if gain is None else round(gain, 4),
    }
    return run_dir(runs_dir, row, best), record


def variant_record(name):
    """How a variant in `PROTOCOL_VARIANTS` was trained, from its spec: its
    row, its training data's augmentation and sequences, its data term."""
    from spen_keras import presets

    spec = presets.get_spec(name)
    return {"row": PROTOCOL_VARIANTS[name],
            "augmented": spec.recipe.task.augmentation is not None,
            "train_sequences": list(spec.recipe.task.train_sequences),
            "validation_sequences": list(VALIDATION_SEQUENCES),
            "noise_aware": "noise_aware" in spec.tags}


def select(runs_dir, presets_dir, rows=PROTOCOL_ROWS, force=False,
           partial=False):
    """Writes each row's chosen run as a preset (with the protocol record)
    into `presets_dir/<row>`; an existing preset folder is replaced only
    with `force` (and is moved aside until the new one is verified). A row
    whose sweep has not finished every rate is skipped unless `partial`
    (its record then lists the rates missing).

    Raises:
        EqualEffortError: a row the protocol does not train, no finished
            run of any of the rows in `runs_dir`, or a preset folder that
            exists without `force`.
    """
    from spen_keras import presets
    from spen_keras.denoising.training_noise import spec_training_noise

    check_rows(rows)
    train = f"spen-keras equal-effort train --runs-dir {runs_dir}"
    if not pathlib.Path(runs_dir).is_dir():
        raise EqualEffortError(f"No runs folder {runs_dir}: train the "
                               f"protocol's runs into it first ({train}).")
    if not any(protocol_record(runs_dir, row)[0] for row in rows):
        which = ("any row" if tuple(rows) == PROTOCOL_ROWS
                 else ", ".join(rows))
        raise EqualEffortError(f"No finished run of {which} in {runs_dir}: "
                               f"train first ({train}).")
    written = {}
    for row in rows:
        folder, record = protocol_record(runs_dir, row)
        if folder is None:
            print(f"{row}: no finished run in {runs_dir}; skipped.")
            continue
        if record["learning_rates_missing"] and not partial:
            print(f"{row}: rate(s) {', '.join(record['learning_rates_missing'])}"
                  " not finished; skipped (--partial selects anyway).")
            continue
        target = pathlib.Path(presets_dir) / row
        if target.exists() and not force:
            raise EqualEffortError(f"{target} exists; pass --force to "
                                   "replace it.")
        staging = target.with_name(f".{row}.new")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder / "preset", staging)
        metadata = json.loads((staging / "metadata.json").read_text())
        metadata["protocol"] = record
        # The row's own (a run trained from another spec, as variants once
        # were from their row's, takes the row's name and description).
        spec = presets.get_spec(row)
        metadata.update(name=row, row=spec.row, description=spec.description)
        if row in PROTOCOL_VARIANTS:
            record["variant"] = variant_record(row)
        noise = spec_training_noise(spec)
        if noise is not None:  # the row's own (a variant's augmentation)
            metadata["training_noise"] = noise
        metadata["learning_rate"] = record["chosen_learning_rate"]
        metadata["command"] = (
            f"spen-keras equal-effort train --rows {row}; then select")
        presets.write_json(staging / "metadata.json", metadata)
        presets.load_preset(str(staging))  # verify before replacing
        backup = target.with_name(f".{row}.old")
        if target.exists():
            shutil.rmtree(backup, ignore_errors=True)
            target.rename(backup)
        staging.rename(target)
        shutil.rmtree(backup, ignore_errors=True)
        written[row] = record
        rate = record["chosen_learning_rate"]
        final = record["learning_rates_tried"][f"{rate:g}"][
            "final_validation_psnr"]
        print(f"{row}: lr {rate:g}, validation {final:.2f} dB, "
              f"test {metadata['our_value']:.2f} dB, converged "
              f"{record['converged']} -> {target}")
    return written


def training_curves_figure(path, records, labels=None):
    """One panel per row: validation PSNR against training crops seen, one
    line per learning rate (the chosen one solid)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in records if records[r]]
    if not rows:
        return None
    columns = 4
    lines = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(3.3 * columns,
                                                      2.6 * lines),
                             squeeze=False)
    for axis, row in zip(axes.flat, rows):
        record = records[row]
        batch = record["batch_size"]
        for rate, run in record["learning_rates_tried"].items():
            steps, values = zip(*run["curve"])
            chosen = float(rate) == float(record["chosen_learning_rate"])
            axis.plot(np.array(steps) * batch, values,
                      linestyle="-" if chosen else "--", marker=".",
                      label=f"lr {rate}" + (" (chosen)" if chosen else ""))
        mark = {True: "converged", False: "NOT converged",
                None: "criterion n/a"}[record["converged"]]
        axis.set_title(f"{(labels or {}).get(row, row)}: {mark}", fontsize=9)
        axis.set_xlabel("training crops seen", fontsize=8)
        axis.set_ylabel("validation PSNR (dB)", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
        top = max(max(v for _, v in run["curve"])
                  for run in record["learning_rates_tried"].values())
        axis.set_ylim(top - 6.0, top + 0.5)
    for axis in list(axes.flat)[len(rows):]:
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def limit_threads(threads):
    """TensorFlow's intra- and inter-op threads (0: its default); one
    worker per core shares a machine best."""
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def base_row(name):
    """The Table 1 row whose rates a protocol row or variant trains at."""
    return PROTOCOL_VARIANTS.get(name, name)


def variant_rate(runs_dir, row):
    """The rate a run outside `row`'s sweep (a variant of it) trains at:
    the row's chosen one once both its runs have finished, else its first
    rate."""
    rates = LEARNING_RATES[row]
    if all(read_run(run_dir(runs_dir, row, r)) for r in rates):
        return protocol_record(runs_dir, row)[1]["chosen_learning_rate"]
    return rates[0]


def protocol_runs(rows=PROTOCOL_ROWS):
    """The runs that train `rows`, in order: (row, rate) for each rate of a
    Table 1 row's sweep, and a variant's name (its rate is known when its
    turn comes: `variant_rate`)."""
    check_rows(rows)
    runs = []
    for row in rows:
        runs += ([(row, rate) for rate in LEARNING_RATES[row]]
                 if row in LEARNING_RATES else [row])
    return runs


def finished(runs_dir, item):
    """Whether a run of `protocol_runs` (or a named run) has finished."""
    if isinstance(item, tuple):
        return read_run(run_dir(runs_dir, *item)) is not None
    return any(read_run(folder.parent) for folder in
               pathlib.Path(runs_dir).glob(f"{item}/lr_*/preset"))


def train_item(item, runs_dir, validation):
    """Trains one run of `protocol_runs`.

    Args:
        item: (row, rate) of a sweep, or the name of a variant.
        validation: `validation(sequences)` -> the validation arrays.
    """
    from spen_keras.presets import get_spec

    if isinstance(item, tuple):
        row, rate = item
        return train_run(get_spec(row), rate, runs_dir,
                         validation(VALIDATION_SEQUENCES))
    return train_run(get_spec(item), variant_rate(runs_dir, base_row(item)),
                     runs_dir, validation(VALIDATION_SEQUENCES))


def work_queue(runs_dir, items, train=train_item):
    """Trains the unfinished of `items` in order, each by
    `train(item, runs_dir, validation)`; a run another worker holds (its
    backup folder is locked) is skipped. Several workers can share one
    queue."""
    from spen_keras.presets.resumable import BackupError

    cache = {}

    def validation(sequences):
        if sequences not in cache:
            cache[sequences] = validation_arrays(sequences)
        return cache[sequences]

    for item in items:
        if finished(runs_dir, item):
            continue
        print(f"== {item}", flush=True)
        keras.backend.clear_session()
        try:
            train(item, runs_dir, validation)
        except BackupError as error:
            print(f"   skipped ({error})", flush=True)
