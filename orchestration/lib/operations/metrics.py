"""The platform metrics as built by dbt in the global store, for `steward metrics` and the
report."""

from __future__ import annotations

from orchestration.lib.warehouse import (
    exists,
    reader,
    store_path,
    table_exists,
)
from policies.regions import GLOBAL_REGION

SCHEMA = "platform"
# Each table and its order; runs and drift measures oldest first, so the latest are last.
TABLES = {"source_metrics": "asset", "consumer_metrics": "consumer",
          "baseline_comparison": "pinned_at, metric", "run_metrics": "started_at",
          "model_drift": "measured_at, model, region"}
HISTORIES = ("run_metrics", "model_drift")  # a row per run: shown as the latest few


def read_metrics() -> dict[str, tuple[list[str], list[tuple]]]:
    """table → (columns, rows) for each platform model built so far."""
    path = store_path(GLOBAL_REGION)
    if not exists(path):
        return {}
    found = {}
    with reader(path) as con:
        for table, order in TABLES.items():
            if table_exists(con, SCHEMA, table):
                result = con.execute(f"SELECT * FROM {SCHEMA}.{table} ORDER BY {order}")
                found[table] = ([d[0] for d in result.description], result.fetchall())
    return found


def cell(value) -> str:
    """A value as a person reads it in a table."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)[:40]


def format_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [columns] + [[cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
