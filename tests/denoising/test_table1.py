"""`spen-keras zoo reproduce table1` on a small crop of the embedded frames:
the generic reproduce command driven by Table 1's description."""

import json

import numpy as np
import pytest

from spen_keras import presets
from spen_keras.denoising import load_frames, make_evaluation_arrays
from spen_keras.denoising import table1
from spen_keras.denoising.table1 import CLAIMS, FIGURE_ROWS, TABLE1
from spen_keras.denoising.table1 import arrays_as_evaluation_data
from spen_keras.denoising.table1 import gradient_energy_ratio
from spen_keras.denoising.table1 import steps_to_fraction
from spen_keras.zoo import reproduce
from spen_keras.zoo.reproduce import check_claims, reproduce_table

SPECS = {name: presets.get_spec(name) for name in TABLE1.rows}


def claims(measured, noisy=29.0, measures=None, role="test"):
    data = arrays_as_evaluation_data(np.ones((1, 2, 2, 1)),
                                     np.ones((1, 2, 2, 1)), "x", role=role)
    data.reference_values["noisy input"] = noisy
    data.measures.update(measures or {})
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
    assert len(CLAIMS) == 12


def text_claims(measured, **kwargs):
    """The claims of the paper's text checked on `measured` (without the
    five that summarise its table)."""
    table_claims = ("every SPEN row", "best SPEN row", "DeepPrior rows",
                    "DP-3 >= DP-20", "end-to-end DP above")
    return {statement: holds for statement, holds
            in claims(measured, **kwargs).items()
            if not statement.startswith(table_claims)}


def test_the_claims_of_the_papers_text():
    assert text_claims({"foe_20": 36.0, "foe_20_plus": 36.5}) == {
        "FOE-20+ (Eq. 9 loss, momentum 0.25, learned rates) above FOE-20: "
        "36.50 vs 36.00 (+0.50 dB; paper +0.93)": True}
    assert text_claims({"foe_3": 37.0, "foe_20_plus": 37.5}) == {
        "FOE-3 above FOE-20+: 37.00 vs 37.50 (-0.50 dB; paper +0.28)": False}
    similar = text_claims({"foe_20": 36.0, "proximalnet": 36.5})
    assert list(similar.values()) == [True]
    assert "within 0.5 dB; paper 0.10): 36.00 vs 36.50 (-0.50 dB)" in next(
        iter(similar))
    assert list(text_claims({"foe_20": 36.0, "proximalnet": 36.6}).values()) == [
        False]
    # FOE-SSVM against the lowest of the paper's end-to-end FOE rows (the
    # input-convex FOE is beyond the paper and not compared).
    assert text_claims({"foe_ssvm": 36.0, "foe_20": 36.0, "foe_3": 37.0,
                   "foe_3_icnn": 38.0})[
        "FOE-SSVM competitive with the end-to-end FOE rows (not below the "
        "lowest, FOE-20 36.00): 36.00"] is True
    assert list(text_claims({"foe_ssvm": 35.9, "foe_20": 36.0}).values()) == [
        False]
    # Over-smoothing: DP-20's gradient energy below 1 and below DP-3's.
    smooth = {"dp_20": {"gradient_energy_ratio": 0.6},
              "dp_3": {"gradient_energy_ratio": 0.8}}
    assert text_claims({}, measures=smooth) == {
        "unrolling 20 steps over-smooths: the gradient energy of DP-20's "
        "outputs is 0.600 of the clean frames' (below 1 and below DP-3's "
        "0.800)": True}
    smooth["dp_20"]["gradient_energy_ratio"] = 0.9
    assert list(text_claims({}, measures=smooth).values()) == [False]
    # The paper's ICNN: below every row of the paper's table; the rows
    # beyond it (ours, the augmented ones) are not the bar.
    icnn = claims({"dp_3_icnn_paper": 30.0, "bm3d": 35.0, "dp_3_icnn": 20.0,
                   "dp_3_augmented": 10.0, "dp_3": 40.0})
    (statement, holds), = [(k, v) for k, v in icnn.items() if "ICNN" in k]
    assert holds is True and "lowest: BM3D 35.00" in statement
    assert "our input-convex DP-3 (non-negative weights after the first " \
           "layer) 20.00" in statement
    # ... and it never enters the other claims.
    assert "dp_3_icnn_paper" not in "".join(icnn)
    assert list(text_claims({"dp_3_icnn_paper": 36.0, "bm3d": 35.0}).values()) \
        == [False]


