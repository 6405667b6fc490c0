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

Runs are resumable (each one is `train_keras_preset` with its own locked
backup folder; the validation curve is kept beside the checkpoint), so the
whole sweep can be killed and started again::

    python -m spen_keras.denoising.equal_effort train --runs-dir RUNS \
        --rows dp_3 feedforward_convnet
    python -m spen_keras.denoising.equal_effort select --runs-dir RUNS \
        --presets-dir OUT [--force]

`select` writes each row's chosen run as a preset with a `protocol` record
in its metadata (examples seen, steps, rates tried with their validation
PSNR, the curves, whether the criterion was met).
"""

import argparse
import dataclasses
import json
import math
import pathlib
import shutil
import sys

import keras
import numpy as np

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

CRITERION = (f"converged: the last {CONVERGENCE_WINDOW:.0%} of the budget "
             f"raised the best validation PSNR by < "
             f"{CONVERGENCE_TOLERANCE_DB} dB")
VALIDATION = ("embedded 7-Scenes stairs train sequence 3 (held out), whole "
              f"480x640 frames, KinectNoiseModel() seed "
              f"{VALIDATION_NOISE_SEED}")


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
              name=None):
    """Trains one (row, rate) run of the protocol, resumably; returns its
    folder (holding `preset/` and the validation curve). A finished run
    is not trained again."""
    from spen_keras import preset_training

    folder = run_dir(runs_dir, name or spec.name, learning_rate)
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
        command=("python -m spen_keras.denoising.equal_effort train "
                 f"--rows {spec.name}"))
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
                  f"for {VARIANTS[row].row}" if row in VARIANTS else "none"),
        "convergence_criterion": CRITERION,
        "converged": met,
        "gain_in_last_window_db": None if gain is None else round(gain, 4),
    }
    return run_dir(runs_dir, row, best), record


def select(runs_dir, presets_dir, rows, force=False, partial=False):
    """Writes each row's chosen run as a preset (with the protocol record)
    into `presets_dir/<row>`; an existing preset folder is replaced only
    with `force` (and is moved aside until the new one is verified). A row
    whose sweep has not finished every rate is skipped unless `partial`
    (its record then lists the rates missing)."""
    from spen_keras import presets
    from spen_keras.denoising.training_noise import spec_training_noise

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
            raise FileExistsError(f"{target} exists; pass --force to "
                                  "replace it.")
        staging = target.with_name(f".{row}.new")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(folder / "preset", staging)
        metadata = json.loads((staging / "metadata.json").read_text())
        metadata["protocol"] = record
        if row in VARIANTS:  # trained from its base row's spec
            variant_spec = presets.get_spec(row)
            metadata.update(name=row, row=variant_spec.row,
                            description=variant_spec.description)
            record["variant"] = dataclasses.asdict(VARIANTS[row])
        noise = spec_training_noise(presets.get_spec(row))
        if noise is not None:  # the row's own (a variant's augmentation)
            metadata["training_noise"] = noise
        metadata["learning_rate"] = record["chosen_learning_rate"]
        metadata["command"] = (
            "python -m spen_keras.denoising.equal_effort train --rows "
            f"{row}; then select")
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


def _limit_threads(threads):
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


@dataclasses.dataclass(frozen=True)
class Variant:
    """A run of the protocol beyond Table 1's rows: a row's architecture
    trained with augmentation, on the other training sequence (for
    leave-one-sequence-out validation) or with the noise-aware data term.
    Trained at the rate chosen for `row` (its first rate until that row's
    sweep has finished)."""

    row: str
    augmented: bool = False
    train_sequences: tuple = TRAIN_SEQUENCES
    validation_sequences: tuple = VALIDATION_SEQUENCES
    noise_aware: bool = False


VARIANTS = {
    "dp_3_seq3": Variant("dp_3", train_sequences=(3,),
                         validation_sequences=(2,)),
    "dp_3_augmented": Variant("dp_3", augmented=True),
    "dp_3_augmented_seq3": Variant("dp_3", augmented=True,
                                   train_sequences=(3,),
                                   validation_sequences=(2,)),
    "feedforward_convnet_seq3": Variant("feedforward_convnet",
                                        train_sequences=(3,),
                                        validation_sequences=(2,)),
    "feedforward_convnet_augmented": Variant("feedforward_convnet",
                                             augmented=True),
    "feedforward_convnet_augmented_seq3": Variant(
        "feedforward_convnet", augmented=True, train_sequences=(3,),
        validation_sequences=(2,)),
    "dp_3_noise_aware": Variant("dp_3", augmented=True, noise_aware=True),
}

# The variants shipped as presets (rows beyond the paper); the others are
# the second fold of the leave-one-sequence-out comparison.
SHIPPED_VARIANTS = ("dp_3_augmented", "dp_3_noise_aware",
                    "feedforward_convnet_augmented")

# The order the workers take runs in: the rows of the paper's claims first.
QUEUE = [
    ("dp_20", 1e-3),
    ("dp_3", 1e-3), ("dp_3", 3e-3),
    ("feedforward_convnet", 1e-3), ("feedforward_convnet", 3e-3),
    ("proximalnet", 1e-3), ("proximalnet", 3e-3),
    ("dp_ssvm", 1e-3), ("dp_ssvm", 3e-3),
    ("dp_20", 3e-3),
    "dp_3_augmented", "dp_3_seq3", "dp_3_augmented_seq3",
    "feedforward_convnet_augmented", "feedforward_convnet_seq3",
    "feedforward_convnet_augmented_seq3",
    ("foe_3", 3e-3), ("foe_3", 1e-2),
    ("foe_3_icnn", 3e-3), ("foe_3_icnn", 1e-2),
    ("dp_3_icnn", 1e-3), ("dp_3_icnn", 3e-3),
    "dp_3_noise_aware",
    ("foe_20_plus", 3e-3), ("foe_20_plus", 1e-2),
    ("foe_20", 3e-3), ("foe_20", 1e-2),
    ("foe_ssvm", 3e-3), ("foe_ssvm", 1e-2),
    ("dp_3_icnn_paper", 1e-3), ("dp_3_icnn_paper", 3e-3),
]


def variant_rate(runs_dir, variant):
    """The rate a variant trains at: its row's chosen one, once known."""
    rates = LEARNING_RATES[variant.row]
    if all(read_run(run_dir(runs_dir, variant.row, r)) for r in rates):
        return protocol_record(runs_dir, variant.row)[1][
            "chosen_learning_rate"]
    return rates[0]


