"""The multi-label presets: the kind "mlc", its recipes, trainer and specs.

A preset folder of kind "mlc" holds

    config.json         {"format", "dataset", "model": "br" | "mlp" | "spen",
                         "threshold": the decision threshold chosen on the
                         validation slice, "label_names",
                         "model_config": the Keras model's config with its
                         build shape; a preset trained on a user's own data
                         (`own_data`) adds "feature_names", "num_features"
                         and "data_source", and its "dataset" is the name
                         the user gave}
    model.weights.h5    the weights
    metadata.json       how it was made, its test scores, and every seed's
                        validation and test example-F1

and loads as a `MultiLabelClassifier`.

Every recipe trains on the `train_without_validation` split (the standard
train split without its every tenth row), chooses its epoch and its decision
threshold on the `validation` slice (those tenth rows) by example-F1, and is
scored on the standard test split. A preset is trained with three seeds; the
one with the first seed ships and the metadata keeps all three (mean and
spread are what the table's claims compare).
"""

import dataclasses
import hashlib
import pathlib
import shutil
import time
from typing import Optional

import keras
import numpy as np

from spen_keras import presets
from spen_keras.keras_preset_kind import architecture
from spen_keras.keras_preset_kind import check_finite_weights
from spen_keras.keras_preset_kind import compile_like_its_recipe
from spen_keras.keras_preset_kind import load_weights_file
from spen_keras.keras_preset_kind import rebuild
from spen_keras.keras_preset_kind import save_weights_file
from spen_keras.mlc import mlc_data
from spen_keras.mlc import mlc_metrics
from spen_keras.mlc import mlc_models
from spen_keras.mlc.multi_label_classifier import MultiLabelClassifier
from spen_keras.presets import CONFIG_FILE, WEIGHTS_FILE, PresetError

FAMILY = "mlc"
TABLE = "mlc"
METRIC = "example F1"
MLC_KIND = "mlc"
FORMAT = "spen_keras.mlc preset"
MODELS = ("br", "mlp", "spen")
TRAINING_MODES = ("unrolled", "ssvm")
MLP_LEARNING_RATE = 1e-3  # Adam's rate of the MLP (and a SPEN's pretraining)
LOSS = "binary_crossentropy"  # every model's training loss (SSVM: its margin)


@dataclasses.dataclass(frozen=True)
class MlcRecipe:
    """How a multi-label row is trained.

    Attributes:
        dataset: "bibtex" or "delicious" (the data it trains on, or, for a
            user's own data (`own_data`), whose budgets it keeps).
        model: "br" (logistic regressions), "mlp", or "spen".
        training_mode: a SPEN's training, "unrolled" (end-to-end through
            the T steps, Eq. 9 cross-entropy on every iterate; 2017) or
            "ssvm" (structured SVM with `margin`; 2016).
        input_convex: an ICNN global energy.
        hidden_units, dropout: the feature network (MLP and SPEN).
        pretrain_epochs: epochs of the MLP (and of a SPEN's pretraining of
            F and its local term through Init, Sec. 5).
        epochs: epochs of BR, or of a SPEN after its pretraining.
        learning_rate: Adam's rate (BR; a SPEN's joint phase; the MLP
            uses `MLP_LEARNING_RATE`).
        batch_size: examples per step.
        num_steps: T, unrolled steps of a SPEN.
        global_units: the global energy's hidden widths (C1's rows).
        entropy_weight: the Bernoulli entropy term's weight.
        step_size: a SPEN's initial step size.
        inference: a SPEN's step rule (`mlc_models.INFERENCE`).
        margin: the SSVM margin (`mlc_models.MARGINS`).
        clamp_epochs: a SPEN's first epochs with F, Init and the local
            term clamped (the global energy and step sizes train).
        clamp_learning_rate: Adam's rate in those epochs.
        seeds: the seeds trained; the first one's model ships.
        steps: cap on optimizer steps per training phase (quick runs and
            tests; None trains the full recipe).
    """

    dataset: str
    model: str
    training_mode: str = "unrolled"
    input_convex: bool = False
    hidden_units: tuple = (512, 512)
    dropout: float = 0.5
    pretrain_epochs: int = 40
    epochs: int = 10
    learning_rate: float = 1e-4
    batch_size: int = 32
    num_steps: int = 10
    global_units: tuple = (64,)
    entropy_weight: float = 1.0
    step_size: float = 1.0
    inference: str = "logits"
    margin: str = "hamming"
    clamp_epochs: int = 5
    clamp_learning_rate: float = 3e-3
    seeds: tuple = (0, 1, 2)
    steps: Optional[int] = None

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"Unknown model {self.model!r}; expected one of "
                             f"{MODELS}.")
        mlc_data.check_dataset(self.dataset)
        for field, allowed in (("training_mode", TRAINING_MODES),
                               ("inference", mlc_models.INFERENCE),
                               ("margin", mlc_models.MARGINS)):
            if getattr(self, field) not in allowed:
                raise ValueError(f"Unknown {field} {getattr(self, field)!r};"
                                 f" expected one of {allowed}.")

    def compile(self, model, learning_rate=None):
        """Compiles `model` as this recipe trains it: binary cross-entropy
        (an SSVM SPEN trains on its margin and evaluates this) and Adam at
        `learning_rate`, by default the rate of the recipe's last phase
        (`learning_rate`; the MLP's `MLP_LEARNING_RATE`). Training and
        loading a preset both use it."""
        if learning_rate is None:
            learning_rate = (MLP_LEARNING_RATE if self.model == "mlp"
                             else self.learning_rate)
        model.compile(keras.optimizers.Adam(learning_rate), LOSS)


