"""Training a Keras preset from its spec: task-neutral.

`train_keras_preset` builds the spec's model (`KerasRecipe.build`), trains it
with `model.fit` on the family's data (`recipe.task`, a `TrainingTask`), and
saves it as a user preset with metadata. The run locks its backup folder
and checkpoints its full state every epoch (`spen_keras.presets.resumable`),
so an interrupted run resumes exactly (same weights as an uninterrupted run)
when started again with the same backup folder; `TerminateOnNaN` stops a
diverging run, which then raises instead of writing its weights. The output
folder is checked (and probed for writing) before training starts, and the
backup is deleted only after the preset has been written and verified.

With `strategy` (a `tf.distribute.Strategy` or "mirrored"/"multiworker",
`spen_keras.presets.distribute`) the model is built and compiled under the
strategy's scope and each step's global batch of `recipe.batch_size`
examples is split across the replicas, so a step computes the single-device
update. In a multi-worker cluster every worker runs the same training; only
the chief locks the backup folder and writes checkpoints, the preset and its
metadata; the other workers read the chief's checkpoint to resume (the
backup folder must then be on a filesystem they share) and write their own
checkpoints to a temporary folder which they delete.
"""

import contextlib
import dataclasses
import datetime
import functools
import os
import pathlib
import platform
import shutil
from typing import Any, Callable, Optional

import keras
import numpy as np

from spen_keras.presets import distribute
from spen_keras import presets
from spen_keras.presets.resumable import CHECKPOINT
from spen_keras.presets.resumable import BackupError
from spen_keras.presets.resumable import BackupLock
from spen_keras.presets.resumable import TrainingCheckpoint

STEPS_PER_EPOCH = 25


class TrainingDivergedError(RuntimeError):
    """Training met NaN/Inf; the preset was not written."""


@dataclasses.dataclass(frozen=True)
class Phase:
    """One phase of a training run (`fit_resumably`).

    Attributes:
        steps: the phase's optimizer steps.
        learning_rate: a rate or a Keras schedule: the model is compiled
            afresh at the phase's start (`compile(model, learning_rate)`,
            a new optimizer); None continues the optimizer of the phase
            before (its moments and schedule).
        frozen: layers that do not train in this phase (every other layer
            frozen by another phase trains).
        steps_per_epoch: steps between two checkpoints (and validations)
            in this phase; None: the run's.
        description: one line for the progress output.
    """

    steps: int
    learning_rate: Any = None
    frozen: tuple = ()
    steps_per_epoch: Optional[int] = None
    description: str = ""


class BestEpoch(keras.callbacks.Callback):
    """Model selection on validation data: after every epoch scores the
    model (`score(model)` -> (value, facts dict), or None when its
    predictions are not finite, which stops the run); `restore_best`
    puts back the weights of the best-scoring epoch. Its state travels in
    the run's checkpoint (`TrainingCheckpoint(extras=...)`), so a resumed
    run selects exactly what an uninterrupted one does.

    Attributes:
        history: [(epoch, value, facts)] of the current phase.
        best: the best value so far (-inf before any).
    """

    def __init__(self, score, log=None, metric="score"):
        super().__init__()
        self.score, self.log, self.metric = score, log, metric
        self.reset()

    def reset(self):
        self.history, self.best, self.best_weights = [], -np.inf, None

    def on_epoch_end(self, epoch, logs=None):
        if self.model.stop_training:
            return
        scored = self.score(self.model)
        if scored is None:
            self.model.stop_training = True  # reported by `raise_if_diverged`
            return
        value, facts = scored
        self.history.append((epoch, round(float(value), 3), facts))
        if self.log:
            details = ", ".join(f"{k} {v:.2f}" if isinstance(v, float)
                                else f"{k} {v}" for k, v in facts.items())
            self.log(f"  epoch {epoch + 1}: validation {self.metric} "
                     f"{value:.2f}" + (f" ({details})" if details else ""))
        if value > self.best:
            self.best = float(value)
            self.best_weights = self.model.get_weights()

    def restore_best(self, model):
        if self.best_weights is not None:
            model.set_weights(self.best_weights)

    def get_state(self):
        return ({"history": self.history, "best": self.best,
                 "has_weights": self.best_weights is not None},
                list(self.best_weights or []))

    def set_state(self, facts, arrays):
        self.history = [tuple(entry) for entry in facts["history"]]
        self.best = float(facts["best"])
        self.best_weights = list(arrays) if facts["has_weights"] else None


