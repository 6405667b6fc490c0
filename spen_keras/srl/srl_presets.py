"""Table 2 (CoNLL-2005 SRL): one `PresetSpec` per row, data only (the
recipe is `srl_recipe.SrlRecipe`, the kind `srl_kind`, the trainer and
evaluation `srl_training`)."""

import dataclasses

from spen_keras import presets
from spen_keras.srl import srl_kind  # noqa: F401  (registers the kind)
from spen_keras.srl.srl_recipe import FAMILY
from spen_keras.srl.srl_recipe import LOCAL_RECIPE
from spen_keras.srl.srl_recipe import METRIC
from spen_keras.srl.srl_recipe import PRIMARY_COLUMN
from spen_keras.srl.srl_recipe import SPEN_RECIPE
from spen_keras.srl.srl_recipe import SRL_KIND
from spen_keras.srl.srl_recipe import TABLE
from spen_keras.srl.srl_recipe import SrlRecipe

# === Specs ===

PAPER = {  # Belanger, Yang & McCallum (2017), Table 2
    "srl_local_h": {"dev WSJ": 78.0, "test WSJ": 79.7, "test Brown": 69.7},
    "srl_local_lp": {"dev WSJ": 78.2, "test WSJ": 80.0, "test Brown": 69.9},
    "srl_spen_h": {"dev WSJ": 79.0, "test WSJ": 80.7, "test Brown": 69.3},
    "srl_spen_lp": {"dev WSJ": 79.0, "test WSJ": 80.7, "test Brown": 69.4},
    "srl_spen_icnn_lp": {"test WSJ": 80.3},
}


def _spec(name, row, description, recipe, tags):
    paper = PAPER.get(name)
    return presets.PresetSpec(
        name=name, family=FAMILY, table=TABLE, row=row,
        paper_value=None if paper is None else paper.get(PRIMARY_COLUMN),
        paper_values=paper, metric=METRIC, description=description,
        kind=SRL_KIND, recipe=recipe, tags=frozenset(tags))


SRL_PRESETS = (
    _spec("srl_local_h", "Local+H",
          "local arc model (Eq. 17/18), greedy repair", LOCAL_RECIPE,
          {"local", "h"}),
    _spec("srl_local_lp", "Local+AD3",
          "local arc model, LP relaxation (AD3's problem, HiGHS) + H",
          SrlRecipe(model="variant", decoder="lp", base="srl_local_h"),
          {"local", "lp"}),
    _spec("srl_spen_h", "SPEN+H",
          "SPEN, 10 logit steps, learned rates; greedy repair",
          SPEN_RECIPE, {"spen", "h"}),
    _spec("srl_spen_lp", "SPEN+AD3",
          "SPEN, LP relaxation (AD3's problem, HiGHS) + H",
          SrlRecipe(model="variant", decoder="lp", base="srl_spen_h"),
          {"spen", "lp"}),
    _spec("srl_spen_icnn_lp", "SPEN-ICNN+AD3",
          "input-convex SPEN, LP relaxation + H",
          dataclasses.replace(SPEN_RECIPE, input_convex=True, decoder="lp"),
          {"spen", "icnn", "lp"}),
    _spec("srl_spen_ssvm_lp", "SPEN-SSVM+AD3",
          "the SPEN's energy trained as a structured SVM (squared-error "
          "margin, loss-augmented inference), LP relaxation + H",
          dataclasses.replace(SPEN_RECIPE, training_mode="ssvm",
                              decoder="lp"),
          {"spen", "ssvm", "lp"}),
    _spec("srl_local_ilp", "Local+ILP (beyond the paper)",
          "local arc model, exact ILP (milp)",
          SrlRecipe(model="variant", decoder="ilp", base="srl_local_h"),
          {"local", "ilp"}),
    _spec("srl_spen_ilp", "SPEN+ILP (beyond the paper)",
          "SPEN, exact ILP (milp)",
          SrlRecipe(model="variant", decoder="ilp", base="srl_spen_h"),
          {"spen", "ilp"}),
)
