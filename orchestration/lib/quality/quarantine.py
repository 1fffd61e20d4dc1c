"""Quarantine mode: rows failing a row-level expectation leave the table for the quarantine.

The quarantine record (whole row as JSON, the suite and expectation as reason) goes to the
quarantine of the row's own region, in the same transaction that deletes the row: a crash
leaves both or neither.
"""

from __future__ import annotations

import pyarrow as pa

from orchestration.lib.ingest import ledger
from orchestration.lib.quality.suites import ExpectationSpec
from orchestration.lib.quality.validate import SuiteOutcome, failing_keys
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    delete_where,
    qualified,
    quote_ident,
    stage_arrow,
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
    failed = [o for o in outcome.outcomes
              if o.blocking and o.error is None and is_row_level(o.spec)]
    if not failed:
        return 0
    keys = failing_keys(tuple(o.spec for o in failed), outcome.region, schema, table,
                        key_columns, max(o.unexpected_count or 0 for o in failed))
    failing = [(row, f"quality {outcome.suite.name}: {label}")
               for label, rows in keys.items() for row in rows]
    if not failing:
        return 0
    columns = ", ".join(quote_ident(k) for k in key_columns)
    target = qualified(schema, table)
    with write_connection(store_path(outcome.region)) as con:
        types = table_columns(con, schema, table)
        # Staged as Arrow: row by row, the drivers take seconds per ten thousand keys.
        stage_arrow(con, "failing_keys", pa.table({
            **{k: [row[k] for row, _ in failing] for k in key_columns},
            "reason": [reason for _, reason in failing]}))
        casts = ", ".join(f"CAST({quote_ident(k)} AS {types[k]}) AS {quote_ident(k)}"
                          for k in key_columns)
        con.execute(f"CREATE TEMP TABLE failing AS SELECT {casts}, reason FROM failing_keys")
        ledger.ensure_region_quarantine(con)
        con.execute("BEGIN")
        con.execute(
            f"INSERT INTO {ledger.REGION_QUARANTINE} SELECT CAST(? AS VARCHAR), NULL, NULL, "
            "reason, record, CAST(? AS VARCHAR), CAST(? AS TIMESTAMP) FROM ("
            f"SELECT string_agg(DISTINCT f.reason, '; ') AS reason, to_json(t)::VARCHAR AS record "
            f"FROM {target} t JOIN failing f USING ({columns}) GROUP BY 2) AS moving",
            [source_table, run_id, current_time()])
        match = " AND ".join(f"t.{quote_ident(k)} = f.{quote_ident(k)}" for k in key_columns)
        moved = delete_where(con, f"{target} t",
                             f"EXISTS (SELECT 1 FROM failing f WHERE {match})")
        con.execute("COMMIT")
    return moved
