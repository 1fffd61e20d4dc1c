"""Every validation result, kept in the region's store: the quality history reports read."""

from __future__ import annotations

import json
from datetime import datetime
from typing import NamedTuple

from orchestration.lib.quality.validate import SuiteOutcome
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    add_missing_column,
    columns_or_null,
    insert_rows,
    store_path,
    table_if_present,
)
from policies.regions import every_store

SCHEMA, TABLE = "_steward", "quality_results"
HISTORY_TABLE = f"{SCHEMA}.{TABLE}"


COLUMNS = ("suite VARCHAR, asset VARCHAR, region VARCHAR, expectation VARCHAR, "
           "severity VARCHAR, success BOOLEAN, observed VARCHAR, unexpected_count BIGINT, "
           "unexpected_sample VARCHAR, error VARCHAR, run_id VARCHAR, validated_at TIMESTAMP, "
           # When the outcome a run kept (its table unchanged, see reuse.py) was validated;
           # NULL when the run validated.
           "kept_from TIMESTAMP")


class Recorded(NamedTuple):
    """One expectation's result in the history, read by name: a column added later (as
    kept_from was) moves no reader's fields."""
    suite: str
    asset: str
    region: str
    expectation: str
    severity: str
    success: bool
    observed: str | None
    unexpected_count: int | None
    unexpected_sample: str | None
    error: str | None
    run_id: str
    validated_at: datetime
    kept_from: datetime | None


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
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ({COLUMNS})")
    add_missing_column(con, SCHEMA, TABLE, "kept_from", "TIMESTAMP")
    insert_rows(con, HISTORY_TABLE, COLUMNS, rows)


def recorded(region: str, runs: int) -> list[Recorded]:
    """The rows of the latest `runs` validations of each suite in `region`'s store, newest
    first; none while nothing was validated. Bounded, so a page over years of hourly runs
    reads what it shows, not the whole history."""
    with table_if_present(store_path(region), SCHEMA, TABLE) as con:
        if con is None:
            return []
        columns = columns_or_null(con, SCHEMA, TABLE, Recorded._fields)
        return [Recorded(*row) for row in con.execute(
            f"SELECT {columns} FROM {HISTORY_TABLE} WHERE (suite, region, run_id) IN ("
            "  SELECT suite, region, run_id FROM ("
            "    SELECT suite, region, run_id, row_number() OVER ("
            "      PARTITION BY suite, region ORDER BY max(validated_at) DESC) AS recency"
            f"    FROM {HISTORY_TABLE} GROUP BY suite, region, run_id) AS validations"
            "  WHERE recency <= ?) "
            "ORDER BY validated_at DESC", [runs]).fetchall()]


def recorded_everywhere(runs: int) -> list[Recorded]:
    """The latest `runs` validations of each suite in every store, newest first per store:
    each region's, and the global one's (the suites of Steward's telemetry and metrics)."""
    return [row for region in every_store() for row in recorded(region, runs)]
