"""The model zoo: the shipped pretrained presets and the tables they
reproduce.

`presets/NAME/` holds one folder per registered preset (config.json, weights,
metadata.json); importing this package registers that folder as the
read-only home of shipped presets (`spen_keras.presets.register_shipped_root`),
so a registered name such as "dp_3" loads from here:

    from spen_keras import SPEN
    model = SPEN.from_preset("dp_3")

`reproduce.reproduce_table(NAME)` (the `spen-keras zoo reproduce TABLE`
command) evaluates every row of a registered table from these presets and
prints it beside the paper's numbers.
"""

import pathlib

from spen_keras.presets import register_shipped_root

PRESETS_DIR = pathlib.Path(__file__).resolve().parent / "presets"

register_shipped_root(PRESETS_DIR)

__all__ = ["PRESETS_DIR"]
