"""A full Great Expectations suite (10 expectations, crm_customers) on BENCH_ROWS rows:
Steward's path (GE's SQL engine inside DuckDB) vs one hand-written DuckDB aggregate computing
the same checks (target ≤ 2x) and vs GE on a pandas DataFrame of the same table (target: ours
≥ 10x faster). Run by `make bench`.
"""

from __future__ import annotations

import datetime
import os
import time
from pathlib import Path

import duckdb

from orchestration.lib.estate import TABLES, estate_connection
from orchestration.lib.quality.suites import load_suites

REGION = "us"
HAND_WRITTEN = """
SELECT count(*) >= 1,
       count(*) FILTER (WHERE email IS NULL) = 0,
       count(*) FILTER (WHERE full_name IS NULL) = 0,
       count(*) FILTER (WHERE gender NOT IN ('female', 'male', 'nonbinary')) = 0,
       count(*) FILTER (WHERE segment NOT IN ('consumer', 'smb', 'mid_market', 'enterprise')) = 0,
       count(*) FILTER (WHERE NOT regexp_matches(email, '^[^@ ]+@[^@ ]+\\.[A-Za-z]{2,}$')) = 0,
       count(*) FILTER (WHERE NOT regexp_matches(phone, '^\\+[0-9][0-9 ()-]{6,20}$')) = 0,
       count(*) FILTER (WHERE birth_date < DATE '1900-01-01' OR birth_date > current_date) = 0,
       count(*) FILTER (WHERE updated_at < signup_at) = 0,
       count(DISTINCT email) / count(email) >= 0.99
FROM raw_crm.customers
"""


def _store(root: Path, rows: int) -> None:
    table = next(t for t in TABLES if t.table == "customers")
    con = estate_connection(seed=3, customers=rows)
    con.execute(f"ATTACH '{root / (REGION + '.duckdb')}' AS store")
    con.execute("CREATE SCHEMA store.raw_crm")
    con.execute(f"CREATE TABLE store.raw_crm.customers AS "
                f"{table.select_sql.format(start=1, stop=rows + 1, as_of='NULL')}")
    con.close()


def _pandas_seconds(root: Path) -> float:
    """The same checks in GE's pandas engine (regex and pair expectations stand in for the
    SQL-only unexpected-rows queries)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe

    with duckdb.connect(str(root / f"{REGION}.duckdb"), read_only=True) as con:
        con.execute("SET enable_progress_bar = false")
        frame = con.execute("SELECT * FROM raw_crm.customers").df()
    context = gx.get_context(mode="ephemeral")
    batch = (context.data_sources.add_pandas("frames").add_dataframe_asset("customers")
             .add_batch_definition_whole_dataframe("all").get_batch(
                 batch_parameters={"dataframe": frame}))
    suite = gx.ExpectationSuite(name="pandas", expectations=[
        gxe.ExpectTableRowCountToBeBetween(min_value=1),
        gxe.ExpectColumnValuesToNotBeNull(column="email"),
        gxe.ExpectColumnValuesToNotBeNull(column="full_name"),
        gxe.ExpectColumnValuesToBeInSet(column="gender", value_set=["female", "male",
                                                                     "nonbinary"]),
        gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=[
            "consumer", "smb", "mid_market", "enterprise"]),
        gxe.ExpectColumnValuesToMatchRegex(column="email",
                                           regex=r"^[^@ ]+@[^@ ]+\.[A-Za-z]{2,}$"),
        gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=r"^\+[0-9][0-9 ()-]{6,20}$"),
        gxe.ExpectColumnValuesToBeBetween(column="birth_date",
                                          min_value=datetime.datetime(1900, 1, 1),
                                          max_value=datetime.datetime.now()),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="updated_at",
                                                   column_B="signup_at", or_equal=True),
        gxe.ExpectColumnProportionOfUniqueValuesToBeBetween(column="email", min_value=0.99),
    ])
    started = time.perf_counter()
    result = batch.validate(suite)
    seconds = time.perf_counter() - started
    if not result.success:
        failed = [r.expectation_config.type for r in result.results if not r.success]
        print(f"  (pandas suite reported failures: {failed})")
    return seconds


def bench_quality(root: Path, rows: int) -> None:
    from orchestration.lib.quality.validate import validate

    root.mkdir(parents=True, exist_ok=True)
    os.environ["STEWARD_STORE_DIR"] = str(root)
    _store(root, rows)
    suite = next(s for s in load_suites() if s.name == "crm_customers")
    validate(suite, REGION, "raw_crm", "customers")  # warm: imports and GE's first context
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        outcome = validate(suite, REGION, "raw_crm", "customers")
        best = min(best, time.perf_counter() - started)
    with duckdb.connect(str(root / f"{REGION}.duckdb"), read_only=True) as con:
        sql_best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            checks = con.execute(HAND_WRITTEN).fetchone()
            sql_best = min(sql_best, time.perf_counter() - started)
    pandas_seconds = _pandas_seconds(root)
    print(f"\nquality suite ({len(suite.expectations)} expectations) on {rows:,} rows: "
          f"Steward/GE-on-DuckDB {best:.2f}s ({'passed' if outcome.passed else 'FAILED'}), "
          f"one hand-written SQL aggregate {sql_best:.2f}s ({sum(checks)}/10 true) → "
          f"{best / sql_best:.1f}x (target ≤ 2x); GE on pandas {pandas_seconds:.2f}s → "
          f"ours {pandas_seconds / best:.1f}x faster (target ≥ 10x)")
