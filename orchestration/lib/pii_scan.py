"""Sampling a stored table's text columns and running the policy engine's PII detectors."""

from __future__ import annotations

import duckdb

from orchestration.lib.store import qualified, quote_ident
from policies.detection import Findings, scan

SAMPLE_ROWS = 500
TEXT_TYPES = ("VARCHAR",)


def scan_relation(con: duckdb.DuckDBPyConnection, schema: str, table: str,
                  sample_rows: int = SAMPLE_ROWS) -> dict[str, Findings]:
    """Findings per text column, from a repeatable reservoir sample of the relation."""
    columns = [name for name, kind in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table]).fetchall() if kind in TEXT_TYPES and not name.startswith("_")]
    if not columns:
        return {}
    rows = con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM "
        f"{qualified(schema, table)} USING SAMPLE reservoir({int(sample_rows)} ROWS) "
        f"REPEATABLE (7)").fetchall()
    return {column: scan(row[i] for row in rows) for i, column in enumerate(columns)}
