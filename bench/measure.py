"""One measurement in its own process, so its peak RSS is its own: `python -m bench.measure`.

Modes: `raw` is DuckDB's own CREATE TABLE AS over the files; `platform` is Steward's governed
load of the same files (typed read, quarantine, routing, reconciliation, atomic commit).
Prints the elapsed seconds (imports excluded) and the peak RSS as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from orchestration.lib.ingest.loader import load_table
from orchestration.lib.sources import load_source_tables
from policies.regions import region_names

READERS = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}


def raw(fmt: str, files: list[str], database: Path) -> None:
    reader = READERS[fmt]
    with duckdb.connect(str(database)) as con:
        con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}(?)", [files])


def platform(source_table: str) -> None:
    spec = next(s for s in load_source_tables() if s.name == source_table)
    report = load_table(spec, region_names(), run_id="bench")
    if not report.reconciled or report.rows_quarantined:
        raise SystemExit(f"benchmark load was not clean: {report}")


def peak_rss_mib() -> float:
    """VmHWM: this process's own peak, unlike ru_maxrss, which a forked child inherits."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    mode, target = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    if mode == "raw":
        raw(target["format"], target["files"], Path(target["database"]))
    else:
        platform(target["source_table"])
    seconds = time.perf_counter() - started
    peak_mib = peak_rss_mib()
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib}))


if __name__ == "__main__":
    main()
