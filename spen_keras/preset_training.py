"""Training a Keras preset from its spec: task-neutral.

`train_keras_preset` builds the spec's model (`KerasRecipe.build`), trains it
with `model.fit` on the family's data (`recipe.task`, a `TrainingTask`), and
saves it as a user preset with metadata. The run locks its backup folder
and checkpoints its full state every epoch (`spen_keras.resumable_training`),
so an interrupted run resumes exactly (same weights as an uninterrupted run)
when started again with the same backup folder; `TerminateOnNaN` stops a
diverging run, which then raises instead of writing its weights. The output
folder is checked (and probed for writing) before training starts, and the
backup is deleted only after the preset has been written and verified.

With `strategy` (a `tf.distribute.Strategy` or "mirrored"/"multiworker",
`spen_keras.distribute`) the model is built and compiled under the
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
import os
import pathlib
import platform
import shutil
from typing import Callable, Optional

import keras
import numpy as np

from spen_keras import distribute
from spen_keras import presets
from spen_keras.resumable_training import CHECKPOINT
from spen_keras.resumable_training import BackupError
from spen_keras.resumable_training import BackupLock
from spen_keras.resumable_training import TrainingCheckpoint

STEPS_PER_EPOCH = 25


class TrainingDivergedError(RuntimeError):
    """Training met NaN/Inf; the preset was not written."""


def fit_resumably(model, dataset_from, steps, backup_dir, identity, name,
                  steps_per_epoch=STEPS_PER_EPOCH, callbacks=(), verbose=1,
                  on_restore=None):
    """`model.fit` for exactly `steps` steps, resumable and guarded: the
    loop of a family trainer that does not go through `train_keras_preset`
    (which adds tf.distribute to the same steps).

    Locks `backup_dir` (`BackupLock`), restores a checkpoint of the same
    run (`identity`) and checkpoints the full state every epoch of at most
    `steps_per_epoch` steps (`TrainingCheckpoint`), so a killed run started
    again resumes exactly; stops on NaN/Inf and raises
    `TrainingDivergedError` instead of returning a broken model.

    Args:
        model: a compiled Keras model (its optimizer built if the caller
            changes which variables train during the run).
        dataset_from: `dataset_from(done)` -> the training stream with the
            `done` batches already used skipped (deterministic streams
            resume exactly).
        steps: the run's steps.
        backup_dir: the run's backup folder.
        identity: a JSON-able dict naming the run.
        name: the run's name in messages.
        callbacks: further Keras callbacks.
        on_restore: optional `on_restore(done)`, called after the restore
            and before the first step (e.g. to clamp layers).

    Returns:
        The `TrainingCheckpoint` (wall time, resumed-at steps; call its
        `finish()` once the trained model is written).
    """
    per_epoch, epochs = epochs_for(steps, steps_per_epoch)
    with BackupLock(backup_dir) as lock:
        if lock.note and verbose:
            print(lock.note)
        checkpoint = TrainingCheckpoint(backup_dir, identity, per_epoch)
        done = checkpoint.restore(model)
        if done and verbose:
            print(f"Resuming {name} from its backup in {backup_dir}: "
                  f"{done} of {steps} steps done.")
        if on_restore is not None:
            on_restore(done)
        model.fit(dataset_from(done), steps_per_epoch=per_epoch,
                  epochs=epochs, initial_epoch=done // per_epoch,
                  shuffle=False, verbose=verbose,
                  callbacks=[keras.callbacks.TerminateOnNaN(), checkpoint,
                             *callbacks])
        raise_if_diverged(model, name, backup_dir)
    return checkpoint


def raise_if_diverged(model, name, backup_dir):
    """Raises `TrainingDivergedError` when a run stopped on NaN/Inf
    (`TerminateOnNaN`) or left a weight that is not finite."""
    if model.stop_training or not all(
            np.isfinite(keras.ops.convert_to_numpy(w)).all()
            for w in model.weights):
        raise TrainingDivergedError(
            f"Training {name} met NaN/Inf and stopped; the preset was not "
            f"written. The last good epoch is backed up in {backup_dir}.")


class TrainingTask:
    """What a family supplies to train and evaluate its Keras presets.

    Attributes:
        input_shape: the build shape of the models, None on free axes.
        training_data: one line describing the training data (metadata).

    Methods:
        training_dataset(batch_size, seed): an endless `tf.data.Dataset` of
            (x, y) batches.
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
    import tensorflow as tf

    return (f"{cpu}, {os.cpu_count()} cores, TensorFlow {tf.__version__}, "
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
                 steps_per_epoch):
        super().__init__(scratch_folder, identity, steps_per_epoch)
        self._chief_path = pathlib.Path(chief_folder) / CHECKPOINT

    def restore(self, model):
        own, self.path = self.path, self._chief_path
        try:
            return super().restore(model)
        finally:
            self.path = own


