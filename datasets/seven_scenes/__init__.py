"""Microsoft 7-Scenes: the TFDS builder and the embedded real frames.

`embedded/stairs/` holds 12 real frames used by `spen_keras.denoising`.
The TFDS builder lives in `seven_scenes_dataset_builder`; it is imported (and
registered with TFDS as "seven_scenes") only when `Builder`,
`SevenScenesConfig` or `official_config` is first accessed here, so importing
this package does not import tensorflow_datasets.
"""

import importlib

_BUILDER_NAMES = ("Builder", "SevenScenesConfig", "official_config")


def __getattr__(name):
    if name in _BUILDER_NAMES:
        builder_module = importlib.import_module(
            f"{__name__}.seven_scenes_dataset_builder")
        return getattr(builder_module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
