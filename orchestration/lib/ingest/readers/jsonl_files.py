"""JSON-lines exports: each line read whole as text, then parsed and typed in SQL, so a broken
line or a value of the wrong type is rejected with its line number and the rest is kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.ingest.readers.shared import (
    FileRefused,
    drift_message,
    read_each,
    region_sql,
    try_typed,
)
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import Connection, quote_ident, sql_literal

SAMPLE_LINES = 1000


def _json_sample_keys(file: LandingFile) -> list[str]:
    keys: dict[str, None] = {}
    with open(file.path, "rb") as handle:
        for _, raw in zip(range(SAMPLE_LINES), handle, strict=False):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                keys.update(dict.fromkeys(record))
    return list(keys)


def read_jsonl_file(con: Connection, spec: SourceTable, file: LandingFile) -> None:
    keys = _json_sample_keys(file)
    if not keys:
        raise FileRefused("no JSON object found in the first lines; is the file empty?")
    if drift := drift_message(spec, keys):
        raise FileRefused(drift)
    # JSON text never holds a raw \x01, so each line arrives whole as one value, numbered.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE json_lines AS SELECT row_number() OVER () AS line, "
        "value FROM read_csv(?, columns = {'value': 'VARCHAR'}, header = false, delim = '\x01', "
        "quote = '', escape = '', auto_detect = false, store_rejects = true, "
        "rejects_table = 'json_errors', rejects_scan = 'json_scans')",
        [str(file.path)],
    )
    con.execute("INSERT INTO rejected SELECT ?, line, error_message, csv_line FROM json_errors",
                [file.name])
    # CASE, not AND: DuckDB may evaluate json_type() on text that is not JSON at all.
    is_object = ("CASE WHEN value IS NOT NULL AND json_valid(value) "
                 "THEN json_type(value) = 'OBJECT' ELSE false END")
    paths = "[" + ", ".join(sql_literal(f"$.{c}") for c in spec.column_names) + "]"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE json_values AS SELECT line, value, "
        f"json_extract_string(value, {paths}) AS raw FROM json_lines WHERE {is_object}"
    )
    con.execute(f"INSERT INTO rejected SELECT ?, line, 'not a JSON object', value "
                f"FROM json_lines WHERE value IS NOT NULL AND NOT ({is_object})", [file.name])
    casts = [try_typed(f"raw[{i}]", c.data_type) for i, c in enumerate(spec.columns, start=1)]
    failures = " || ".join(
        f"CASE WHEN raw[{i}] IS NOT NULL AND {cast} IS NULL THEN "
        f"'{c.name}: cannot convert ' || raw[{i}] || ' to {c.data_type}; ' ELSE '' END"
        for i, (c, cast) in enumerate(zip(spec.columns, casts, strict=True), start=1)
    )
    typed = ", ".join(f"{cast} AS {quote_ident(c.name)}"
                      for cast, c in zip(casts, spec.columns, strict=True))
    con.execute(f"CREATE OR REPLACE TEMP TABLE json_typed AS SELECT line, value, "
                f"{typed}, {failures} AS failure FROM json_values")
    select = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute(f"INSERT INTO incoming SELECT {select}, ?, line, {region_sql(spec)} "
                f"FROM json_typed WHERE failure = ''", [file.name])
    con.execute("INSERT INTO rejected SELECT ?, line, rtrim(failure, '; '), value FROM json_typed "
                "WHERE failure <> ''", [file.name])


def json_routes(spec: SourceTable, rows: list[tuple], _paths: dict[str, Path]) -> list[tuple]:
    """The routing key's string value in each rejected JSON record that still shows it."""
    pair = re.compile(rf'{re.escape(json.dumps(spec.route_by))}\s*:\s*"([^"\\]*)"')
    return [(file, line, match[1]) for file, line, record in rows
            if (match := pair.search(record))]


def read_jsonl_files(con: Connection, spec: SourceTable,
                     files: list[LandingFile]) -> dict[str, str]:
    return read_each(con, spec, files, read_jsonl_file)
