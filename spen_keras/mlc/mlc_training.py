"""The multi-label family's trainer: every row's recipe (BR, MLP, the
SPENs) and every user's run, through the one training loop
(`preset_training.fit_resumably`).

Every recipe trains on the `train_without_validation` split (the standard
train split without its every tenth row), chooses its epoch and its decision
threshold on the `validation` slice (those tenth rows) by example-F1, and is
scored on the standard test split. A preset is trained with three seeds; the
one with the first seed ships and the metadata keeps all three (mean and
spread are what the table's claims compare).

A seed's run is resumable step by step: each of its models (the MLP or BR,
then a SPEN's two phases) is a `fit_resumably` run in the seed's backup
folder, whose checkpoint (every epoch) also holds the best epoch so far; a
finished seed's results are kept, so a killed run started again reuses the
seeds done and resumes the seed it was in at its last epoch.
"""

import dataclasses
import hashlib
import pathlib
import shutil
import time

import keras
import numpy as np

from spen_keras import presets
from spen_keras.mlc import mlc_data
from spen_keras.mlc import mlc_metrics
from spen_keras.mlc import mlc_models
from spen_keras.mlc.mlc_recipe import MLP_LEARNING_RATE
from spen_keras.mlc.mlc_recipe import recipe_facts
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.presets.training import BestEpoch
from spen_keras.presets.training import Phase
from spen_keras.presets.training import fit_resumably
from spen_keras.presets import PresetError


def _validation_score(data, model):
    """The `BestEpoch` score: validation example-F1 at its best threshold."""

    def score(_):
        predictions = MultiLabelClassifier.predict_with(model,
                                                        data.validation[0])
        if not np.isfinite(predictions).all():
            return None
        threshold, f1 = mlc_metrics.choose_threshold(data.validation[1],
                                                     predictions)
        return f1, {"threshold": threshold}

    return score


def _fit(model, data, phases, recipe, seed, folder, name, log, strategy):
    """Fits `model` on the fitting rows through `phases` (each of whole
    epochs over them, or `recipe.steps` batches), every phase ending on its
    best epoch on the validation slice.

    Returns:
        The per-phase histories [[(epoch, example-F1, threshold)]].
    """
    x, y = data.fit
    rows = np.random.default_rng(seed).permutation(len(x))
    x, y = x[rows], y[rows]
    per_epoch = _steps_per_epoch(data, recipe)
    phases = [dataclasses.replace(p, steps_per_epoch=per_epoch)
              for p in phases]
    steps = sum(p.steps for p in phases)
    identity = {"model": name, "seed": seed, "recipe": recipe_facts(recipe),
                "data": data_fingerprint(data)}
    selection = BestEpoch(_validation_score(data, model), log=log,
                          metric="example-F1")
    run = fit_resumably(
        model, lambda done: mlc_data.training_dataset(
            x, y, recipe.batch_size, seed).skip(done),
        steps, folder, identity, name, phases=phases, compile=recipe.compile,
        selection=selection, strategy=strategy, batch_size=recipe.batch_size,
        verbose=0, log=log)
    return run, [[(e, v, f["threshold"]) for e, v, f in history]
                 for history in run.selections]


