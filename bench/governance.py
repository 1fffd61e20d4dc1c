"""How long a retention purge and an erasure take on the sample estate.

The estate (`customers` customers; other tables scale with it) is generated and run through the
whole pipeline once; then a dry-run purge, a real purge with the clock a year ahead (web events,
old tickets and their marts expire), and the erasure of one customer with tickets are timed.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path


def bench_governance(root: Path, customers: int) -> None:
    os.environ.update(STEWARD_DATA_DIR=str(root), STEWARD_STORE_DIR=str(root / "store"),
                      STEWARD_LANDING_DIR=str(root / "landing"))
    os.environ.pop("DAGSTER_HOME", None)
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.estate import generate_estate
    from orchestration.lib.governance.erasure import erase
    from orchestration.lib.governance.retention import purge
    from orchestration.lib.operations.runner import run_pipeline
    from orchestration.lib.settings import current_time
    from orchestration.lib.warehouse import reader, store_path

    counts = generate_estate(root / "landing", customers=customers, files=4)
    compile_manifest()
    started = time.perf_counter()
    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    success, _ = run_pipeline(build_definitions(), ["eu", "us"], keys)
    built = time.perf_counter() - started
    print(f"\nretention purge and erasure on a {customers:,}-customer estate "
          f"({sum(counts.values()):,} rows; whole pipeline {built:.1f}s, "
          f"{'ok' if success else 'FAILED'})\n")
    # The purge a year on needs the moved clock, which only the test mode honours.
    os.environ.update(STEWARD_TEST_MODE="1",
                      STEWARD_NOW=(current_time() + timedelta(days=365)).isoformat())
    started = time.perf_counter()
    dry = purge(dry_run=True)
    print(f"purge, dry run, clock +1 year: {time.perf_counter() - started:.2f}s "
          f"({dry.rows:,} rows would go)")
    started = time.perf_counter()
    done = purge()
    print(f"purge, clock +1 year:          {time.perf_counter() - started:.2f}s "
          f"({done.rows:,} rows deleted; derived tables rebuild at the next run)")
    del os.environ["STEWARD_NOW"], os.environ["STEWARD_TEST_MODE"]
    with reader(store_path("eu")) as con:
        subject = con.execute("SELECT customer_id FROM raw_support.tickets GROUP BY 1 "
                              "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    started = time.perf_counter()
    receipt = erase(str(subject))
    deleted = sum(n for regions in receipt.rows_deleted.values() for n in regions.values())
    print(f"erasure of customer {subject}:    {time.perf_counter() - started:.2f}s "
          f"({deleted} rows deleted, {receipt.remaining} remaining, verified)")
