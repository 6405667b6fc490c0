"""`spen-keras zoo reproduce TABLE`: any registered table beside the paper.

Driven entirely by the table's `TableDescription` (registered by its
family): every row is evaluated on the same data by the family's `evaluate`,
from the shipped pretrained presets (or from retrained copies with
`retrain=True`). Writes TABLE.md (the printed table with the paper's claims
checked), TABLE.json and the family's figures into the output folder.
"""

import json
import pathlib

from spen_keras import presets
from spen_keras.presets.tables import get_table


def _retrain(table, specs, retrained_root, output_dir, log):
    # Rows that warm-start from another row train after it.
    for name in sorted(table.rows, key=lambda n: bool(specs[n].warm_start)):
        spec = specs[name]
        log(f"[{name}] retraining ...")
        presets.train_preset(
            spec, retrained_root / name, output_dir / "backup" / name,
            command=f"spen-keras zoo reproduce {table.name} --retrain",
            presets_root=str(retrained_root), overwrite=True)


def _number(value):
    return "-" if value is None else f"{value:.2f}"


def format_table(table, specs, data, results, claims, validation=None):
    """The Markdown table: header, one line per row, the claims.

    validation: {row: RowResult} on the table's validation data, printed
    as a column beside the test values (None or empty: no column).
    """
    header = (table.header(data) if table.header else
              f"{table.title} ({table.metric}, {table.unit}) on {data.label} "
              f"(n = {data.size})")
    metric = table.metric
    if table.columns:
        return _format_columns(table, specs, header, results, claims)
    validation = validation or {}
    facts = {name: result.extras.get("training_facts") or {}
             for name, result in results.items()}
    extra = list(dict.fromkeys(
        ([f"validation {metric}"] if validation else [])
        + [k for f in facts.values() for k in f]))
    for name, result in validation.items():
        facts.setdefault(name, {})[f"validation {metric}"] = (
            f"{result.value:.2f}")
    lines = [header, "",
             f"| row | paper {metric} | our {metric} | seconds |"
             + "".join(f" {k} |" for k in extra),
             "|---|---|---|---|" + "---|" * len(extra)]
    for name in table.rows:
        spec = specs[name]
        paper = _number(spec.paper_value)
        if name in results:
            result = results[name]
            cells = "".join(f" {facts[name].get(k, '-')} |" for k in extra)
            lines.append(f"| {spec.row} | {paper} | {result.value:.2f} | "
                         f"{result.seconds:.1f} |" + cells)
        else:
            lines.append(f"| {spec.row} | {paper} | not measured | - |"
                         + " - |" * len(extra))
    return "\n".join(lines + _claim_lines(claims))


def _claim_lines(claims):
    """One line per checked claim; `claims` holds (statement, holds) or
    (statement, holds, role) with the data's role when a table checks its
    claims on more than one evaluation set."""
    lines = [""]
    for claim in claims:
        statement, holds = claim[:2]
        role = f" [{claim[2]}]" if len(claim) > 2 else ""
        lines.append(f"- {'agrees' if holds else 'DISAGREES'}{role}: "
                     f"{statement}")
    return lines


def _format_columns(table, specs, header, results, claims):
    """A table with one paper / ours pair of columns per evaluation set."""
    names = list(table.columns)
    lines = [header, "",
             "| row | " + " | ".join(f"paper {c} | ours {c}" for c in names)
             + " | seconds |",
             "|---|" + "---|---|" * len(names) + "---|"]
    for name in table.rows:
        spec = specs[name]
        paper = spec.paper_values or {}
        result = results.get(name)
        ours = (result.columns or {}) if result is not None else {}
        cells = [f"{_number(paper.get(c))} | "
                 + (_number(ours.get(c)) if result is not None
                    else "not measured") for c in names]
        seconds = f"{result.seconds:.1f}" if result is not None else "-"
        lines.append(f"| {spec.row} | " + " | ".join(cells)
                     + f" | {seconds} |")
    for label, values, source in table.reference_rows:
        cells = [f"{_number(values.get(c))} | (not reproduced)"
                 for c in names]
        lines.append(f"| {label} [{source}] | " + " | ".join(cells)
                     + " | - |")
    return "\n".join(lines + _claim_lines(claims))


def check_claims(table, specs, data, measured):
    """(statement, holds) of every claim whose rows were measured."""
    checked = [claim.check(measured, specs, data) for claim in table.claims]
    return [c for c in checked if c is not None]


