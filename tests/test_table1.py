"""`spen-keras zoo reproduce table1` on a small crop of the embedded frames."""

import json

import numpy as np
import pytest

from spen_keras import cli
from spen_keras.denoising import load_frames, make_evaluation_arrays
from spen_keras.zoo.table1 import FIGURE_ROWS, ordering_checks
from spen_keras.zoo.table1 import reproduce_table1


def test_ordering_checks_state_each_claim():
    measured = {"foe_20": 36.0, "foe_3": 37.0, "dp_20": 39.0, "dp_3": 40.0,
                "dp_ssvm": 38.0}
    checks = dict(ordering_checks(measured, noisy=29.0))
    assert all(checks.values())
    measured["dp_20"] = 41.0
    checks = dict(ordering_checks(measured, noisy=29.0))
    assert checks["DP-3 >= DP-20"] is False
    low = dict(ordering_checks({"foe_3": 33.0}, noisy=29.0))
    assert list(low.values()) == [False]
    beaten = dict(ordering_checks({"dp_3": 40.0, "filter_forest": 44.0},
                                  noisy=29.0))
    assert beaten == {"every SPEN row >= noisy input + 5 dB (lowest: dp_3 "
                      "40.00)": True,
                      "best SPEN row above every comparison system (best "
                      "comparison: filter_forest 44.00)": False}


def test_reproduce_writes_table_json_and_figures(tmp_path):
    x, y = make_evaluation_arrays(load_frames("test")[:1])
    x, y = x[:, 200:264, 300:380], y[:, 200:264, 300:380]
    table = reproduce_table1(x, y, tmp_path, log=lambda line: None)
    lines = table.splitlines()
    assert lines[2] == "| row | paper PSNR | our PSNR | seconds |"
    for row in ("BM3D", "FilterForest", "ProximalNet", "FOE-20", "DP-3",
                "DP-SSVM", "Feed-forward convnet"):
        assert any(line.startswith(f"| {row} |") for line in lines), row
    record = json.loads((tmp_path / "table1.json").read_text())
    assert record["noisy_input_psnr"] == pytest.approx(
        float(np.mean(20 * np.log10(1 / np.sqrt(
            ((x - y)[y > 0] ** 2).mean())))), abs=1e-3)
    assert (tmp_path / "table1.md").read_text().strip() == table
    # Every shipped preset is measured; the figure exists once any of its
    # rows is, and the iteration plot once a T = 20 row is.
    assert (tmp_path / "figure1.png").exists() == any(
        name in record["psnr"] for name in FIGURE_ROWS)
    assert (tmp_path / "psnr_by_iteration.png").exists() == bool(
        record["psnr_by_iteration"])


def test_zoo_list_prints_every_row(capsys):
    assert cli.main(["zoo", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("bm3d", "filter_forest", "proximalnet", "dp_3", "dp_ssvm"):
        assert f"| {name} |" in out


def test_retrain_trains_warm_start_sources_first(tmp_path, monkeypatch):
    from spen_keras.zoo import PRESETS
    from spen_keras.zoo import table1

    order = []
    monkeypatch.setattr(table1, "train_preset",
                        lambda spec, *args, **kwargs: order.append(spec.name))
    import dataclasses

    for name, spec in PRESETS.items():
        if hasattr(spec, "fit"):  # frozen dataclass: swap in a copy
            monkeypatch.setitem(PRESETS, name, dataclasses.replace(
                spec, fit=lambda *a, _n=name, **k: order.append(_n)))
    x = np.full((1, 16, 16, 1), 0.5, np.float32)
    table = reproduce_table1(x, x, tmp_path, retrain=True,
                             log=lambda line: None)
    assert sorted(order) == sorted(PRESETS)
    assert order.index("dp_3") < order.index("dp_20")
    # Nothing was written by the fakes: every row reads from the retrained
    # folder, not the shipped presets, and so is not measured.
    assert "| DP-3 | 40.40 | not measured | - |" in table