# === Loading and saving ===


def load_mlc(directory, config):
    """The `MultiLabelClassifier` of an mlc preset folder."""
    directory = pathlib.Path(directory)
    origin = directory / CONFIG_FILE
    metadata_path = directory / presets.METADATA_FILE
    metadata = (presets.read_json(metadata_path, "metadata")
                if metadata_path.is_file() else {})
    try:
        feature_names = config.get("feature_names")
        if feature_names is None:
            dataset = mlc_data.check_dataset(config["dataset"])
        else:  # a user's own data: a name of theirs, its recipe recorded
            dataset = str(config["dataset"])
            feature_names = [str(n) for n in feature_names]
        kind = config["model"]
        if kind not in MODELS:
            raise ValueError(f"unknown model {kind!r}")
        default_recipe = (MlcRecipe(dataset, kind) if feature_names is None
                          else recipe_from_facts(metadata.get("recipe"),
                                                 kind))
        threshold = float(config["threshold"])
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold {threshold} is not in (0, 1)")
        label_names = [str(n) for n in config["label_names"]]
        model_config = config["model_config"]
    except (KeyError, ValueError, TypeError) as error:
        raise PresetError(f"Preset {origin} is not a valid multi-label "
                          f"preset ({type(error).__name__}: {error}).") from None
    model = rebuild(model_config, origin)
    load_weights_file(model, directory / WEIGHTS_FILE, origin)
    # Compiled by its registered recipe (a folder naming none: the family's
    # default recipe of its model, or the recipe its metadata records),
    # ready for `fit`.
    compile_like_its_recipe(model, directory, MLC_KIND, default_recipe)
    classifier = MultiLabelClassifier(model, threshold, dataset, label_names,
                                      kind, feature_names=feature_names)
    if feature_names is not None and len(
            feature_names) != classifier.num_features:
        raise PresetError(f"Preset {origin} names {len(feature_names)} "
                          f"features but its model takes "
                          f"{classifier.num_features}.")
    if metadata:
        classifier.metadata = metadata
    probe = classifier.probabilities(
        np.zeros((1, classifier.num_features), np.float32))
    if probe.shape != (1, len(label_names)) or not np.isfinite(probe).all():
        raise PresetError(f"Preset {directory} gives non-finite or "
                          f"mis-shaped outputs {probe.shape} on a probe.")
    return classifier


