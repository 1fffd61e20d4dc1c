"""Every validation result, kept in the region's store: the quality history reports read."""

from __future__ import annotations

import json

from orchestration.lib.quality.validate import SuiteOutcome
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import insert_rows

HISTORY_TABLE = "_steward.quality_results"


COLUMNS = ("suite VARCHAR, asset VARCHAR, region VARCHAR, expectation VARCHAR, "
           "severity VARCHAR, success BOOLEAN, observed VARCHAR, unexpected_count BIGINT, "
           "unexpected_sample VARCHAR, error VARCHAR, run_id VARCHAR, validated_at TIMESTAMP, "
           # When the outcome a run kept (its table unchanged, see reuse.py) was validated;
           # NULL when the run validated.
           "kept_from TIMESTAMP")


def record(con, outcome: SuiteOutcome, run_id: str) -> None:
    """Add the outcome's rows to the history, on `con` (a write connection to its region's
    store), so the caller decides the transaction."""
    # A kept outcome is recorded at this run's time, with the time it was validated.
    validated_at = current_time() if outcome.reused else outcome.validated_at
    kept_from = outcome.validated_at if outcome.reused else None
    rows = [
        (outcome.suite.name, outcome.suite.asset, outcome.region, result.spec.label,
         result.spec.severity, result.success, json.dumps(result.observed, default=str),
         result.unexpected_count, json.dumps(result.unexpected_sample, default=str),
         result.error, run_id, validated_at, kept_from)
        for result in outcome.outcomes
    ]
    con.execute("CREATE SCHEMA IF NOT EXISTS _steward")
    con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ({COLUMNS})")
    # A history written before outcomes were kept gains the column.
    con.execute(f"ALTER TABLE {HISTORY_TABLE} ADD COLUMN IF NOT EXISTS kept_from TIMESTAMP")
    insert_rows(con, HISTORY_TABLE, COLUMNS, rows)