@dataclasses.dataclass
class TrainingRun:
    """What `fit_resumably` returns: the run's checkpoints (one per phase)
    and facts. Call `finish()` once the trained model is written."""

    backup_dir: pathlib.Path
    phase_steps: list  # the steps of each phase
    checkpoints: list = dataclasses.field(default_factory=list)
    # per phase: its BestEpoch history, or None
    selections: list = dataclasses.field(default_factory=list)

    @property
    def wall_time_s(self):
        return sum(c.wall_time_s for c in self.checkpoints)

    @property
    def resumed_at(self):
        at, start = [], 0
        for checkpoint, steps in zip(self.checkpoints, self.phase_steps):
            at += [start + done for done in checkpoint.resumed_at]
            start += steps
        return at

    def finish(self):
        """Deletes the run's checkpoints (and its backup folder if nothing
        else is in it)."""
        for checkpoint in self.checkpoints:
            checkpoint.finish()
        for folder in [*(c.folder for c in self.checkpoints),
                       self.backup_dir]:
            try:
                folder.rmdir()
            except OSError:
                pass


def _set_frozen(model, phase, phases):
    for layer in {id(l): l for p in phases for l in p.frozen}.values():
        layer.trainable = not any(layer is f for f in phase.frozen)


def fit_resumably(model, dataset_from, steps, backup_dir, identity, name,
                  steps_per_epoch=STEPS_PER_EPOCH, callbacks=(), verbose=1,
                  on_restore=None, phases=None, compile=None,
                  selection=None, strategy=None, batch_size=None,
                  shardable=False, log=None):
    """The training loop of every trainable preset: `model.fit` for
    exactly `steps` steps (in `phases`), resumable, guarded, optionally
    selecting the best epoch and distributed.

    Locks `backup_dir` (`BackupLock`; in a cluster only the chief), restores
    a checkpoint of the same run (`identity`) and checkpoints the full state
    (model, optimizer, the selection's best epoch) every epoch of at most
    `steps_per_epoch` steps (`TrainingCheckpoint`), so a killed run started
    again resumes exactly; stops on NaN/Inf and raises
    `TrainingDivergedError` instead of returning a broken model.

    Args:
        model: a Keras model, compiled unless every phase compiles it
            (built and compiled under `strategy.scope()` with a strategy).
        dataset_from: `dataset_from(done)` -> the training stream of global
            batches with the first `done` batches of the run skipped
            (deterministic streams resume exactly); with `shardable`, it
            also takes `shard=(first_row, rows)` (`distribute`).
        steps: the run's steps (the phases' sum when `phases` are given).
        backup_dir: the run's backup folder (phase k of several keeps its
            checkpoint in `backup_dir/phase_k`).
        identity: a JSON-able dict naming the run.
        name: the run's name in messages.
        steps_per_epoch: at most this many steps between two checkpoints.
        callbacks: further Keras callbacks.
        on_restore: `on_restore(done)`, called after the restore and before
            the first step (single-phase runs; e.g. to clamp layers).
        phases: `Phase`s run in order on one stream (default: one phase of
            `steps`). A phase with a `learning_rate` compiles the model
            afresh with `compile(model, learning_rate)`.
        compile: `compile(model, learning_rate)` (a recipe's `compile`).
        selection: a `BestEpoch`: each phase ends on its best epoch.
        strategy: None, "default", "mirrored", "multiworker" or a
            `tf.distribute.Strategy` (`spen_keras.presets.distribute`): each step's
            global batch of `batch_size` examples is split across replicas.
        batch_size, shardable: the global batch and whether `dataset_from`
            takes `shard` (with a strategy).
        log: where the run's messages go (the lock's note, resuming, each
            phase's description); default `print` when `verbose`.

    Returns:
        A `TrainingRun` (wall time, resumed-at steps; call its `finish()`
        once the trained model is written).
    """
    phases = list(phases or [Phase(steps)])
    if sum(p.steps for p in phases) != steps:
        raise ValueError(f"The phases' steps {[p.steps for p in phases]} do "
                         f"not add up to the run's {steps}.")
    strategy = distribute.get_strategy(strategy)
    distributed = distribute.strategy_name(strategy) != "default"
    chief = distribute.is_chief(strategy)
    if not chief:
        verbose, log = 0, None
    elif log is None and verbose:
        log = print
    log = log or (lambda message: None)
    backup_dir = pathlib.Path(backup_dir)
    scratch = distribute.worker_scratch_dir(strategy)
    # Only the chief locks the backup folder: the workers of one cluster
    # must not refuse each other (they may share a filesystem).
    lock = BackupLock(backup_dir) if chief else contextlib.nullcontext()
    run = TrainingRun(backup_dir, [p.steps for p in phases])
    try:
        with lock:
            if chief and lock.note:
                log(lock.note)
            start = 0
            for index, phase in enumerate(phases):
                folder = (backup_dir if len(phases) == 1
                          else backup_dir / f"phase_{index}")
                _run_phase(model, phase, phases, index, folder, scratch,
                           dataset_from, start, identity, name,
                           phase.steps_per_epoch or steps_per_epoch,
                           callbacks, verbose, log, on_restore, compile,
                           selection, strategy, distributed, chief,
                           batch_size, shardable, run)
                start += phase.steps
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        for phase in phases:
            for layer in phase.frozen:
                layer.trainable = True
    return run