def _steps_per_epoch(data, recipe):
    per_epoch = -(-len(data.fit[0]) // recipe.batch_size)
    return per_epoch if recipe.steps is None else min(per_epoch,
                                                      recipe.steps)


def _epochs(recipe, epochs):
    """A phase of `epochs` epochs in steps (one epoch of at most
    `recipe.steps` steps for a quick run)."""
    return 1 if recipe.steps is not None else epochs


def train_one_seed(recipe, seed, log=print, data=None, backup_dir=None,
                   strategy=None):
    """Trains one seed of a recipe: every preset's and every user's
    training (`own_data`) runs through here.

    Args:
        recipe: an `MlcRecipe`.
        seed: the seed (weights, batch order, dropout).
        log: progress lines go here (None: silent).
        data: a `mlc_data.MultiLabelData` to train on; None: the recipe's
            shipped dataset. The model fits `data.fit`, keeps the epoch and
            chooses the threshold of best example-F1 on `data.validation`,
            and is scored on `data.test` when there is one.
        backup_dir: the seed's backup folder (resumable; default a
            temporary one, deleted at the end).
        strategy: a `tf.distribute` strategy (`spen_keras.presets.distribute`).

    Returns:
        (MultiLabelClassifier, facts dict: validation and test scores,
        epochs, per-epoch validation history).
    """
    import tempfile

    from spen_keras.presets import distribute

    log = log or (lambda message: None)
    data = mlc_data.load(recipe.dataset) if data is None else data
    strategy = distribute.get_strategy(strategy)
    temporary = None
    if backup_dir is None:
        temporary = backup_dir = tempfile.mkdtemp(prefix="spen-keras-mlc-")
    backup_dir = pathlib.Path(backup_dir)
    keras.utils.set_random_seed(seed)
    num_features, num_labels = data.num_features, data.num_labels
    facts = {"seed": seed}
    runs = []
    try:
        with strategy.scope():
            if recipe.model == "br":
                model = mlc_models.logistic_regression(num_features,
                                                       num_labels)
                phases = [Phase(_epochs(recipe, recipe.epochs)
                                * _steps_per_epoch(data, recipe),
                                learning_rate=recipe.learning_rate)]
                run, (history,) = _fit(model, data, phases, recipe, seed,
                                       backup_dir / "br", "BR", log,
                                       strategy)
            else:
                model = mlc_models.mlp_classifier(
                    num_features, num_labels, recipe.hidden_units,
                    recipe.dropout)
                log(f" pretraining the MLP ({recipe.pretrain_epochs} "
                    "epochs)")
                phases = [Phase(_epochs(recipe, recipe.pretrain_epochs)
                                * _steps_per_epoch(data, recipe),
                                learning_rate=MLP_LEARNING_RATE)]
                run, (history,) = _fit(model, data, phases, recipe, seed,
                                       backup_dir / "mlp", "MLP",
                                       lambda message: None, strategy)
                facts["mlp_validation_example_f1"] = round(
                    max(v for _, v, _ in history) if history else 0.0, 2)
            runs.append(run)
            facts["history"] = history
            if recipe.model == "spen":
                model, run = _train_spen(model, recipe, data, seed, log,
                                         facts, backup_dir, strategy)
                runs.append(run)
        threshold, validation_f1 = mlc_metrics.choose_threshold(
            data.validation[1],
            MultiLabelClassifier.predict_with(model, data.validation[0]))
        classifier = MultiLabelClassifier(
            model, threshold, data.name, data.label_names, recipe.model,
            feature_names=None if data.source is None
            else data.feature_names)
        facts.update({"threshold": threshold,
                      "validation_example_f1": round(validation_f1, 2)})
        if data.test is not None:
            facts["test"] = mlc_metrics.score(
                data.test[1], classifier.probabilities(data.test[0]),
                threshold).as_dict()
    finally:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    for run in runs:
        run.finish()
    return classifier, facts


def _train_spen(mlp, recipe, data, seed, log, facts, backup_dir, strategy):
    # Seeded afresh: the global energy's initial weights do not depend on
    # whether the MLP was trained now or restored from a backup.
    keras.utils.set_random_seed(seed + 1)
    spen = mlc_models.build_spen(
        mlp, data.num_labels, recipe.num_steps, recipe.global_units,
        recipe.input_convex, recipe.entropy_weight, recipe.step_size,
        recipe.inference,
        recipe.training_mode, recipe.margin)
    # Sec. 5: the pretrained local part (F, Init and the local term) is
    # clamped for the first epochs while the global energy (and the step
    # sizes) learn at a higher rate; then everything trains jointly. Without
    # the clamped phase the global term stayed negligible: zeroing it in a
    # jointly trained Bibtex SPEN changed test example-F1 by 0.01.
    clamped = (spen.feature_network, spen.init_network,
               spen.energy.energies[0])
    clamp_epochs = min(recipe.clamp_epochs, recipe.epochs)
    per_epoch = _steps_per_epoch(data, recipe)
    phases = [Phase(_epochs(recipe, epochs) * per_epoch, learning_rate=rate,
                    frozen=frozen,
                    description=f"SPEN ({recipe.training_mode}), {epochs} "
                    f"epochs with the local part "
                    f"{'clamped' if frozen else 'free'}")
              for epochs, frozen, rate in (
                  (clamp_epochs, clamped, recipe.clamp_learning_rate),
                  (recipe.epochs - clamp_epochs, (), recipe.learning_rate))
              if epochs > 0]
    run, histories = _fit(spen, data, phases, recipe, seed,
                          backup_dir / "spen", "SPEN", log, strategy)
    facts["spen_history"] = [entry for history in histories
                             for entry in history]
    facts["learned_step_sizes"] = [
        round(float(s), 4) for s in keras.ops.convert_to_numpy(
            spen.minimizer.step_sizes())]
    return spen, run


def seed_summary(seed_facts, split="test"):
    """Mean, standard deviation and range of the seeds' test (or
    validation) example-F1."""
    values = np.array([f["test"]["example_f1"] if split == "test"
                       else f["validation_example_f1"] for f in seed_facts])
    return {"seeds": [f["seed"] for f in seed_facts],
            f"{split}_example_f1": [round(float(v), 2) for v in values],
            "mean": round(float(values.mean()), 2),
            "std": round(float(values.std(ddof=1)) if len(values) > 1
                         else 0.0, 2),
            "range": round(float(values.max() - values.min()), 2)}


def train_mlc(spec, output_dir, backup_dir, steps=None, command=None,
              verbose=1, overwrite=False, seeds=None, data=None,
              data_dir=None, strategy=None, **_):
    """The kind's trainer: every seed of the recipe, the first one saved.

    Resumable: each finished seed's results (and the first seed's model)
    are kept in `backup_dir`, locked while the run lives, and the seed in
    progress checkpoints every epoch (`train_one_seed`); the same call
    after an interruption reuses the seeds already done with the same
    recipe and resumes the rest exactly. The backup is deleted once the
    preset has been written and verified.

    Args:
        steps: cap optimizer steps per phase and train the first seed only
            (a quick check, not the recipe).
        seeds: override the recipe's seeds.
        data: a user's `MultiLabelData` (`own_data.load_files`,
            `own_data.from_arrays`) to train the recipe on instead of its
            shipped dataset; the preset then records the data's label and
            feature names, source and threshold (`own_data.own_spec` names
            it). Use `own_data.train_preset`, which does this.
        strategy: a `tf.distribute` strategy or its name (`--strategy`):
            every step's batch is split across its replicas.
    """
    from spen_keras.presets.training import preset_metadata
    from spen_keras.presets.resumable import BackupLock

    if data_dir is not None:  # `spen-keras train --data-dir`
        raise PresetError(
            f"Preset {spec.name} trains on Mulan {spec.recipe.dataset}; to "
            f"train its recipe on your own file, run `spen-keras "
            f"train-labels {data_dir} --labels N --recipe {spec.name}` (N: "
            "the number of label columns at the end; see its --help).")
    recipe = spec.recipe
    if steps is not None:
        recipe = dataclasses.replace(recipe, steps=int(steps),
                                     seeds=recipe.seeds[:1])
    if seeds is not None:
        recipe = dataclasses.replace(recipe, seeds=tuple(seeds))
    output_dir = pathlib.Path(output_dir)
    backup_dir = pathlib.Path(backup_dir)
    presets.check_writable_preset_dir(output_dir, overwrite, probe=True)

    def log(message):
        if verbose:
            print(message, flush=True)

    identity = {"preset": spec.name, "recipe": recipe_facts(recipe)}
    if data is not None:
        identity["data"] = data_fingerprint(data)
    split = "test" if data is None or data.test is not None else "validation"
    started = time.perf_counter()
    per_seed, shipped = [], None
    with BackupLock(backup_dir) as lock:
        if lock.note:
            log(lock.note)
        for seed in recipe.seeds:
            classifier, facts = _resume_seed(backup_dir, identity, seed,
                                             load=shipped is None)
            if facts is not None:
                log(f"[{spec.name}] seed {seed}: reused from {backup_dir}")
            else:
                log(f"[{spec.name}] seed {seed}")
                seed_started = time.perf_counter()
                classifier, facts = train_one_seed(
                    recipe, seed, log, data, backup_dir / f"seed_{seed}",
                    strategy)
                facts["wall_time_s"] = round(
                    time.perf_counter() - seed_started, 1)
                _keep_seed(backup_dir, identity, seed, facts,
                           classifier if shipped is None else None)
            test = (f", test {facts['test']['example_f1']:.2f}"
                    if "test" in facts else "")
            log(f"[{spec.name}] seed {seed}: validation example-F1 "
                f"{facts['validation_example_f1']:.2f}{test} "
                f"({facts['wall_time_s']:.0f} s)")
            per_seed.append(facts)
            if shipped is None:
                shipped = (classifier, facts)
        classifier, facts = shipped
        evaluation = {
            "our_value": (facts["test"]["example_f1"] if split == "test"
                          else facts["validation_example_f1"]),
            "test_scores": facts.get("test"),
            "threshold": facts["threshold"],
            "validation_example_f1": facts["validation_example_f1"],
            "seed_summary": seed_summary(per_seed, split),
            "evaluation": (f"Mulan {recipe.dataset}: standard test split; "
                           "threshold and epoch chosen on the validation "
                           "slice (every 10th train row)" if data is None
                           else f"{data.name}: {split} example-F1; "
                           "threshold and epoch chosen on the validation "
                           "rows"),
        }
        if data is not None:
            evaluation.update(data_source=data.source,
                              label_names=list(data.label_names),
                              num_features=data.num_features,
                              num_labels=data.num_labels)
        metadata = preset_metadata(
            spec, evaluation, time.perf_counter() - started,
            command or f"spen-keras train --preset {spec.name}",
            seed=recipe.seeds[0], recipe=recipe_facts(recipe),
            training_data=(f"Mulan {recipe.dataset}, "
                           "train_without_validation split" if data is None
                           else data.source),
            training_wall_time_s=round(sum(f["wall_time_s"]
                                           for f in per_seed), 1),
            per_seed=per_seed)
        presets.save_to_preset(classifier, output_dir, metadata,
                               overwrite=overwrite)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return metadata


SEED_FACTS = "facts.json"


def _keep_seed(backup_dir, identity, seed, facts, classifier):
    """Writes a finished seed into the backup (its model if given)."""
    folder = backup_dir / f"seed_{seed}"
    if classifier is not None:
        presets.save_to_preset(classifier, folder / "preset",
                               {"seed": seed}, overwrite=True)
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".{SEED_FACTS}.new"
    presets.write_json(staging, {"identity": identity, "facts": facts})
    staging.replace(folder / SEED_FACTS)


def _resume_seed(backup_dir, identity, seed, load):
    """(classifier or None, facts) of a seed finished by an earlier run of
    the same recipe, or (None, None)."""
    folder = backup_dir / f"seed_{seed}"
    try:
        kept = presets.read_json(folder / SEED_FACTS, "seed backup")
    except PresetError:
        return None, None
    if kept.get("identity") != identity:
        return None, None
    classifier = None
    if load:
        try:
            classifier = presets.load_preset(folder / "preset")
        except PresetError:
            return None, None
    return classifier, kept["facts"]


def data_fingerprint(data):
    """A digest of a `MultiLabelData`'s arrays and names: a backup made on
    other data is never resumed."""
    digest = hashlib.sha256()
    for part in (*data.fit, *data.validation, *(data.test or ())):
        digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(part.shape).encode())
    digest.update(repr((data.label_names, data.feature_names)).encode())
    return digest.hexdigest()[:16]