def variant_build(variant):
    """The model builder of a variant (the row's, or with the noise-aware
    data term)."""
    from spen_keras.presets import get_spec

    if not variant.noise_aware:
        return get_spec(variant.row).recipe.build
    from spen_keras.denoising.denoising_presets import noise_aware_build

    return noise_aware_build(variant.row)


def _train_queue_item(item, runs_dir, arrays_by_sequences):
    from spen_keras.presets import get_spec

    if isinstance(item, tuple):
        row, rate = item
        return train_run(get_spec(row), rate, runs_dir,
                         arrays_by_sequences(VALIDATION_SEQUENCES))
    from spen_keras.denoising.augmentation import Augmentation

    variant = VARIANTS[item]
    task = protocol_task(
        augmentation=Augmentation() if variant.augmented else None,
        train_sequences=variant.train_sequences)
    return train_run(get_spec(variant.row), variant_rate(runs_dir, variant),
                     runs_dir,
                     arrays_by_sequences(variant.validation_sequences),
                     task=task, build=variant_build(variant), name=item)


def _finished(item, runs_dir):
    if isinstance(item, tuple):
        return read_run(run_dir(runs_dir, *item)) is not None
    return any(read_run(folder.parent) for folder in
               pathlib.Path(runs_dir).glob(f"{item}/lr_*/preset"))


def work_queue(runs_dir, items):
    """Trains the queue's unfinished runs in order; a run another worker
    holds (its backup folder is locked) is skipped. Several workers can
    share one queue."""
    import keras

    from spen_keras.resumable_training import BackupError

    cache = {}

    def arrays_by_sequences(sequences):
        if sequences not in cache:
            cache[sequences] = validation_arrays(sequences)
        return cache[sequences]

    for item in items:
        if _finished(item, runs_dir):
            continue
        print(f"== {item}", flush=True)
        keras.backend.clear_session()
        try:
            _train_queue_item(item, runs_dir, arrays_by_sequences)
        except BackupError as error:
            print(f"   skipped ({error})", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m spen_keras.denoising.equal_effort",
        description="Table 1's equal-effort protocol: train every learned "
                    "row at two learning rates, validate on a held-out "
                    "training sequence, select.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train", help="train the protocol's runs (resumable; several "
                      "workers may share one --runs-dir)")
    train.add_argument("--runs-dir", required=True)
    train.add_argument("--rows", nargs="+", default=None,
                       help="only these rows/variants (default: the whole "
                            "queue)")
    train.add_argument("--threads", type=int, default=0)
    choose = commands.add_parser("select")
    choose.add_argument("--runs-dir", required=True)
    choose.add_argument("--presets-dir", required=True)
    choose.add_argument("--rows", nargs="+",
                        default=list(LEARNING_RATES) + list(SHIPPED_VARIANTS))
    choose.add_argument("--force", action="store_true")
    choose.add_argument("--partial", action="store_true",
                        help="select rows whose sweep is incomplete")
    args = parser.parse_args(argv)
    known = set(LEARNING_RATES) | set(VARIANTS)
    unknown = sorted(set(args.rows or ()) - known)
    if unknown:
        parser.error(f"not a learned Table 1 row or variant: "
                     f"{', '.join(unknown)}")
    if args.command == "select":
        select(args.runs_dir, args.presets_dir, args.rows, args.force,
               args.partial)
        return 0
    _limit_threads(args.threads)
    items = [item for item in QUEUE if args.rows is None
             or (item[0] if isinstance(item, tuple) else item) in args.rows]
    work_queue(args.runs_dir, items)
    return 0


if __name__ == "__main__":
    sys.exit(main())
