"""Shipped presets' recorded numbers against values recomputed here, and the
demo's before/after claim.

`metadata.json` records each preset's PSNR on the embedded test frames and
the noisy input's; `zoo list` and the README print those numbers. Tests that
compare metadata with metadata cannot notice a preset, a layer or the
evaluation protocol drifting away from them, so these recompute the values
on the shipped data with the table's own evaluation: the noisy input for
every preset, a cheap SPEN row of each energy family by default, every row
with --run-large.
"""

import numpy as np
import pytest

from spen_keras import presets
from spen_keras.denoising import demo
from spen_keras.presets.tables import get_table

TABLE = get_table("table1")
ROWS = presets.list_presets(table="table1")
# One FOE and one DeepPrior SPEN row: a few seconds each on 2 cores.
DEFAULT_ROWS = ("foe_3", "dp_3")
TOLERANCE_DB = 0.05


@pytest.fixture(scope="module")
def evaluation_data():
    return TABLE.evaluation_data()


def test_recorded_noisy_input_psnr_is_recomputed(evaluation_data):
    noisy = evaluation_data.reference_values["noisy input"]
    assert 28.5 < noisy < 29.5  # README: the noisy test input sits at 29.0
    for name in ROWS:
        recorded = presets.read_metadata(name)["reference_values"]
        assert recorded["noisy input"] == pytest.approx(noisy,
                                                        abs=TOLERANCE_DB), name


def _check_recorded_value(name, evaluation_data):
    spec = presets.get_spec(name)
    result = TABLE.evaluate(presets.load_preset(name), spec, evaluation_data)
    recorded = presets.read_metadata(name)["our_value"]
    assert result.value == pytest.approx(recorded, abs=TOLERANCE_DB), (
        f"{name}: recomputed {result.value:.3f} dB, metadata.json says "
        f"{recorded:.3f} dB")


@pytest.mark.parametrize("name", DEFAULT_ROWS)
def test_recorded_psnr_is_recomputed(name, evaluation_data):
    _check_recorded_value(name, evaluation_data)


@pytest.mark.large
@pytest.mark.parametrize("name", [n for n in ROWS if n not in DEFAULT_ROWS])
def test_recorded_psnr_is_recomputed_for_every_row(name, evaluation_data):
    _check_recorded_value(name, evaluation_data)


def test_demo_training_raises_psnr(monkeypatch):
    """20 demo steps at batch 2, evaluated on two 128x192 crops of the test
    frames (not the six whole frames), raise PSNR by ~0.2 dB; what is logged
    is what is returned."""
    whole = demo.make_evaluation_arrays

    def cropped(frames):
        x, y = whole(frames)
        return x[:2, 160:288, 200:392], y[:2, 160:288, 200:392]

    monkeypatch.setattr(demo, "make_evaluation_arrays", cropped)
    lines = []
    figures = demo.run_demo(steps=20, batch_size=2, log=lines.append)
    assert figures["before"] == pytest.approx(figures["noisy"], abs=0.5)
    assert figures["after"] > figures["before"] + 0.1, figures
    assert figures["after"] > figures["noisy"]
    table = "\n".join(lines)
    assert f"before training | {figures['before']:.2f} |" in table
    assert "after 20 steps" in table and (
        f"| {figures['after']:.2f} |" in table)
    assert np.isfinite(figures["train_seconds"])
