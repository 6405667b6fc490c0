"""Records every shipped Table 1 preset's output on the probe input into
preset_probe_outputs.npz (read by tests/presets/test_presets.py, which then catches
any code change that moves a shipped preset's output).

Run it only when a preset was deliberately retrained or added:

    python tests/data/make_preset_probe_outputs.py --force
"""

import argparse
import pathlib
import sys

import keras
import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
TARGET = HERE / "preset_probe_outputs.npz"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true",
                        help="replace the existing recording")
    args = parser.parse_args(argv)
    if TARGET.exists() and not args.force:
        sys.exit(f"{TARGET} exists; pass --force to record it again.")
    from spen_keras import presets

    x = np.load(TARGET)["x"] if TARGET.exists() else None
    if x is None:
        sys.exit(f"{TARGET} holds the probe input x; it is missing.")
    outputs = {name: keras.ops.convert_to_numpy(presets.load_preset(name)(x))
               for name in presets.list_presets(table="table1")}
    partial = TARGET.with_suffix(".part.npz")
    np.savez(partial, x=x, **outputs)
    with np.load(partial) as written:
        assert all(np.array_equal(written[k], v) for k, v in outputs.items())
    partial.replace(TARGET)
    print(f"Recorded {len(outputs)} presets into {TARGET}.")


if __name__ == "__main__":
    main()
