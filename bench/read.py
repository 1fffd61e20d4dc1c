"""The governed read path against a raw DuckDB → Arrow fetch of the same rows, same process.

One table of `rows` customers and one of `rows` support tickets are ingested into both region
stores; bench consumers (declared in a scratch copy of policies/) read them whole from both
regions: cleared for everything (the policy decision and audit entry only), with the four
personal columns keyed-hashed (gender, too few values to hash safely, left out), and with the
free-text body redacted. Best of REPEATS, warm (the first read of a
process also evaluates the policy over the project: reported apart).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from orchestration.lib.estate import TABLES, estate_connection, write_table
from policies.rules import POLICIES_DIR

REPEATS = 3
BENCH_CONSUMERS = """
  bench_clear:
    team: bench
    owner: bench-lead
    purpose: fairness_audit
    regions: [eu, us]
    clearance: sensitive
    legal_basis: benchmark
    datasets: [crm/customers]
  bench_hashed:
    team: bench
    owner: bench-lead
    purpose: billing
    regions: [eu, us]
    clearance: pseudonymous
    legal_basis: benchmark
    datasets: [crm/customers]
  bench_redacted:
    team: bench
    owner: bench-lead
    purpose: support_routing
    regions: [eu, us]
    clearance: pseudonymous
    datasets: [support/tickets]
"""
CASES = [("crm/customers", "bench_clear", "nothing masked"),
         ("crm/customers", "bench_hashed", "name, email, phone, birth date keyed-hashed "
                                           "(HMAC-SHA256); gender left out (3 values)"),
         ("support/tickets", "bench_redacted", "body redacted (7 patterns)")]


def _best(action) -> tuple[float, pa.Table]:
    best, result = float("inf"), None
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def _raw_fetch(store_dir: Path, relation: tuple[str, str]) -> pa.Table:
    parts = []
    for region in ("eu", "us"):
        with duckdb.connect(str(store_dir / f"{region}.duckdb"), read_only=True) as con:
            parts.append(con.sql(f'SELECT * FROM "{relation[0]}"."{relation[1]}"')
                         .to_arrow_table())
    return pa.concat_tables(parts)


def _prepare(root: Path, rows: int) -> None:
    from orchestration.lib.ingest.loader import load_table
    from orchestration.lib.sources import load_source_tables
    from policies.regions import region_names

    policies = root / "policies"
    shutil.copytree(POLICIES_DIR, policies, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    with open(policies / "consumers.yaml", "a", encoding="utf-8") as handle:
        handle.write(BENCH_CONSUMERS)
    os.environ.update(STEWARD_DATA_DIR=str(root), STEWARD_STORE_DIR=str(root / "store"),
                      STEWARD_LANDING_DIR=str(root / "landing"),
                      STEWARD_TEST_MODE="1", STEWARD_POLICIES_DIR=str(policies))
    con = estate_connection(seed=3, customers=rows)
    for table in TABLES:
        if f"{table.source}/{table.table}" in {dataset for dataset, _, _ in CASES}:
            write_table(con, table, rows, 4, root / "landing" / table.source / table.table)
            spec = next(s for s in load_source_tables()
                        if (s.source, s.table) == (table.source, table.table))
            load_table(spec, region_names(), run_id="bench")
    con.close()


def bench_read(root: Path, rows: int) -> None:
    _prepare(root, rows)
    from orchestration.lib.dbt_manifest import compile_manifest
    from orchestration.lib.governance.governed_read import read_dataset
    from orchestration.lib.governance.registry import relations

    compile_manifest()
    started = time.perf_counter()
    read_dataset(*CASES[0][:2])
    cold = time.perf_counter() - started
    print(f"\ngoverned read of {rows:,} rows (both regions) vs raw DuckDB → Arrow, "
          f"best of {REPEATS}, warm\n")
    print(f"{'dataset':<17}{'consumer':<16}{'raw s':>8}{'governed s':>12}{'ratio':>8}  masking")
    for dataset, consumer, masking in CASES:
        raw_s, raw = _best(lambda d=dataset: _raw_fetch(root / "store", relations()[d]))
        ours_s, ours = _best(lambda d=dataset, c=consumer: read_dataset(d, c))
        if ours.num_rows != raw.num_rows:
            raise SystemExit(f"{dataset}: governed read returned {ours.num_rows} rows, "
                             f"raw {raw.num_rows}")
        print(f"{dataset:<17}{consumer:<16}{raw_s:>8.3f}{ours_s:>12.3f}{ours_s / raw_s:>7.2f}x"
              f"  {masking}")
    print(f"first read in a fresh process (compiles the policy over the project): {cold:.2f}s")
