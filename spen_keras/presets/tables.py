"""Tables as data: what `spen-keras zoo reproduce TABLE` needs to know.

A family describes each paper table it reproduces with a `TableDescription`
and registers it (`register_table`); the zoo's one generic reproduce command
is driven by it. A row is a registered preset (its label and paper value
live in its `PresetSpec`, once); the claims of the paper are small
predicates over the measured rows; evaluation data, the per-row evaluation
and the figures are functions of the family.
"""

import dataclasses
from typing import Callable, Optional, Sequence

_TABLES = {}


@dataclasses.dataclass(frozen=True)
class RowResult:
    """One measured row.

    Attributes:
        value: the table's metric.
        seconds: evaluation time.
        extras: family-specific results used by its figures (e.g. the
            predictions, a curve per iteration); not written to JSON.
        curve: optional metric per unrolled iteration (written to JSON).
        columns: for a table with several columns, the metric per column
            name (`value` is then the table's primary column).
        measures: further numbers the table's claims use (e.g. the
            outputs' gradient energy against the targets'); written to
            JSON.
    """

    value: float
    seconds: float
    extras: dict = dataclasses.field(default_factory=dict)
    curve: Optional[Sequence[float]] = None
    columns: Optional[dict] = None
    measures: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EvaluationData:
    """Evaluation data of a table.

    Attributes:
        arrays: family-defined (e.g. (x, y)).
        label: description for the header ("embedded 7-Scenes stairs test").
        size: number of evaluation examples (n in the header).
        reference_values: metric of trivial predictors, e.g.
            {"noisy input": 29.03}; available to claims and headers.
        role: "test" (what the table reports) or "validation" (the data
            its rows' training choices were made on); claims are checked
            on each and the verdicts say which.
        note: a sentence printed beside the numbers (e.g. how the
            protocol differs from the paper's); may be empty.
        measures: filled by `reproduce` for the claims: {row: {the row's
            `RowResult.measures`, "columns": its columns, "metadata": its
            preset's metadata (None if it has none)}}.
    """

    arrays: object
    label: str
    size: int
    reference_values: dict = dataclasses.field(default_factory=dict)
    role: str = "test"
    note: str = ""
    measures: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A qualitative claim of the paper, checked on the measured rows.

    `check(measured, specs, data)` returns None when the rows it needs were
    not measured (or the claim is not checked on `data.role`), else
    `(statement, holds)`; `measured` maps preset names to values on `data`,
    `specs` maps them to their `PresetSpec`s, and `data.measures` holds
    each measured row's further measures and metadata.
    """

    check: Callable


@dataclasses.dataclass(frozen=True)
class TableDescription:
    """One paper table.

    Attributes:
        name: the CLI's name ("table1").
        family: the registering family.
        title: the header's start ("Table 1, depth denoising").
        metric: the metric's name as printed ("PSNR").
        unit: its unit ("dB").
        rows: preset names in the paper's order (then rows beyond it).
        evaluation_data: `evaluation_data(data_dir=None, max_examples=None)`
            -> `EvaluationData` (data_dir None: the embedded data).
        evaluate: `evaluate(model, spec, data)` -> `RowResult`.
        claims: the paper's claims.
        figures: `figures(output_dir, data, results)` -> written paths.
        header: `header(data)` -> first line of the printed table.
        retrain_minutes: rough time of `--retrain` on 2 CPU cores.
        columns: names of the metric's columns for a table that reports
            it on several evaluation sets (e.g. ("dev WSJ", "test WSJ",
            "test Brown")); each row's paper values are then
            `PresetSpec.paper_values` and its measured ones
            `RowResult.columns`. Empty: one column.
        reference_rows: rows of the paper printed as published values only
            (systems we do not reproduce): (label, {column: value}, source).
        training_facts: optional `training_facts(spec, metadata)` -> an
            ordered {column: text} of how the row's preset was trained
            (e.g. examples seen, steps, whether its convergence criterion
            was met), read from the preset's metadata (None if it has
            none) and printed as extra columns.
        validation_data: optional `validation_data()` -> `EvaluationData`
            (role "validation") of the held-out data the rows' training
            choices were made on; every row is measured on it too and the
            claims are checked on both.
    """

    name: str
    family: str
    title: str
    metric: str
    unit: str
    rows: tuple
    evaluation_data: Callable
    evaluate: Callable
    claims: tuple = ()
    figures: Optional[Callable] = None
    header: Optional[Callable] = None
    retrain_minutes: Optional[int] = None
    columns: tuple = ()
    reference_rows: tuple = ()
    training_facts: Optional[Callable] = None
    validation_data: Optional[Callable] = None


def all_measured(measured, *rows):
    """Whether every one of `rows` was measured (for a claim's check)."""
    return all(row in measured for row in rows)


def register_table(table):
    if not isinstance(table, TableDescription):
        raise TypeError(f"Expected TableDescription, got "
                        f"{type(table).__name__}.")
    _TABLES[table.name] = table
    return table


def list_tables():
    return list(_TABLES)


def get_table(name):
    if name not in _TABLES:
        raise KeyError(f"Unknown table {name!r}; known tables: "
                       f"{list_tables()}.")
    return _TABLES[name]