def _run_phase(model, phase, phases, index, folder, scratch, dataset_from,
               start, identity, name, steps_per_epoch, callbacks, verbose,
               log, on_restore, compile, selection, strategy, distributed, chief,
               batch_size, shardable, run):
    per_epoch, epochs = epochs_for(phase.steps, steps_per_epoch)
    if len(phases) > 1:
        identity = {**identity, "phase": index}
    if any(p.frozen for p in phases):
        if phase.learning_rate is None and model.optimizer is not None:
            # Built on every variable before any is frozen, so that freeing
            # a layer later finds its optimizer slots.
            with strategy.scope():
                model.optimizer.build(model.trainable_variables)
        _set_frozen(model, phase, phases)
    if phase.learning_rate is not None:
        with strategy.scope():
            compile(model, phase.learning_rate)
    elif model.optimizer is None:
        raise ValueError(f"{name}: compile the model, or give the first "
                         "phase a learning rate.")
    else:
        model.make_train_function(force=True)
    extras = [] if selection is None else [selection]
    if selection is not None:
        selection.reset()
    if chief:
        folder.mkdir(parents=True, exist_ok=True)
        checkpoint = TrainingCheckpoint(folder, identity, per_epoch, extras)
    else:
        checkpoint = _WorkerCheckpoint(folder, scratch, identity, per_epoch,
                                       extras)
    with strategy.scope():
        done = checkpoint.restore(model)
    _check_workers_agree(strategy, done, folder)
    if done and done < phase.steps:
        log(f"Resuming {name} from its backup in {folder}: {done} of "
            f"{phase.steps} steps done.")
    if phase.description and done < phase.steps:
        log(f" {phase.description}")
    if on_restore is not None:
        on_restore(done)
    skip = start + done

    def global_batches(**shard):
        return dataset_from(skip, **shard)

    dataset = (distribute.distribute_global_batches(
        strategy, global_batches, batch_size, shardable=shardable)
        if distributed else global_batches())
    model.fit(dataset, steps_per_epoch=per_epoch, epochs=epochs,
              initial_epoch=done // per_epoch, shuffle=False,
              verbose=verbose,
              callbacks=[keras.callbacks.TerminateOnNaN(), *extras,
                         checkpoint, *callbacks])
    raise_if_diverged(model, name, folder)
    if selection is not None:
        selection.restore_best(model)
    run.checkpoints.append(checkpoint)
    run.selections.append(None if selection is None
                          else list(selection.history))


