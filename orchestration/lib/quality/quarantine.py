"""Quarantine mode: rows failing a row-level expectation leave the table for the quarantine.

The quarantine record (whole row as JSON, the suite and expectation as reason) goes to the
quarantine of the row's own region, in the same transaction that deletes the row: a crash
leaves both or neither.
"""

from __future__ import annotations

from orchestration.lib.ingest import ledger
from orchestration.lib.quality.suites import ExpectationSpec
from orchestration.lib.quality.validate import SuiteOutcome, failing_keys
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    delete_where,
    qualified,
    quote_ident,
    store_path,
    table_columns,
    write_connection,
)

ROW_LEVEL_PREFIXES = ("expect_column_values_", "expect_column_value_")


def is_row_level(spec: ExpectationSpec) -> bool:
    return spec.type.startswith(ROW_LEVEL_PREFIXES) or spec.type == "unexpected_rows_expectation"


def quarantine_failing_rows(outcome: SuiteOutcome, schema: str, table: str,
                            key_columns: tuple[str, ...], source_table: str, run_id: str) -> int:
    """Move the rows behind failed row-level error expectations (warnings only report);
    returns how many rows moved."""
    specs = tuple(o.spec for o in outcome.outcomes
                  if o.blocking and o.error is None and is_row_level(o.spec))
    if not specs:
        return 0
    keys = failing_keys(specs, outcome.region, schema, table, key_columns)
    failing = [(*(row[k] for k in key_columns), f"quality {outcome.suite.name}: {label}")
               for label, rows in keys.items() for row in rows]
    if not failing:
        return 0
    columns = ", ".join(quote_ident(k) for k in key_columns)
    target = qualified(schema, table)
    with write_connection(store_path(outcome.region)) as con:
        types = table_columns(con, schema, table)
        declared = ", ".join(f"{quote_ident(k)} {types[k]}" for k in key_columns)
        con.execute(f"CREATE TEMP TABLE failing ({declared}, reason VARCHAR)")
        placeholders = ", ".join("?" * (len(key_columns) + 1))
        con.executemany(f"INSERT INTO failing VALUES ({placeholders})", failing)
        records = con.execute(
            f"SELECT string_agg(DISTINCT f.reason, '; '), to_json(t)::VARCHAR FROM {target} t "
            f"JOIN failing f USING ({columns}) GROUP BY 2").fetchall()
        now = current_time()
        ledger.ensure_region_quarantine(con)
        con.execute("BEGIN")
        con.executemany(
            f"INSERT INTO {ledger.REGION_QUARANTINE} VALUES (?, NULL, NULL, ?, ?, ?, ?)",
            [(source_table, reason, record, run_id, now) for reason, record in records])
        match = " AND ".join(f"t.{quote_ident(k)} = f.{quote_ident(k)}" for k in key_columns)
        moved = delete_where(con, f"{target} t",
                             f"EXISTS (SELECT 1 FROM failing f WHERE {match})")
        con.execute("COMMIT")
    return moved
