"""`steward add source`: a source table declared from a sample export, in one command.

From the sample it infers each column's type (DuckDB reads it as ingest will), proposes a
classification from what the PII detectors find in its values, picks the key and the country
column rows are routed by, and writes the source block, the staging model and a skeleton
expectation suite. Owner and retention are left as the placeholder `TODO`, which the policy
check refuses until a person fills them in: only they can say who owns the data and how long
it may be kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from orchestration.lib.settings import get_settings
from orchestration.lib.sources import FORMATS, load_source_tables
from orchestration.lib.warehouse import Error, engine, quote_ident, sql_literal
from policies.detection import scan
from policies.engine import DETECTED_LEVEL
from policies.rules import load_rules
from policies.violations import PLACEHOLDER

SAMPLE_ROWS = 1000
_READERS = {"csv": "read_csv", "parquet": "read_parquet", "jsonl": "read_json"}
_TIME_TYPES = ("TIMESTAMP", "DATE")


class ScaffoldError(ValueError):
    """The sample cannot be declared as it is; the message says why and what to do."""


@dataclass(frozen=True)
class ScaffoldedSource:
    written: tuple[Path, ...]
    columns: dict[str, tuple[str, str]]  # name → (type, proposed classification)
    primary_key: str
    route_by: str
    event_time: str | None


def _declared_type(duckdb_type: str) -> str:
    """DuckDB's type of a sampled column as a declared data_type (what ingest casts to)."""
    kind = duckdb_type.upper()
    if kind.startswith("DECIMAL") or kind in ("BIGINT", "DOUBLE", "VARCHAR", "DATE", "BOOLEAN"):
        return kind
    if kind.startswith("TIMESTAMP"):
        return "TIMESTAMP"
    if kind in ("INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "HUGEINT"):
        return "BIGINT"
    if kind in ("FLOAT", "REAL"):
        return "DOUBLE"
    return "VARCHAR"


def _sample(path: Path, fmt: str) -> tuple[dict[str, str], dict[str, list]]:
    """Column types and up to SAMPLE_ROWS values per column, read by DuckDB."""
    reader = f"{_READERS[fmt]}({sql_literal(str(path))})"
    with engine() as con:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            rows = con.execute(f"SELECT * FROM {reader} LIMIT {SAMPLE_ROWS}").fetchall()
        except Error as error:
            raise ScaffoldError(f"{path}: DuckDB cannot read it as {fmt}: "
                                f"{str(error).splitlines()[0]}") from None
    types = {name: _declared_type(kind) for name, kind, *_ in described}
    values = {name: [row[i] for row in rows] for i, name in enumerate(types)}
    return types, values


def _primary_key(values: dict[str, list]) -> str:
    """The first id-like column whose sampled values are all present and distinct."""
    candidates = sorted(values, key=lambda c: (not (c == "id" or c.endswith("_id")),
                                               list(values).index(c)))
    for column in candidates:
        sampled = values[column]
        if sampled and None not in sampled and len(set(sampled)) == len(sampled):
            return column
    raise ScaffoldError("no column of the sample has a value in every row, all distinct: "
                        "Steward needs a primary key; add one to the export")


def _route_by(values: dict[str, list]) -> str:
    """The column whose values are all countries policies/regions.yaml knows."""
    countries = set(load_rules().country_regions)
    for column, sampled in values.items():
        present = [v for v in sampled if v is not None]
        if present and all(isinstance(v, str) and v in countries for v in present):
            return column
    raise ScaffoldError("no column holds only country codes of policies/regions.yaml: "
                        "Steward keeps each row in its region's store, routed by one; add it "
                        "to the export (or the country to regions.yaml)")


def _source_block(name: str, table: str, fmt: str, types: dict[str, str],
                  levels: dict[str, str], key: str, route_by: str,
                  event_time: str | None) -> dict:
    steward = {"format": fmt, "landing": f"{name}/{table}", "primary_key": key,
               "route_by": route_by}
    if event_time:
        steward["event_time"] = event_time
    columns = []
    for column, data_type in types.items():
        declared = {"name": column, "data_type": data_type}
        if levels[column] != "none":
            declared["config"] = {"meta": {"classification": levels[column]}}
        columns.append(declared)
    return {"name": name, "schema": f"raw_{name}",
            "description": f"Exports of {name}, declared by `steward add source`.",
            "config": {"meta": {"steward": {"owner": PLACEHOLDER, "retention": PLACEHOLDER}}},
            "tables": [{"name": table, "config": {"meta": {"steward": steward}},
                        "columns": columns}]}


def _suite(name: str, table: str, types: dict[str, str], route_by: str) -> dict:
    return {
        "name": f"{name}_{table}",
        "meta": {"steward": {"asset": f"{name}/{table}", "failing_rows": "block"}},
        "expectations": [
            {"type": "expect_table_columns_to_match_set",
             "kwargs": {"column_set": list(types), "exact_match": False},
             "meta": {"severity": "error"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": route_by},
             "meta": {"severity": "error"}},
        ],
    }


def add_source(name: str, table: str, fmt: str, sample: Path) -> ScaffoldedSource:
    """Write the declaration, staging model and suite of `name.table` from a sample export."""
    if fmt not in FORMATS:
        raise ScaffoldError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    for identifier in (name, table):
        quote_ident(identifier)  # refuses anything that is not a plain identifier
    if any((s.source, s.table) == (name, table) for s in load_source_tables()):
        raise ScaffoldError(f"{name}.{table} is declared already")
    staging = get_settings().dbt_project_dir / "models" / "staging" / name
    declaration = staging / f"_{name}__sources.yml"
    model = staging / f"stg_{name}__{table}.sql"
    suite = get_settings().expectations_dir / f"{name}_{table}.json"
    existing = [p for p in (declaration, model, suite) if p.exists()]
    if existing:
        raise ScaffoldError(f"would overwrite {', '.join(map(str, existing))}; declare another "
                            "table of an existing source by hand")
    types, values = _sample(sample, fmt)
    levels = {column: DETECTED_LEVEL if scan(values[column]).detected else "none"
              for column in types}
    key, route_by = _primary_key(values), _route_by(values)
    event_time = next((c for c, t in types.items() if t in _TIME_TYPES), None)
    staging.mkdir(parents=True, exist_ok=True)
    declaration.write_text(yaml.safe_dump(
        {"version": 2, "sources": [_source_block(name, table, fmt, types, levels, key,
                                                  route_by, event_time)]},
        sort_keys=False, allow_unicode=True))
    for column in types:
        quote_ident(column)  # a column name goes into SQL: plain identifiers only
    selected = ",\n".join(f"    {column}" for column in types)
    model.write_text(f"select\n{selected}\nfrom {{{{ source('{name}', '{table}') }}}}\n")
    suite.write_text(json.dumps(_suite(name, table, types, route_by), indent=2) + "\n")
    return ScaffoldedSource((declaration, model, suite),
                            {c: (types[c], levels[c]) for c in types}, key, route_by, event_time)
