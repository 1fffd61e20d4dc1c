"""A suite's outcome kept with what it was computed from, so an unchanged table is not
validated again.

An outcome follows from the table's columns and rows, the suite as written, the code that
validates (Great Expectations' version, Steward's quality and warehouse modules) and, for a
suite whose queries read `{now}`, the hour on Steward's clock (as a whole run is judged
unchanged, see operations/last_run.py). A digest of the rows costs one scan, a small part of a
validation, and sees a change however it was made: a load, a dbt build, a quarantine, an
erasure, a hand in the store. When all of it matches the outcome kept in the region's store,
that outcome stands and says when it was validated; otherwise the suite runs and its outcome
is kept for the next run. Kept beside the quality history, in `_steward.quality_outcomes`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
from dataclasses import replace
from pathlib import Path

from orchestration.lib import warehouse
from orchestration.lib.quality import history
from orchestration.lib.quality.suites import Suite
from orchestration.lib.quality.validate import (
    CLOCK,
    QUERY,
    ExpectationOutcome,
    SuiteOutcome,
    validate,
)
from orchestration.lib.settings import clock_hour
from orchestration.lib.warehouse import (
    content_digest,
    qualified,
    reader,
    store_path,
    table_columns,
    table_exists,
    write_connection,
)

SCHEMA, TABLE = "_steward", "quality_outcomes"
KEPT = f"{SCHEMA}.{TABLE}"


@functools.cache
def _validator() -> str:
    """A digest of what validates: Great Expectations' version and Steward's own code that
    runs a suite and speaks to the store."""
    digest = hashlib.sha256(importlib.metadata.version("great_expectations").encode())
    for folder in (Path(__file__).parent, Path(warehouse.__file__).parent):
        for source in sorted(folder.glob("*.py")):
            digest.update(source.read_bytes())
    return digest.hexdigest()


def _reads_clock(suite: Suite) -> bool:
    return any(CLOCK in spec.kwargs.get(QUERY, "") for spec in suite.expectations)


def _reuse_key(con, suite: Suite, schema: str, table: str) -> str | None:
    """What the suite's outcome on `schema.table` follows from, as a digest; None when the
    table is not there (the validation says why)."""
    columns = table_columns(con, schema, table)
    if not columns:
        return None
    rows, digest = content_digest(con, schema, table, list(columns))
    written = [(spec.type, spec.kwargs, spec.severity) for spec in suite.expectations]
    hour = clock_hour() if _reads_clock(suite) else ""
    return hashlib.sha256(json.dumps(
        [written, columns, rows, digest, hour, _validator()], sort_keys=True, default=str,
    ).encode()).hexdigest()


def _kept(con, suite: Suite, region: str, relation: str, key: str) -> SuiteOutcome | None:
    if not table_exists(con, SCHEMA, TABLE):
        return None
    found = con.execute(
        f"SELECT outcomes, validated_at FROM {KEPT} WHERE suite = ? AND relation = ? "
        "AND reuse_key = ?", [suite.name, relation, key]).fetchall()
    if not found:
        return None
    outcomes, validated_at = found[0]
    return SuiteOutcome(suite, region, [
        ExpectationOutcome(spec, **kept)
        for spec, kept in zip(suite.expectations, json.loads(outcomes), strict=True)],
        validated_at=validated_at)


def _looked_up(suite: Suite, region: str, schema: str, table: str, relation: str
               ) -> tuple[str | None, SuiteOutcome | None]:
    """The reuse key of `schema.table` (`relation`, quoted) and the outcome kept under it, if
    any: one read of the store."""
    with reader(store_path(region)) as con:
        key = _reuse_key(con, suite, schema, table)
        kept = _kept(con, suite, region, relation, key) if key else None
    return key, kept


def _keep(con, outcome: SuiteOutcome, relation: str, key: str, run_id: str) -> None:
    kept = json.dumps([{"success": o.success, "observed": o.observed,
                        "unexpected_count": o.unexpected_count,
                        "unexpected_sample": o.unexpected_sample, "error": o.error}
                       for o in outcome.outcomes], default=str)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {KEPT} (suite VARCHAR, relation VARCHAR, "
                "reuse_key VARCHAR, outcomes VARCHAR, run_id VARCHAR, validated_at TIMESTAMP)")
    con.execute(f"DELETE FROM {KEPT} WHERE suite = ? AND relation = ?",
                [outcome.suite.name, relation])
    con.execute(f"INSERT INTO {KEPT} VALUES (?, ?, ?, ?, ?, ?)",
                [outcome.suite.name, relation, key, kept, run_id, outcome.validated_at])


def validated(suite: Suite, region: str, schema: str, table: str, run_id: str) -> SuiteOutcome:
    """The suite's outcome on `schema.table` in `region`, recorded in the quality history: the
    kept one when nothing it follows from has changed (its `reused` set), else a new
    validation, kept for next time in the same transaction as its history."""
    relation = qualified(schema, table)
    key, kept = _looked_up(suite, region, schema, table, relation)
    outcome = (replace(kept, reused=True) if kept is not None
               else validate(suite, region, schema, table))
    with write_connection(store_path(region)) as con:
        con.execute("BEGIN")
        if key and not outcome.reused:
            _keep(con, outcome, relation, key, run_id)
        history.record(con, outcome, run_id)
        con.execute("COMMIT")
    return outcome