def raise_if_diverged(model, name, backup_dir):
    """Raises `TrainingDivergedError` when a run stopped on NaN/Inf
    (`TerminateOnNaN`) or left a weight that is not finite."""
    if model.stop_training or not all(
            np.isfinite(keras.ops.convert_to_numpy(w)).all()
            for w in model.weights):
        raise TrainingDivergedError(
            f"Training {name} met NaN/Inf and stopped; the preset was not "
            f"written. The last good epoch is backed up in {backup_dir}.")


@functools.lru_cache(maxsize=8)
def pass_order(entropy, size):
    """The order of one pass over `size` elements of a seeded stream:
    `np.random.default_rng(entropy).permutation(size)` for an int tuple
    `entropy` (e.g. (seed, pass)); cached, since every element of a pass
    looks it up."""
    return np.random.default_rng(entropy).permutation(size)


class IndexedStream(keras.utils.PyDataset):
    """A training stream made in numpy, for the families' streams without
    TensorFlow: an endless `keras.utils.PyDataset` whose batch k holds the
    elements k * batch_size + first_row ... + rows - 1 of the stream, each
    made by `element(index) -> (x, y)` (deterministic in the index, so that
    `skip` resumes a run exactly, as `tf.data.Dataset.skip` does).

    Args:
        element: element index -> `(x, y)` arrays of one example.
        batch_size: the global batch; rows `first_row`.. `first_row + rows`
            of each are this stream's (a shard; all of it by default).
        start: batches skipped (`skip`).
    """

    def __init__(self, element, batch_size, first_row=0, rows=None,
                 start=0):
        super().__init__()
        self.element = element
        self.batch_size = int(batch_size)
        self.first_row = int(first_row)
        self.rows = self.batch_size if rows is None else int(rows)
        self.start = int(start)

    @property
    def num_batches(self):
        return None  # endless

    def __getitem__(self, batch):
        first = (self.start + batch) * self.batch_size + self.first_row
        pairs = [self.element(first + row) for row in range(self.rows)]
        return (np.stack([x for x, _ in pairs]).astype(np.float32),
                np.stack([y for _, y in pairs]).astype(np.float32))

    def skip(self, batches):
        """The stream without its first `batches` batches (as
        `tf.data.Dataset.skip`)."""
        return type(self)(self.element, self.batch_size, self.first_row,
                          self.rows, self.start + int(batches))


class TrainingTask:
    """What a family supplies to train and evaluate its Keras presets.

    Attributes:
        input_shape: the build shape of the models, None on free axes.
        training_data: one line describing the training data (metadata).

    Methods:
        training_dataset(batch_size, seed): an endless `tf.data.Dataset` of
            (x, y) batches (an `IndexedStream` where TensorFlow is not
            installed), with `skip(n)`.
        loss(), metrics(): the compiled loss and metrics.
        evaluate(model): a dict with "our_value" (the table's metric on
            the family's default evaluation data), "reference_values" (e.g.
            {"noisy input": 29.03}) and "evaluation" (a description).
    """

    input_shape = None
    training_data = ""
    # Whether training_dataset accepts `shard=(first_row, rows)` and then
    # builds only those rows of every global batch (the same examples the
    # unsharded stream has there): distributed training then shards the
    # input pipeline per worker instead of building every batch everywhere.
    shards_input = False

    def training_dataset(self, batch_size, seed, shard=None):
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    def metrics(self):
        return []

    def evaluate(self, model):
        raise NotImplementedError

    def for_data_dir(self, data_dir, **options):
        """This task on a user's data folder (`spen-keras train --data-dir`,
        family-specific `options`), or None where the family does not
        train its Keras presets on user data (then --data-dir is refused).
        The returned task may have an `identity` (a JSON-able dict naming
        the data) that a resumed run must match."""
        return None