def test_convergence_speed_is_read_from_the_validation_curves():
    assert steps_to_fraction([(0, 0.0), (100, 10.0)]) == pytest.approx(90)
    assert steps_to_fraction([(0, 20.0), (50, 29.0), (100, 30.0)]) == \
        pytest.approx(50)
    assert steps_to_fraction([(0, 30.0), (100, 30.0)]) is None

    def metadata(curve):
        return {"metadata": {"protocol": {
            "chosen_learning_rate": 0.01,
            "learning_rates_tried": {"0.01": {"curve": curve}}}}}

    fast = [(0, 20.0), (50, 29.0), (100, 30.0)]
    slow = [(0, 20.0), (50, 21.0), (100, 30.0)]
    measures = {"foe_20": metadata(slow), "foe_20_plus": metadata(fast)}
    measured = {"foe_20": 30.0, "foe_20_plus": 30.0}
    checked = claims(measured, measures=measures, role="validation")
    statement = ("FOE-20+ converges faster than FOE-20: crops seen until the "
                 "validation curve first reaches 90% of its run's gain 200 "
                 "vs 378")
    assert checked[statement] is True
    # Checked once: on the validation results, whose curves they are.
    assert statement not in claims(measured, measures=measures)
    measures = {"foe_20": metadata(fast), "foe_20_plus": metadata(slow)}
    assert claims(measured, measures=measures, role="validation")[
        statement.replace("200 vs 378", "378 vs 200")] is False


def test_gradient_energy_ratio():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.2, 0.8, (2, 6, 7, 1))
    assert gradient_energy_ratio(y, y) == pytest.approx(1.0)
    assert gradient_energy_ratio(y, np.full_like(y, 0.5)) == 0.0
    assert gradient_energy_ratio(y, 0.5 + 2 * (y - 0.5)) == pytest.approx(4)
    # Pairs touching an invalid clean pixel do not count, whatever the
    # output holds there.
    holed = y.copy()
    holed[0, 2, 3, 0] = 0.0
    garbage = y.copy()
    garbage[0, 2, 3, 0] = 100.0
    assert gradient_energy_ratio(holed, garbage) == pytest.approx(1.0)
    # Only the horizontal neighbours differ: the ratio is their share.
    stripes = np.tile(np.arange(7.0)[None, None, :, None] % 2 + 1,
                      (1, 6, 1, 1))
    flat = np.ones_like(stripes)
    assert gradient_energy_ratio(stripes, flat) == 0.0


@pytest.fixture(scope="module")
def crop_data():
    x, y = make_evaluation_arrays(load_frames("test")[:1])
    return arrays_as_evaluation_data(x[:, 200:264, 300:380],
                                     y[:, 200:264, 300:380], "crop")


@pytest.fixture(scope="module")
def validation_crop():
    data = table1.validation_data()
    x, y = data.arrays
    return arrays_as_evaluation_data(x[:1, 200:264, 300:380],
                                     y[:1, 200:264, 300:380], "crop",
                                     role="validation", note="")


def test_validation_data_is_what_the_rows_were_chosen_on():
    """Measured again, the shipped presets' validation PSNR is the one
    their protocol record holds (the same frames, noise and weights)."""
    data = table1.validation_data()
    assert data.role == "validation" and data.size == 3
    for name in ("dp_3", "foe_3"):
        protocol = presets.read_metadata(name)["protocol"]
        recorded = protocol["learning_rates_tried"][
            f"{protocol['chosen_learning_rate']:g}"]["final_validation_psnr"]
        result = TABLE1.evaluate(presets.load_preset(name), SPECS[name], data)
        assert result.value == pytest.approx(recorded, abs=0.01), name


def test_reproduce_writes_table_json_and_figures(tmp_path, crop_data,
                                                 validation_crop):
    table = reproduce_table("table1", tmp_path, data=crop_data,
                            validation_data=validation_crop,
                            log=lambda line: None)
    lines = table.splitlines()
    assert lines[0].startswith("Table 1, depth denoising PSNR (dB) on crop "
                               "frames (n = 1); noisy input ")
    # The protocol difference, beside the numbers.
    assert lines[1].startswith("Protocol: the paper trains on crops of 200 "
                               "frames of one scene and tests on 5,500")
    assert "same staircase" in lines[1] and "--data-dir" in lines[1]
    assert lines[3] == ("| row | paper PSNR | our PSNR | seconds | "
                        "validation PSNR | examples seen | steps | lr | "
                        "converged |")
    assert "| BM3D | 35.46 |" in table and "| no training |" in table
    for name in TABLE1.rows:
        row = SPECS[name].row
        assert any(line.startswith(f"| {row} |") for line in lines), row
    assert "| DP-3 | 40.40 |" in table
    checked = {role: [line for line in lines
                      if line.startswith(f"- agrees [{role}]: ")
                      or line.startswith(f"- DISAGREES [{role}]: ")]
               for role in ("test", "validation")}
    # Every claim on both, but the one read from the validation curves.
    assert len(checked["test"]) == len(CLAIMS) - 1
    assert len(checked["validation"]) == len(CLAIMS)
    assert sum(line.startswith("- ") for line in lines) == 2 * len(CLAIMS) - 1
    assert any("FOE-20+ converges faster" in line
               for line in checked["validation"])
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
    assert len(record["claims"]) == 2 * len(CLAIMS) - 1
    assert {claim["on"] for claim in record["claims"]} == {"test",
                                                          "validation"}
    assert record["validation_data"]["n"] == 1
    assert all(row["validation"] is not None
               for row in record["rows"].values())
    assert 0 < record["rows"]["dp_20"]["measures"]["gradient_energy_ratio"]
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
