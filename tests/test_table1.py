"""`spen-keras zoo reproduce table1` on a small crop of the embedded frames:
the generic reproduce command driven by Table 1's description."""

import json

import numpy as np
import pytest

from spen_keras import presets
from spen_keras.denoising import load_frames, make_evaluation_arrays
from spen_keras.denoising.table1 import CLAIMS, FIGURE_ROWS, TABLE1
from spen_keras.denoising.table1 import arrays_as_evaluation_data
from spen_keras.zoo import reproduce
from spen_keras.zoo.reproduce import check_claims, reproduce_table

SPECS = {name: presets.get_spec(name) for name in TABLE1.rows}


def claims(measured, noisy=29.0):
    data = arrays_as_evaluation_data(np.ones((1, 2, 2, 1)),
                                     np.ones((1, 2, 2, 1)), "x")
    data.reference_values["noisy input"] = noisy
    return dict(check_claims(TABLE1, SPECS, data, measured))


def test_claims_state_each_claim():
    measured = {"foe_20": 36.0, "foe_3": 37.0, "dp_20": 39.0, "dp_3": 40.0,
                "dp_ssvm": 38.0}
    checked = claims(measured)
    assert len(checked) == 4 and all(checked.values())
    measured["dp_20"] = 41.0
    assert claims(measured)["DP-3 >= DP-20"] is False
    assert list(claims({"foe_3": 33.0}).values()) == [False]
    assert claims({"dp_3": 40.0, "filter_forest": 44.0}) == {
        "every SPEN row >= noisy input + 5 dB (lowest: dp_3 40.00)": True,
        "best SPEN row above every comparison system (best comparison: "
        "filter_forest 44.00)": False}
    # Rows beyond the paper do not enter the paper's comparisons.
    assert claims({"dp_3": 40.0, "bm3d_estimated": 50.0,
                   "dp_3_icnn": 30.0}) == {
        "every SPEN row >= noisy input + 5 dB (lowest: dp_3_icnn 30.00)":
            False}
    assert len(CLAIMS) == 5


@pytest.fixture(scope="module")
def crop_data():
    x, y = make_evaluation_arrays(load_frames("test")[:1])
    return arrays_as_evaluation_data(x[:, 200:264, 300:380],
                                     y[:, 200:264, 300:380], "crop")


def test_reproduce_writes_table_json_and_figures(tmp_path, crop_data):
    table = reproduce_table("table1", tmp_path, data=crop_data,
                            log=lambda line: None)
    lines = table.splitlines()
    assert lines[0].startswith("Table 1, depth denoising PSNR (dB) on crop "
                               "frames (n = 1); noisy input ")
    assert lines[2] == ("| row | paper PSNR | our PSNR | seconds | examples "
                        "seen | steps | lr | validation PSNR | converged |")
    assert "| BM3D | 35.46 |" in table and "| no training |" in table
    for name in TABLE1.rows:
        row = SPECS[name].row
        assert any(line.startswith(f"| {row} |") for line in lines), row
    assert "| DP-3 | 40.40 |" in table
    assert sum(line.startswith("- agrees: ") or line.startswith(
        "- DISAGREES: ") for line in lines) == 5
    x, y = crop_data.arrays
    record = json.loads((tmp_path / "table1.json").read_text())
    assert record["reference_values"]["noisy input"] == pytest.approx(
        float(np.mean(20 * np.log10(1 / np.sqrt(
            ((x - y)[y > 0] ** 2).mean())))), abs=1e-3)
    assert (tmp_path / "table1.md").read_text().strip() == table
    assert set(record["rows"]) == set(TABLE1.rows)
    assert record["rows"]["dp_3"]["paper"] == 40.4
    assert all(row["ours"] is not None for row in record["rows"].values())
    assert len(record["rows"]["dp_20"]["per_iteration"]) == 20
    assert record["rows"]["dp_3"]["per_iteration"] is None
    assert len(record["claims"]) == 5
    assert (tmp_path / "figure1.png").exists() and set(FIGURE_ROWS) <= set(
        TABLE1.rows)
    assert (tmp_path / "psnr_by_iteration.png").exists()
    # Rows trained by the equal-effort protocol report it, with curves.
    trained = [name for name in TABLE1.rows
               if "protocol" in presets.read_metadata(name)]
    for name in trained:
        facts = record["rows"][name]["training"]
        assert facts["examples seen"] == "2,000", name
        assert facts["converged"].split()[0] in ("yes", "NO"), name
    assert (tmp_path / "training_curves.png").exists() == bool(trained)


def test_retrain_trains_every_row_from_scratch(tmp_path, monkeypatch):
    order = []
    monkeypatch.setattr(reproduce.presets, "train_preset",
                        lambda spec, *args, **kwargs: order.append(spec.name))
    x = np.full((1, 16, 16, 1), 0.5, np.float32)
    data = arrays_as_evaluation_data(x, x, "flat")
    table = reproduce_table("table1", tmp_path, retrain=True, data=data,
                            log=lambda line: None)
    assert sorted(order) == sorted(TABLE1.rows)
    # Equal terms: no row starts from another row's weights.
    assert not any(SPECS[name].warm_start for name in TABLE1.rows)
    # Nothing was written by the fake: every row reads from the retrained
    # folder, not the shipped presets, and so is not measured.
    assert "| DP-3 | 40.40 | not measured | - |" in table
