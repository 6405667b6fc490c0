"""The SRL family's training recipe (`SrlRecipe`) and its constants."""

import dataclasses
from typing import Optional

import keras

from spen_keras.srl.srl_layers import ArcF1
from spen_keras.srl.srl_layers import LocalSrlModel
from spen_keras.srl.srl_layers import grid_cross_entropy

FAMILY = "srl"
TABLE = "table2"
METRIC = "F1"
SRL_KIND = "srl"
CHECKPOINT_EVERY = 250  # steps between two checkpoints of a run
COLUMNS = ("dev WSJ", "test WSJ", "test Brown")
PRIMARY_COLUMN = "test WSJ"
SPLITS = {"dev WSJ": "devel", "test WSJ": "test_wsj",
          "test Brown": "test_brown"}


@dataclasses.dataclass(frozen=True)
class SrlRecipe:
    """How an SRL row is made.

    model: "local", "spen" or "variant" (another row's model, decoded with
    `decoder`); base: the local preset a SPEN starts from, or the preset a
    variant decodes.
    """

    model: str
    decoder: str = "h"
    base: Optional[str] = None
    input_convex: bool = False
    training_mode: str = "unrolled"
    epochs: int = 3
    clamp_epochs: int = 1
    learning_rate: float = 3e-3
    batch_size: int = 512
    seed: int = 0
    min_count: int = 3
    embedding_dim: int = 8
    hidden_units: int = 256
    dropout: float = 0.3
    global_units: tuple = (64,)
    num_steps: int = 10
    steps: Optional[int] = None  # the CLI's --steps: caps training steps

    @property
    def warm_start(self):
        return self.base

    def compile(self, model, learning_rate=None):
        """Compiles `model` as this recipe trains it: cross-entropy over the
        roles (a local model's arcs, or the SPEN's grid) with the `ArcF1`
        metric, and Adam at `learning_rate` (a rate or a schedule; default
        the recipe's rate). Training and loading a preset both use it."""
        loss = (keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                if isinstance(model, LocalSrlModel) else grid_cross_entropy)
        model.compile(optimizer=keras.optimizers.Adam(
            self.learning_rate if learning_rate is None else learning_rate),
            loss=loss, metrics=[ArcF1()])


LOCAL_RECIPE = SrlRecipe(model="local")
SPEN_RECIPE = SrlRecipe(model="spen", base="srl_local_h", epochs=3,
                        clamp_epochs=3, learning_rate=1e-3, batch_size=32)