@dataclasses.dataclass(frozen=True)
class KerasRecipe:
    """How to build and train a Keras preset.

    Attributes:
        build: returns the untrained model.
        task: the family's `TrainingTask`.
        steps: training steps.
        batch_size: examples per step.
        learning_rate: Adam's initial rate (cosine-decayed to 5% of it).
        warm_start: preset whose trained weights initialise this one
            (a SPEN's energy only).
        seed: seed of weights and data.
        init_from: preset (name or folder) whose every weight initialises
            the model: fine-tuning (`spen-keras train --init-from`).
    """

    build: Callable[[], keras.Model]
    task: TrainingTask
    steps: int
    batch_size: int = 8
    learning_rate: float = 1e-2
    warm_start: Optional[str] = None
    seed: int = 0
    init_from: Optional[str] = None

    def compile(self, model, learning_rate=None):
        """Compiles `model` as this recipe trains it: the task's loss and
        metrics, Adam at `learning_rate` (a rate or a schedule; default the
        recipe's rate). Training and loading a preset both use it."""
        model.compile(optimizer=keras.optimizers.Adam(
            self.learning_rate if learning_rate is None else learning_rate),
            loss=self.task.loss(), metrics=self.task.metrics())


def machine_description():
    """CPU model, core count and library versions, for metadata."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    backend = keras.backend.backend()
    framework = {"tensorflow": "TensorFlow", "jax": "JAX",
                 "torch": "PyTorch"}.get(backend, backend)
    version = getattr(__import__(backend), "__version__", "?")
    return (f"{cpu}, {os.cpu_count()} cores, {framework} {version}, "
            f"Keras {keras.__version__}")


def preset_metadata(spec, evaluation, wall_time_s, command, **training):
    """The metadata.json of a trained preset, whatever its kind.

    Args:
        spec: the preset's `PresetSpec`.
        evaluation: "our_value", "reference_values", "evaluation" as
            returned by the family's evaluation.
        wall_time_s: training/fitting time.
        command: the command line that produced the preset.
        **training: seed, steps and other training facts.
    """
    metadata = {
        "name": spec.name,
        "family": spec.family,
        "kind": spec.kind,
        "table": spec.table,
        "row": spec.row,
        "metric": spec.metric,
        "description": spec.description,
        "command": command,
        "wall_time_s": round(wall_time_s, 1),
        "machine": machine_description(),
        "trained_on": datetime.date.today().isoformat(),
    }
    metadata.update(evaluation)
    metadata.update(training)
    return metadata


def epochs_for(steps, cap=STEPS_PER_EPOCH):
    """(steps_per_epoch, epochs) whose product is exactly `steps`, with
    epochs (backup intervals) of at most `cap` steps."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1; got {steps}.")
    per_epoch = max(d for d in range(1, min(cap, steps) + 1) if steps % d == 0)
    return per_epoch, steps // per_epoch


def build_for_training(spec, presets_root=None):
    """The untrained model of a spec, warm-started where the spec says."""
    recipe = spec.recipe
    keras.utils.set_random_seed(recipe.seed)
    model = recipe.build()
    model.build(recipe.task.input_shape)
    if recipe.warm_start:
        source = presets.load_preset(
            recipe.warm_start if presets_root is None
            else os.path.join(presets_root, recipe.warm_start))
        if hasattr(model, "energy") and hasattr(source, "energy"):
            model.energy.set_weights(source.energy.get_weights())
        else:
            model.set_weights(source.get_weights())
    if recipe.init_from:
        _initialise_from(model, recipe.init_from, spec.name)
    return model


def _initialise_from(model, init_from, name):
    """Sets every weight of `model` to those of the preset `init_from`, or
    raises PresetError when that preset holds another architecture."""
    source = presets.load_preset(init_from)
    weights = source.get_weights() if isinstance(source, keras.Model) else []
    shapes = [tuple(w.shape) for w in model.weights]
    if (type(source) is not type(model)
            or [tuple(w.shape) for w in weights] != shapes):
        raise presets.PresetError(
            f"Preset {init_from} cannot initialise {name}: it holds a "
            f"{type(source).__name__} of another architecture; --init-from "
            f"takes a preset trained from {name} (or {name} itself).")
    model.set_weights(weights)