def _measures(data, results, metadata):
    """Fills `data.measures` for the claims (see `EvaluationData`)."""
    data.measures.clear()
    for row, result in results.items():
        data.measures[row] = dict(result.measures, columns=result.columns,
                                  metadata=metadata.get(row))


def _read_metadata(source):
    try:
        return presets.read_metadata(source)
    except presets.PresetError:
        return None


def reproduce_table(name, output_dir, retrain=False, data_dir=None,
                    max_examples=None, data=None, validation_data=None,
                    log=print):
    """Evaluates every row of a registered table; returns the Markdown table.

    Args:
        name: a registered table ("table1").
        output_dir: where NAME.md, NAME.json and the figures go.
        retrain: retrain every row into output_dir/presets first (replacing
            an earlier retrain's presets there).
        data_dir: evaluate on a full data folder instead of the embedded
            data (the family's `evaluation_data` says what it accepts).
        max_examples: with data_dir, evaluate at most this many examples
            (None: the table's own default).
        data: an `EvaluationData` to use as is (e.g. a small crop in tests).
        validation_data: an `EvaluationData` (role "validation") to use as
            the table's validation data; by default the table's own, except
            when `data` is given (then none unless passed).
        log: where progress lines go.
    """
    table = get_table(name)
    specs = {row: presets.get_spec(row) for row in table.rows}
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if data is None:
        data = table.evaluation_data(data_dir, max_examples)
        if validation_data is None and table.validation_data:
            validation_data = table.validation_data()
    retrained_root = output_dir / "presets"
    if retrain:
        _retrain(table, specs, retrained_root, output_dir, log)
    results, validation, metadata, skipped = {}, {}, {}, {}
    for row in table.rows:
        source = retrained_root / row if retrain else row
        try:
            model = presets.load_preset(source)
        except presets.PresetError as error:
            skipped[row] = str(error)
            log(f"[{row}] skipped: {error}")
            continue
        results[row] = table.evaluate(model, specs[row], data)
        metadata[row] = _read_metadata(source)
        results[row].extras["metadata"] = metadata[row]
        if table.training_facts is not None:
            results[row].extras["training_facts"] = table.training_facts(
                specs[row], metadata[row])
        line = f"[{row}] {results[row].value:.2f} {table.unit}"
        seconds = results[row].seconds
        if validation_data is not None:
            validation[row] = table.evaluate(model, specs[row],
                                             validation_data)
            line += f" (validation {validation[row].value:.2f})"
            seconds += validation[row].seconds
        log(f"{line} in {seconds:.1f} s")

    measured = {row: result.value for row, result in results.items()}
    _measures(data, results, metadata)
    claims = check_claims(table, specs, data, measured)
    if validation_data is not None:
        _measures(validation_data, validation, metadata)
        claims = [claim + (data.role,) for claim in claims] + [
            claim + (validation_data.role,) for claim in check_claims(
                table, specs, validation_data,
                {row: result.value for row, result in validation.items()})]
    text = format_table(table, specs, data, results, claims, validation)
    (output_dir / f"{name}.md").write_text(text + "\n")
    record = {
        "table": name, "title": table.title,
        "metric": f"{table.metric} ({table.unit})",
        "data": data.label, "n": data.size,
        "reference_values": data.reference_values,
        "validation_data": (None if validation_data is None else {
            "data": validation_data.label, "n": validation_data.size,
            "reference_values": validation_data.reference_values}),
        "rows": {row: {"label": specs[row].row,
                       "paper": specs[row].paper_value,
                       "ours": measured.get(row),
                       "validation": (validation[row].value
                                      if row in validation else None),
                       "paper_columns": specs[row].paper_values,
                       "our_columns": (results[row].columns
                                       if row in results else None),
                       "seconds": (results[row].seconds
                                   if row in results else None),
                       "per_iteration": (list(results[row].curve)
                                         if row in results
                                         and results[row].curve is not None
                                         else None),
                       "measures": (results[row].measures
                                    if row in results else None),
                       "validation_measures": (validation[row].measures
                                               if row in validation
                                               else None),
                       "training": (results[row].extras.get("training_facts")
                                    if row in results else None)}
                 for row in table.rows},
        "claims": [{"claim": claim[0], "holds": bool(claim[1]),
                    "on": claim[2] if len(claim) > 2 else data.role}
                   for claim in claims],
        "skipped": skipped,
        "reference_rows": [{"label": label, "paper": values,
                            "source": source}
                           for label, values, source in table.reference_rows],
    }
    (output_dir / f"{name}.json").write_text(json.dumps(record, indent=2))
    if table.figures is not None and results:
        table.figures(output_dir, data, results)
    return text
