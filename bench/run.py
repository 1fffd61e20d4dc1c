"""`make bench`: Steward against raw DuckDB on the same files, in the same run.

BENCH_ROWS (default 1,000,000) rows of one Parquet table (billing.invoices) and one CSV table
(crm.customers) are generated, then each is loaded by raw DuckDB CREATE TABLE AS and by the
governed platform load, each in a fresh process. Prints seconds, ratio and peak RSS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from orchestration.lib.estate import TABLES, estate_connection, write_table

CASES = [("billing.invoices", "parquet"), ("crm.customers", "csv")]
FILES_PER_TABLE = 4


def _measure(mode: str, target: dict, env: dict) -> tuple[float, float]:
    """Seconds and peak RSS (MiB) of one measurement process."""
    process = subprocess.Popen([sys.executable, "-m", "bench.measure", mode, json.dumps(target)],
                               env=env, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} measurement failed: {output}")
    return json.loads(output)["seconds"], usage.ru_maxrss / 1024


def _generate(landing: Path, rows: int) -> dict[str, list[str]]:
    files = {}
    for source_table, _ in CASES:
        source, table = source_table.split(".")
        estate_table = next(t for t in TABLES if (t.source, t.table) == (source, table))
        con = estate_connection(seed=1, customers=rows)
        written = write_table(con, estate_table, rows, FILES_PER_TABLE, landing / source / table)
        con.close()
        files[source_table] = [str(p) for p in written]
    return files


def main() -> None:
    rows = int(os.environ.get("BENCH_ROWS", "1000000"))
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as scratch:
        root = Path(scratch)
        files = _generate(root / "landing", rows)
        print(f"ingest of {rows:,} rows per table ({FILES_PER_TABLE} files each)\n")
        print(f"{'table':<18}{'format':<9}{'raw s':>8}{'steward s':>11}{'ratio':>8}"
              f"{'raw RSS MiB':>13}{'steward RSS MiB':>17}")
        for source_table, fmt in CASES:
            raw_s, raw_rss = _measure("raw", {"format": fmt, "files": files[source_table],
                                              "database": str(root / f"raw-{fmt}.duckdb")},
                                      dict(os.environ))
            env = {**os.environ, "STEWARD_DATA_DIR": str(root),
                   "STEWARD_STORE_DIR": str(root / f"store-{fmt}"),
                   "STEWARD_LANDING_DIR": str(root / "landing")}
            ours_s, ours_rss = _measure("platform", {"source_table": source_table}, env)
            print(f"{source_table:<18}{fmt:<9}{raw_s:>8.2f}{ours_s:>11.2f}{ours_s / raw_s:>7.2f}x"
                  f"{raw_rss:>13.0f}{ours_rss:>17.0f}")


if __name__ == "__main__":
    main()
