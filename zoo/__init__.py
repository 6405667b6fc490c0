"""The model zoo: one preset per table row, with pretrained weights.

    from spen_keras.zoo import list_presets, load_preset
    model = load_preset("dp_3")          # or SPEN.from_preset("dp_3")
"""

from spen_keras.zoo.bm3d_baseline import BM3D_PRESETS
from spen_keras.zoo.denoising_presets import DENOISING_PRESETS
from spen_keras.zoo.filter_forest_baseline import FILTER_FOREST_PRESETS
from spen_keras.zoo.keras_baseline_presets import KERAS_BASELINE_PRESETS
from spen_keras.zoo.preset_io import (
    PRESETS_DIR,
    PresetError,
    load_preset,
    preset_path,
    read_metadata,
)

# Table 1's order: the comparison systems, then the SPEN rows.
PRESETS = {**BM3D_PRESETS, **FILTER_FOREST_PRESETS, **KERAS_BASELINE_PRESETS,
           **DENOISING_PRESETS}


def list_presets():
    """Names of every preset spec, in table order."""
    return list(PRESETS)


def get_spec(name):
    """The spec of a preset, or a PresetError naming the known ones."""
    if name not in PRESETS:
        raise PresetError(
            f"Unknown preset {name!r}; known presets: {list_presets()}.")
    return PRESETS[name]


__all__ = [
    "DENOISING_PRESETS",
    "KERAS_BASELINE_PRESETS",
    "PRESETS",
    "PRESETS_DIR",
    "PresetError",
    "get_spec",
    "list_presets",
    "load_preset",
    "preset_path",
    "read_metadata",
]