def for_user_training(spec, data_dir=None, data_options=None, init_from=None,
                      learning_rate=None):
    """`spec` with its recipe adapted to a user's run: its task on the data
    folder `data_dir` (`TrainingTask.for_data_dir`, with `data_options`),
    every weight initialised from the preset `init_from`, Adam at
    `learning_rate`; `spec` itself when all are None."""
    recipe = spec.recipe
    changes = {}
    if data_dir is not None:
        task = recipe.task.for_data_dir(data_dir, **(data_options or {}))
        if task is None:
            raise presets.PresetError(
                f"Preset {spec.name} trains on its built-in data; --data-dir "
                "is not supported for it.")
        changes["task"] = task
    elif data_options:
        raise presets.PresetError(
            f"{', '.join(sorted(data_options))}: data options go with "
            "--data-dir.")
    if init_from is not None:
        changes["init_from"] = str(init_from)
    if learning_rate is not None:
        if not (learning_rate > 0 and np.isfinite(learning_rate)):
            raise presets.PresetError(
                f"learning rate must be a positive number; got "
                f"{learning_rate}.")
        changes["learning_rate"] = float(learning_rate)
    if not changes:
        return spec
    return dataclasses.replace(spec,
                               recipe=dataclasses.replace(recipe, **changes))


class _WorkerCheckpoint(TrainingCheckpoint):
    """A non-chief worker's checkpoint: restores from the chief's backup
    folder, writes into the worker's own scratch folder."""

    def __init__(self, chief_folder, scratch_folder, identity,
                 steps_per_epoch, extras=()):
        super().__init__(scratch_folder, identity, steps_per_epoch, extras)
        self._chief_path = pathlib.Path(chief_folder) / CHECKPOINT

    def restore(self, model):
        own, self.path = self.path, self._chief_path
        try:
            return super().restore(model)
        finally:
            self.path = own


def _check_workers_agree(strategy, done, backup_dir):
    """Raises BackupError unless every worker resumes at the same step."""
    if distribute.worker_task(strategy)[0] is None:
        return
    import tensorflow as tf

    value = tf.constant(float(done), tf.float64)

    @tf.function
    def moments():
        def replica():
            return tf.stack([value, value * value])
        return strategy.reduce(tf.distribute.ReduceOp.MEAN,
                               strategy.run(replica), axis=None)

    mean, mean_square = moments().numpy()
    if mean != done or mean_square != float(done) ** 2:
        raise BackupError(
            f"The workers found different checkpoints in {backup_dir} (this "
            f"one: {done} steps done). Resuming a cluster run needs a backup "
            "folder that every worker reads (a shared filesystem); delete it "
            "to start from scratch.")


def _plain_copy(model, input_shape):
    """An uncompiled copy of `model` with its weights, outside any
    strategy (evaluated and saved on the chief alone)."""
    config = keras.saving.serialize_keras_object(model)
    for key in ("compile_config", "build_config"):
        config.pop(key, None)
    copy = keras.saving.deserialize_keras_object(config)
    copy.build(input_shape)
    copy.set_weights(model.get_weights())
    return copy


