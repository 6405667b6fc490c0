"""The multi-label presets: one `PresetSpec` per row of the table, data
only (the recipe is `mlc_recipe.MlcRecipe`, the kind `mlc_kind`, the
trainer `mlc_training`)."""

import dataclasses

from spen_keras import presets
from spen_keras.mlc import mlc_kind  # noqa: F401  (registers the kind)
from spen_keras.mlc.mlc_recipe import FAMILY
from spen_keras.mlc.mlc_recipe import MLC_KIND
from spen_keras.mlc.mlc_recipe import MlcRecipe

TABLE = "mlc"
METRIC = "example F1"

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