def _check_workers_agree(strategy, done, backup_dir):
    """Raises BackupError unless every worker resumes at the same step."""
    import tensorflow as tf

    if distribute.worker_task(strategy)[0] is None:
        return
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
            or a `tf.distribute.Strategy` (`spen_keras.distribute`);
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
    per_epoch, epochs = epochs_for(steps, steps_per_epoch)
    identity = {"preset": spec.name, "steps": steps,
                "batch_size": recipe.batch_size, "seed": recipe.seed,
                "learning_rate": recipe.learning_rate,
                "warm_start": recipe.warm_start}
    if recipe.init_from:
        identity["init_from"] = recipe.init_from
    if getattr(recipe.task, "identity", None):
        identity["data"] = recipe.task.identity
    scratch = distribute.worker_scratch_dir(strategy)
    # Only the chief locks the backup folder: the workers of one cluster
    # must not refuse each other (they may share a filesystem).
    lock = BackupLock(backup_dir) if chief else contextlib.nullcontext()
    try:
        with lock:
            if chief and lock.note and verbose:
                print(lock.note)
            if chief:
                checkpoint = TrainingCheckpoint(backup_dir, identity,
                                                per_epoch)
            else:
                checkpoint = _WorkerCheckpoint(backup_dir, scratch, identity,
                                               per_epoch)
            metadata = _train_locked(
                spec, output_dir, backup_dir, steps, command, presets_root,
                verbose, per_epoch, epochs, callbacks, overwrite, strategy,
                distributed, chief, checkpoint)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if chief:
        try:
            pathlib.Path(backup_dir).rmdir()  # only if nothing else is in it
        except OSError:
            pass
    return metadata


def _train_locked(spec, output_dir, backup_dir, steps, command, presets_root,
                  verbose, per_epoch, epochs, callbacks, overwrite, strategy,
                  distributed, chief, checkpoint):
    recipe = spec.recipe
    with strategy.scope():
        model = build_for_training(spec, presets_root)
        # Cosine decay: large steps early, and late updates too small to
        # undo the result (a constant rate let a DeepPrior run jump out of
        # its basin).
        schedule = keras.optimizers.schedules.CosineDecay(
            recipe.learning_rate, decay_steps=steps, alpha=0.05)
        recipe.compile(model, schedule)
        done = checkpoint.restore(model)
    _check_workers_agree(strategy, done, backup_dir)
    if done and verbose:
        print(f"Resuming {spec.name} from its backup in {backup_dir}: "
              f"{done} of {steps} steps done.")

    # The stream is a deterministic function of the seed and the element
    # index: skipping the batches already used resumes it exactly.
    def global_batches(**shard):
        return recipe.task.training_dataset(recipe.batch_size, recipe.seed,
                                            **shard).skip(done)

    if distributed:
        dataset = distribute.distribute_global_batches(
            strategy, global_batches, recipe.batch_size,
            shardable=recipe.task.shards_input)
    else:
        dataset = global_batches()
    model.fit(dataset, steps_per_epoch=per_epoch, epochs=epochs,
              initial_epoch=done // per_epoch, shuffle=False,
              verbose=verbose,
              callbacks=[keras.callbacks.TerminateOnNaN(), checkpoint,
                         *callbacks])
    wall = checkpoint.wall_time_s
    raise_if_diverged(model, spec.name, backup_dir)
    if not chief:
        return None
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
        spec, recipe.task.evaluate(model), wall,
        command or f"spen-keras train --preset {spec.name}",
        seed=recipe.seed, steps=per_epoch * epochs,
        resumed_at_steps=checkpoint.resumed_at,
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
    checkpoint.finish()
    return metadata