def save_mlc_preset(classifier, directory, metadata, overwrite=False):
    """Writes an mlc preset folder (verified by reloading it)."""
    model = classifier.model
    check_finite_weights(model)
    model_config = architecture(keras.saving.serialize_keras_object(model))
    model_config["build_config"] = {"input_shape":
                                    [None, classifier.num_features]}
    config = {"format": FORMAT, "dataset": classifier.dataset,
              "model": classifier.kind, "threshold": classifier.threshold,
              "label_names": list(classifier.label_names),
              "model_config": model_config}
    if classifier.feature_names is not None:
        config.update(feature_names=list(classifier.feature_names),
                      num_features=classifier.num_features,
                      data_source=metadata.get("data_source"))
    metadata = {**metadata, "kind": MLC_KIND}

    def write_files(folder):
        presets.write_json(folder / CONFIG_FILE, config)
        save_weights_file(model, model_config, folder / WEIGHTS_FILE)
        presets.write_json(folder / presets.METADATA_FILE, metadata)

    return presets.write_preset_dir(
        directory, write_files, verify=lambda folder: load_mlc(folder,
                                                               config),
        overwrite=overwrite)


# === Training ===


class BestOnValidation(keras.callbacks.Callback):
    """After every epoch: the validation example-F1 at its best threshold;
    at the end, restores the weights of the best epoch.

    Attributes:
        history: [(epoch, validation example-F1, threshold)].
    """

    def __init__(self, x, labels, predict, log=None):
        super().__init__()
        self.x, self.labels, self.predict = x, labels, predict
        self.history, self.best, self.best_weights = [], -1.0, None
        self.log = log

    def on_epoch_end(self, epoch, logs=None):
        predictions = self.predict(self.x)
        if self.model.stop_training or not np.isfinite(predictions).all():
            self.model.stop_training = True  # reported by `_fit`
            return
        threshold, f1 = mlc_metrics.choose_threshold(self.labels,
                                                     predictions)
        self.history.append((epoch, round(f1, 3), threshold))
        if self.log:
            self.log(f"  epoch {epoch + 1}: validation example-F1 {f1:.2f} "
                     f"(threshold {threshold:.2f})")
        if f1 > self.best:
            self.best = f1
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _fit(model, data, epochs, batch_size, recipe, seed, log, predict):
    """Fits `model` on the fitting rows for `epochs` epochs (or `steps`
    batches), keeping the best epoch on the validation slice."""
    x, y = data.fit
    steps_per_epoch = -(-len(x) // batch_size)
    if recipe.steps is not None:
        epochs, steps_per_epoch = 1, min(steps_per_epoch, recipe.steps)
    best = BestOnValidation(data.validation[0], data.validation[1], predict,
                            log)
    rows = np.random.default_rng(seed).permutation(len(x))
    stream = mlc_data.training_dataset(x[rows], y[rows], batch_size, seed)
    model.fit(stream, epochs=epochs, steps_per_epoch=steps_per_epoch,
              verbose=0, shuffle=False,
              callbacks=[keras.callbacks.TerminateOnNaN(), best])
    if model.stop_training:
        raise PresetError("Training met NaN/Inf; the preset was not written.")
    return best


def train_one_seed(recipe, seed, log=print, data=None):
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

    Returns:
        (MultiLabelClassifier, facts dict: validation and test scores,
        epochs, per-epoch validation history).
    """
    log = log or (lambda message: None)
    data = mlc_data.load(recipe.dataset) if data is None else data
    keras.utils.set_random_seed(seed)
    num_features, num_labels = data.num_features, data.num_labels
    facts = {"seed": seed}

    def predictor(model):
        return lambda x: MultiLabelClassifier.predict_with(model, x)

    if recipe.model == "br":
        model = mlc_models.logistic_regression(num_features, num_labels)
        recipe.compile(model)
        best = _fit(model, data, recipe.epochs, recipe.batch_size, recipe,
                    seed, log, predictor(model))
        facts["history"] = best.history
    else:
        model = mlc_models.mlp_classifier(num_features, num_labels,
                                          recipe.hidden_units, recipe.dropout)
        recipe.compile(model, MLP_LEARNING_RATE)
        log(f" pretraining the MLP ({recipe.pretrain_epochs} epochs)")
        best = _fit(model, data, recipe.pretrain_epochs, recipe.batch_size,
                    recipe, seed, None, predictor(model))
        facts["mlp_validation_example_f1"] = round(best.best, 2)
        facts["history"] = best.history
        if recipe.model == "spen":
            model = _train_spen(model, recipe, data, seed, log, predictor,
                                facts)
    threshold, validation_f1 = mlc_metrics.choose_threshold(
        data.validation[1], predictor(model)(data.validation[0]))
    classifier = MultiLabelClassifier(
        model, threshold, data.name, data.label_names, recipe.model,
        feature_names=None if data.source is None else data.feature_names)
    facts.update({"threshold": threshold,
                  "validation_example_f1": round(validation_f1, 2)})
    if data.test is not None:
        facts["test"] = mlc_metrics.score(
            data.test[1], classifier.probabilities(data.test[0]),
            threshold).as_dict()
    return classifier, facts


def _train_spen(mlp, recipe, data, seed, log, predictor, facts):
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
    phases = [(clamp_epochs, False, recipe.clamp_learning_rate),
              (recipe.epochs - clamp_epochs, True, recipe.learning_rate)]
    history = []
    for epochs, free, rate in phases:
        if epochs == 0:
            continue
        for layer in clamped:
            layer.trainable = free
        recipe.compile(spen, rate)
        log(f" SPEN ({recipe.training_mode}), {epochs} epochs with the "
            f"local part {'free' if free else 'clamped'}")
        best = _fit(spen, data, epochs, recipe.batch_size, recipe, seed,
                    log, predictor(spen))
        history += best.history
    for layer in clamped:
        layer.trainable = True
    facts["spen_history"] = history
    facts["learned_step_sizes"] = [
        round(float(s), 4) for s in spen.minimizer.step_sizes().numpy()]
    return spen


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
              data_dir=None, **_):
    """The kind's trainer: every seed of the recipe, the first one saved.

    Resumable by seed: each finished seed's results (and the first seed's
    model) are kept in `backup_dir`, locked while the run lives; the same
    call after an interruption reuses the seeds already done with the same
    recipe and trains the rest. The backup is deleted once the preset has
    been written and verified.

    Args:
        steps: cap optimizer steps per phase and train the first seed only
            (a quick check, not the recipe).
        seeds: override the recipe's seeds.
        data: a user's `MultiLabelData` (`own_data.load_files`,
            `own_data.from_arrays`) to train the recipe on instead of its
            shipped dataset; the preset then records the data's label and
            feature names, source and threshold (`own_data.own_spec` names
            it). Use `own_data.train_preset`, which does this.
    """
    from spen_keras.preset_training import preset_metadata
    from spen_keras.resumable_training import BackupLock

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

    identity = {"preset": spec.name, "recipe": _recipe_facts(recipe)}
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
                classifier, facts = train_one_seed(recipe, seed, log, data)
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
            seed=recipe.seeds[0], recipe=_recipe_facts(recipe),
            training_data=(f"Mulan {recipe.dataset}, "
                           "train_without_validation split" if data is None
                           else data.source),
            training_wall_time_s=round(sum(f["wall_time_s"]
                                           for f in per_seed), 1),
            per_seed=per_seed)
        save_mlc_preset(classifier, output_dir, metadata,
                        overwrite=overwrite)
    shutil.rmtree(backup_dir, ignore_errors=True)
    return metadata


SEED_FACTS = "facts.json"


def _keep_seed(backup_dir, identity, seed, facts, classifier):
    """Writes a finished seed into the backup (its model if given)."""
    folder = backup_dir / f"seed_{seed}"
    if classifier is not None:
        save_mlc_preset(classifier, folder / "preset", {"seed": seed},
                        overwrite=True)
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


def _recipe_facts(recipe):
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(recipe).items()}


def recipe_from_facts(facts, model):
    """The `MlcRecipe` a preset's metadata records (`_recipe_facts`), or
    the default recipe of `model` when it records none usable."""
    try:
        return MlcRecipe(**{k: (tuple(v) if isinstance(v, list) else v)
                            for k, v in facts.items()})
    except (AttributeError, TypeError, ValueError):
        return MlcRecipe("bibtex", model)


def data_fingerprint(data):
    """A digest of a `MultiLabelData`'s arrays and names: a backup made on
    other data is never resumed."""
    digest = hashlib.sha256()
    for part in (*data.fit, *data.validation, *(data.test or ())):
        digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(str(part.shape).encode())
    digest.update(repr((data.label_names, data.feature_names)).encode())
    return digest.hexdigest()[:16]


presets.register_preset_kind(presets.PresetKindFunctions(
    name=MLC_KIND, load_fn=load_mlc, train_fn=train_mlc,
    accepts_data_dir=True))  # only to point --data-dir at train-labels


# === Specs ===

#: Example-F1 on the standard test splits as reported by Belanger & McCallum
#: (ICML 2016, Table 1; the SPEN row is their SSVM-trained SPEN). Taken from
#: the issue that asked for this table; the paper itself could not be opened
#: in the environment this was written in, so they are printed as "as
#: reported, unverified transcription".
PAPER_2016 = {
    ("bibtex", "br"): 37.2, ("bibtex", "mlp"): 38.9,
    ("bibtex", "spen_ssvm"): 42.2,
    ("delicious", "br"): 26.5, ("delicious", "mlp"): 37.8,
    ("delicious", "spen_ssvm"): 37.5,
}
COLUMN = "test"
TITLES = {"bibtex": "Bibtex", "delicious": "Delicious"}

#: Per-dataset training budgets (epochs; the SPEN's include its clamped
#: ones), chosen on the validation slice.
BUDGETS = {"bibtex": {"br_epochs": 40, "pretrain_epochs": 20,
                      "spen_epochs": 20, "clamp_epochs": 5},
           "delicious": {"br_epochs": 30, "pretrain_epochs": 15,
                         "spen_epochs": 10, "clamp_epochs": 3}}


def _recipes(dataset):
    budget = BUDGETS[dataset]
    spen = MlcRecipe(dataset, "spen", pretrain_epochs=budget[
        "pretrain_epochs"], epochs=budget["spen_epochs"],
        clamp_epochs=budget["clamp_epochs"])
    return {
        "br": MlcRecipe(dataset, "br", epochs=budget["br_epochs"],
                        learning_rate=1e-2),
        "mlp": MlcRecipe(dataset, "mlp", pretrain_epochs=budget[
            "pretrain_epochs"] + budget["spen_epochs"]),
        "spen_ssvm": dataclasses.replace(spen, training_mode="ssvm"),
        "spen_e2e": spen,
        "spen_e2e_icnn": dataclasses.replace(spen, input_convex=True),
    }


ROWS = {
    "br": ("BR", "independent logistic regressions (binary relevance)",
           {"baseline", "br"}),
    "mlp": ("MLP", "MLP with independent sigmoids", {"baseline", "mlp"}),
    "spen_ssvm": ("SPEN-SSVM", "SPEN trained as a structured SVM, Hamming "
                  "margin (2016 recipe)", {"spen", "ssvm"}),
    "spen_e2e": ("SPEN-E2E", "SPEN trained end-to-end through 10 unrolled "
                 "logit steps (2017 recipe)", {"spen", "e2e"}),
    "spen_e2e_icnn": ("SPEN-E2E-ICNN", "input-convex SPEN, end-to-end",
                      {"spen", "e2e", "icnn"}),
}


def preset_name(dataset, row):
    return f"mlc_{dataset}_{row}"


def _spec(dataset, row, recipe):
    label, description, tags = ROWS[row]
    paper = PAPER_2016.get((dataset, row))
    return presets.PresetSpec(
        name=preset_name(dataset, row), family=FAMILY, table=TABLE,
        row=f"{TITLES[dataset]} {label}", paper_value=paper,
        paper_values=None if paper is None else {COLUMN: paper},
        metric=METRIC, description=f"{TITLES[dataset]}: {description}",
        kind=MLC_KIND, recipe=recipe, tags=frozenset(tags | {dataset}))


MLC_PRESETS = tuple(_spec(dataset, row, recipe)
                    for dataset in ("bibtex", "delicious")
                    for row, recipe in _recipes(dataset).items())
