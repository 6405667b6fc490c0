"""The multi-label family's training recipe (`MlcRecipe`) and its
constants: what every multi-label row and every user's run is trained by."""

import dataclasses
from typing import Optional

import keras

from spen_keras.mlc import mlc_data
from spen_keras.mlc import mlc_models

FAMILY = "mlc"
MLC_KIND = "mlc"
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


def recipe_facts(recipe):
    """A recipe as a JSON-able dict (metadata, backup identities)."""
    return {k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(recipe).items()}


def recipe_from_facts(facts, model):
    """The `MlcRecipe` a preset's metadata records (`recipe_facts`), or
    the default recipe of `model` when it records none usable."""
    try:
        return MlcRecipe(**{k: (tuple(v) if isinstance(v, list) else v)
                            for k, v in facts.items()})
    except (AttributeError, TypeError, ValueError):
        return MlcRecipe("bibtex", model)
