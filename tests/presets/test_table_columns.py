"""Tables with several metric columns (Table 2: dev WSJ / test WSJ / test
Brown) and printed-only reference rows, through the generic reproduce."""

import json

import pytest

from spen_keras import presets
from spen_keras.presets import tables
from spen_keras.zoo import reproduce

COLUMNS = ("dev", "test")


@pytest.fixture()
def two_column_table(monkeypatch):
    specs = [presets.PresetSpec(
        name=f"fake_{i}", family="fake", table="fake_table", row=f"Row {i}",
        paper_value=[70.0, 80.0][i], metric="F1", description="fake",
        kind="fake_kind", paper_values={"dev": [60.0, 65.0][i],
                                        "test": [70.0, 80.0][i]})
        for i in range(2)]
    monkeypatch.setattr(presets, "_SPECS", {s.name: s for s in specs})

    class Model:
        def __init__(self, value):
            self.value = value

    monkeypatch.setattr(presets, "load_preset",
                        lambda name: Model(10.0 * (1 + int(name[-1]))))

    def evaluate(model, spec, data):
        return tables.RowResult(
            value=model.value, seconds=0.5,
            columns={"dev": model.value - 1, "test": model.value})

    def claim(measured, specs, data):
        return ("row 1 above row 0", measured["fake_1"] > measured["fake_0"])

    table = tables.TableDescription(
        name="fake_table", family="fake", title="Fake", metric="F1",
        unit="%", rows=("fake_0", "fake_1"),
        evaluation_data=lambda data_dir, max_examples: tables.EvaluationData(
            arrays=None, label="nothing", size=3),
        evaluate=evaluate, claims=(tables.Claim(claim),), columns=COLUMNS,
        reference_rows=(("Other (2015)", {"dev": 1.5, "test": 2.5},
                         "their paper"),))
    monkeypatch.setitem(tables._TABLES, "fake_table", table)
    return table


def test_each_column_prints_paper_beside_ours(two_column_table, tmp_path):
    text = reproduce.reproduce_table("fake_table", tmp_path, log=lambda _: 0)
    lines = text.splitlines()
    assert "| row | paper dev | ours dev | paper test | ours test | seconds |" \
        in lines
    assert "| Row 0 | 60.00 | 9.00 | 70.00 | 10.00 | 0.5 |" in lines
    assert "| Row 1 | 65.00 | 19.00 | 80.00 | 20.00 | 0.5 |" in lines
    assert ("| Other (2015) [their paper] | 1.50 | (not reproduced) | 2.50 | "
            "(not reproduced) | - |") in lines
    assert "- agrees: row 1 above row 0" in lines


def test_json_records_every_column_and_reference_row(two_column_table,
                                                     tmp_path):
    reproduce.reproduce_table("fake_table", tmp_path, log=lambda _: 0)
    record = json.loads((tmp_path / "fake_table.json").read_text())
    row = record["rows"]["fake_1"]
    assert row["paper_columns"] == {"dev": 65.0, "test": 80.0}
    assert row["our_columns"] == {"dev": 19.0, "test": 20.0}
    assert row["ours"] == 20.0
    assert record["reference_rows"] == [
        {"label": "Other (2015)", "paper": {"dev": 1.5, "test": 2.5},
         "source": "their paper"}]