def train_keras_preset(spec, output_dir, backup_dir, steps=None, command=None,
                       presets_root=None, verbose=1,
                       steps_per_epoch=STEPS_PER_EPOCH, callbacks=(),
                       overwrite=False, strategy=None, data_dir=None,
                       data_options=None, init_from=None, learning_rate=None):
    """Trains `spec`, evaluates it and saves it as a preset in output_dir.

    Args:
        spec: a `PresetSpec` whose recipe is a `KerasRecipe`.
        output_dir: the preset folder to write (never a shipped one).
        backup_dir: where BackupAndRestore keeps the resumable state.
        steps: override of `recipe.steps`; exactly this many are run.
        command: the command line to record in the metadata.
        presets_root: folder holding the warm-start preset (default: the
            shipped presets).
        verbose: Keras fit verbosity.
        steps_per_epoch: at most this many steps between two backups.
        callbacks: extra Keras callbacks.
        overwrite: replace an existing preset folder.
        strategy: None or "default" (one device), "mirrored", "multiworker"
            or a `tf.distribute.Strategy` (`spen_keras.presets.distribute`);
            `recipe.batch_size` stays the global batch of a step. With
            "multiworker" create nothing with TensorFlow before this call.
        data_dir, data_options, init_from, learning_rate: a user's run
            (`for_user_training`): train and evaluate on the data folder
            `data_dir` (the family's `TrainingTask.for_data_dir`, given
            `data_options`), starting from every weight of the preset
            `init_from`, at this Adam rate; all recorded in the metadata.

    Returns:
        The metadata dict written beside the weights; None on a non-chief
        worker of a cluster (the chief writes the preset).
    """
    spec = for_user_training(spec, data_dir, data_options, init_from,
                             learning_rate)
    recipe = spec.recipe
    strategy = distribute.get_strategy(strategy)
    distributed = distribute.strategy_name(strategy) != "default"
    chief = distribute.is_chief(strategy)
    if (verbose and distributed and strategy.num_replicas_in_sync == 1):
        print(f"Note: the {distribute.strategy_name(strategy)} strategy has "
              "one replica here; training runs as on one device.")
    if chief:
        presets.check_writable_preset_dir(output_dir, overwrite, probe=True)
    else:
        verbose = 0
    steps = steps or recipe.steps
    identity = {"preset": spec.name, "steps": steps,
                "batch_size": recipe.batch_size, "seed": recipe.seed,
                "learning_rate": recipe.learning_rate,
                "warm_start": recipe.warm_start}
    if recipe.init_from:
        identity["init_from"] = recipe.init_from
    if getattr(recipe.task, "identity", None):
        identity["data"] = recipe.task.identity
    with strategy.scope():
        model = build_for_training(spec, presets_root)
    # Cosine decay: large steps early, and late updates too small to undo
    # the result (a constant rate let a DeepPrior run jump out of its basin).
    schedule = keras.optimizers.schedules.CosineDecay(
        recipe.learning_rate, decay_steps=steps, alpha=0.05)
    # The stream is a deterministic function of the seed and the element
    # index: skipping the batches already used resumes it exactly.
    run = fit_resumably(
        model, lambda done, **shard: recipe.task.training_dataset(
            recipe.batch_size, recipe.seed, **shard).skip(done),
        steps, backup_dir, identity, spec.name,
        steps_per_epoch=steps_per_epoch, callbacks=callbacks,
        verbose=verbose, phases=[Phase(steps, learning_rate=schedule)],
        compile=recipe.compile, strategy=strategy,
        batch_size=recipe.batch_size, shardable=recipe.task.shards_input)
    if not chief:
        return None
    metadata = _evaluate_and_save(spec, model, run, steps, command,
                                  overwrite, output_dir, backup_dir,
                                  strategy, distributed)
    try:
        pathlib.Path(backup_dir).rmdir()  # only if nothing else is in it
    except OSError:
        pass
    return metadata


def _evaluate_and_save(spec, model, run, steps, command, overwrite,
                       output_dir, backup_dir, strategy, distributed):
    recipe = spec.recipe
    extra = {}
    if recipe.init_from:
        extra["init_from"] = recipe.init_from
    if distributed:
        model = _plain_copy(model, recipe.task.input_shape)
        extra["distribution"] = {
            "strategy": distribute.strategy_name(strategy),
            "replicas": strategy.num_replicas_in_sync,
            "workers": distribute.num_workers(strategy)}
    metadata = preset_metadata(
        spec, recipe.task.evaluate(model), run.wall_time_s,
        command or f"spen-keras train --preset {spec.name}",
        seed=recipe.seed, steps=steps, resumed_at_steps=run.resumed_at,
        batch_size=recipe.batch_size, learning_rate=recipe.learning_rate,
        learning_rate_schedule="cosine decay to 5% over the run",
        warm_start=recipe.warm_start,
        training_data=recipe.task.training_data, **extra)
    try:
        presets.save_to_preset(model, output_dir, metadata,
                               overwrite=overwrite,
                               input_shape=recipe.task.input_shape)
    except (OSError, presets.PresetError) as error:
        raise presets.PresetError(
            f"Training finished but the preset could not be written to "
            f"{output_dir} ({error}). The trained state is kept in "
            f"{backup_dir}: run the same command again with a writable "
            "--output-dir to write it without training again.") from None
    run.finish()
    return metadata
