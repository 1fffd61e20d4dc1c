"""End to end: the whole governed pipeline on a generated estate against the same SQL run
directly in DuckDB, the fixed overhead, a run after a 1% append, and peak memory.

An estate of about BENCH_ROWS rows (BENCH_ROWS // 12 customers) lands in both regions' files.
Governed: `run_pipeline` over every region — typed ingest with quarantine, routing and
reconciliation, `dbt build` behind the policy and residency gates, quality suites, consumer
models, platform metrics. Direct: per region, CREATE TABLE of each raw table straight from the
landing files (rows filtered to the region's countries), then every estate model's compiled SQL
as a view or table. The fixed overhead is the governed pipeline on a 300-customer estate. The
pipeline then runs again with nothing new, and once more after new web events and invoices (1%
of the estate's rows) land.

Each measurement is one fresh process (`python -m bench.e2e governed|direct`) with the Dagster
instance `make run` keeps (bench/scratch.py), run once: a full build is too long to repeat at
10M rows. Seconds exclude imports; peak RSS is the larger of the process's own (dbt builds
inside it) and its largest child's.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.measure import peak_rss_mib as own_peak_rss_mib
from bench.scratch import scratch_env
from orchestration.lib.dbt_manifest import (
    compile_manifest,
    dependency_order,
    existing_manifest,
    is_platform,
)
from orchestration.lib.estate import (
    TABLES,
    estate_connection,
    generate_estate,
    table_rows,
    write_table,
)
from orchestration.lib.operations.runner import AssetOutcome, run_pipeline
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import FORMATS, SourceTable, load_source_tables
from orchestration.lib.warehouse import qualified, quote_ident, sql_literal
from policies.regions import country_to_region, region_names

ROWS_PER_CUSTOMER = 12  # the estate has about 12.3 rows per customer over all tables
MIN_CUSTOMERS = 1000
TINY_CUSTOMERS = 300
SEED = 7
FILES_PER_TABLE = 4
APPENDED_TABLES = {("web", "events"), ("billing", "invoices")}  # append-only, the largest
TARGET_RATIO, TARGET_INCREMENTAL = 2.0, 0.05
LEFT_OUT = ("deduplication, type and key checks, quarantine, reconciliation, policy and "
            "residency gates, dbt tests, Great Expectations suites, the consumer models "
            "(scikit-learn) and the platform metrics")
REPO = Path(__file__).resolve().parents[1]


def bench_e2e(root: Path, rows: int) -> tuple[Path, int]:
    """Generate, measure and print; `root` is scratch space, `rows` the estate's target size.
    Returns the full estate's data folder and its rows, for the PostgreSQL run."""
    customers = max(rows // ROWS_PER_CUSTOMER, MIN_CUSTOMERS)
    tiny, full = root / "tiny", root / "full"
    _generate(tiny, TINY_CUSTOMERS)
    estate_rows = _generate(full, customers)
    compile_manifest()  # both sides run today's compiled SQL; neither pays for the compile
    overhead = in_fresh_process(tiny, "governed")
    direct = in_fresh_process(full, "direct")
    governed = in_fresh_process(full, "governed")
    unchanged = in_fresh_process(full, "governed")
    appended = _append_new_rows(full / "landing", customers, estate_rows // 100)
    incremental = in_fresh_process(full, "governed")
    print(f"\nend to end on a {estate_rows:,}-row estate ({customers:,} customers, both "
          f"regions), one fresh process each\n")
    _print_runs({"governed, full build": governed, "direct DuckDB, same SQL": direct,
                 f"governed, {TINY_CUSTOMERS} customers (overhead)": overhead,
                 "governed, again, nothing new": unchanged,
                 f"governed, after +{appended:,} rows": incremental})
    _print_targets(governed, direct, overhead, incremental, appended / estate_rows)
    _print_append_cost(governed, unchanged, incremental)
    print(f"the direct run leaves out {LEFT_OUT}\n")
    _print_stages({"full build": governed, "nothing new": unchanged,
                   "after append": incremental, f"{TINY_CUSTOMERS} customers": overhead})
    return full, estate_rows + appended


def _generate(data_dir: Path, customers: int) -> int:
    counts = generate_estate(data_dir / "landing", customers=customers, files=FILES_PER_TABLE,
                             seed=SEED)
    return sum(counts.values())


def _append_new_rows(landing: Path, customers: int, rows: int) -> int:
    """One new file per appended table, `rows` in all split by table size, ids after the
    estate's; returns the rows written."""
    tables = [t for t in TABLES if (t.source, t.table) in APPENDED_TABLES]
    existing = {t.table: table_rows(t, customers) for t in tables}
    con = estate_connection(seed=SEED, customers=customers)
    written = 0
    for table in tables:
        share = max(1, rows * existing[table.table] // sum(existing.values()))
        write_table(con, table, share, 1, landing / table.source / table.table,
                    first_id=existing[table.table] + 1, prefix="append")
        written += share
    con.close()
    return written


def in_fresh_process(data_dir: Path, mode: str, module: str = "bench.e2e") -> dict:
    """`python -m module mode` on the estate in `data_dir`: its measurement."""
    done = subprocess.run([sys.executable, "-m", module, mode], env=scratch_env(data_dir),
                          cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"e2e {mode} measurement failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])  # the pipeline may print before it


def _print_runs(runs: dict[str, dict]) -> None:
    print(f"{'run':<34}{'seconds':>9}{'peak RSS MiB':>14}  outcome")
    for label, run in runs.items():
        outcome = "ok" if run["success"] else "FAILED"
        print(f"{label:<34}{run['seconds']:>9.2f}{run['peak_rss_mib']:>14.0f}  {outcome}")


def _print_targets(governed: dict, direct: dict, overhead: dict, incremental: dict,
                   appended_share: float) -> None:
    limit = TARGET_RATIO * direct["seconds"] + overhead["seconds"]
    within = governed["seconds"] <= limit
    share = incremental["seconds"] / governed["seconds"]
    print(f"\nratio governed / direct {governed['seconds'] / direct['seconds']:.2f}x; "
          f"governed {governed['seconds']:.2f}s <= {TARGET_RATIO:g} x direct + overhead "
          f"{limit:.2f}s: {'yes' if within else 'NO'}")
    # The target sets the consumer models' training and scoring apart:
    # the direct SQL does neither.
    consumers = governed["stages"].get("consumers", 0.0)
    print(f"without the consumer models ({consumers:.2f}s, reported apart): "
          f"{governed['seconds'] - consumers:.2f}s, "
          f"{(governed['seconds'] - consumers) / direct['seconds']:.2f}x direct")
    print(f"after a {appended_share:.1%} append: {share:.1%} of the full build "
          f"(target <= {TARGET_INCREMENTAL:.0%}: {'yes' if share <= TARGET_INCREMENTAL else 'NO'})")


def _print_append_cost(governed: dict, unchanged: dict, incremental: dict) -> None:
    """What the appended rows themselves cost: the run after the append less a run of the
    same estate with nothing new (which rebuilds the marts and re-checks every table)."""
    cost = incremental["seconds"] - unchanged["seconds"]
    print(f"the append's own cost: {cost:.2f}s ({cost / governed['seconds']:.1%} of the full "
          f"build) over a run with nothing new, {unchanged['seconds']:.2f}s "
          f"({unchanged['seconds'] / governed['seconds']:.1%})")


def _print_stages(runs: dict[str, dict]) -> None:
    """Seconds per stage of each governed run, from the runner's per-asset outcomes."""
    stages = dict.fromkeys(stage for run in runs.values() for stage in run["stages"])
    print(f"{'governed seconds by stage':<44}" + "".join(f"{label:>15}" for label in runs))
    for stage in stages:
        print(f"{stage:<44}" + "".join(f"{run['stages'].get(stage, 0.0):>15.2f}"
                                       for run in runs.values()))
    rest = [run["seconds"] - sum(run["stages"].values()) for run in runs.values()]
    print(f"{'other (Dagster, dbt start-up, model checks)':<44}"
          + "".join(f"{seconds:>15.2f}" for seconds in rest))


def governed_run() -> dict:
    """The whole governed pipeline over the estate in STEWARD_LANDING_DIR, as `steward run`."""
    # Imported here, in the measured process only: loading the definitions reads the manifest.
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets

    started = time.perf_counter()
    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    success, outcomes = run_pipeline(build_definitions(), region_names(), keys)
    seconds = time.perf_counter() - started
    ingest = {key.to_user_string() for key in keys}
    return {"seconds": seconds, "success": success, "stages": _stage_seconds(outcomes, ingest)}


def _stage_seconds(outcomes: list[AssetOutcome], ingest: set[str]) -> dict[str, float]:
    """Seconds per stage: ingest (with its checks), then dbt's own timing of each model layer,
    consumers and platform metrics."""
    ingest_steps: dict[str, float] = {}
    stages: dict[str, float] = {}
    for outcome in outcomes:
        if outcome.seconds is None:
            continue
        if outcome.asset in ingest:
            # One ingest step loads every region; each region's outcome carries its seconds.
            ingest_steps[outcome.asset] = max(ingest_steps.get(outcome.asset, 0.0),
                                              outcome.seconds)
            continue
        layer = outcome.asset.split("/")[0]
        stages[layer] = stages.get(layer, 0.0) + outcome.seconds
    return {"ingest and its checks": sum(ingest_steps.values()), **stages}


def direct_run() -> dict:
    """Per region: raw tables from the landing files, then the estate models' compiled SQL."""
    settings = get_settings()
    models = estate_models()
    (settings.data_dir / "direct").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for region in region_names():
        database = settings.data_dir / "direct" / f"{region}.duckdb"
        with duckdb.connect() as con:
            # The compiled SQL names the database dbt compiled against ("eu"): every region's
            # file is attached under that name so its relations resolve.
            con.execute(f"ATTACH {sql_literal(str(database))} "
                        f"AS {quote_ident(models[0]['database'])}")
            con.execute(f"USE {quote_ident(models[0]['database'])}")
            _create_raw_tables(con, settings.landing_dir, region)
            _create_models(con, models)
    return {"seconds": time.perf_counter() - started, "success": True, "stages": {}}


def estate_models(manifest_path: Path | None = None) -> list[dict]:
    """Model nodes of the manifest (the project's, by default) in dependency order, without
    models/platform (they read Steward's telemetry, not the estate)."""
    manifest = json.loads((manifest_path or existing_manifest()).read_text())
    nodes = {uid: node for uid, node in manifest["nodes"].items()
             if node["resource_type"] == "model" and not is_platform(node)}
    return [nodes[uid] for uid in dependency_order(nodes)]


def raw_select(spec: SourceTable, landing: Path, region: str) -> str | None:
    """A query reading the region's rows of a source's landing files, typed as declared (in
    DuckDB); None without files."""
    countries = [c for c, r in country_to_region().items() if r == region]
    files = sorted(str(path) for extension in FORMATS[spec.format]
                   for path in (landing / spec.landing).glob(f"*{extension}"))
    if not files:
        return None
    file_list = "[" + ", ".join(sql_literal(f) for f in files) + "]"
    reader = {"csv": f"read_csv({file_list}, header = true)",
              "parquet": f"read_parquet({file_list})",
              "jsonl": f"read_json({file_list}, format = 'newline_delimited')"}[spec.format]
    columns = ", ".join(f"{quote_ident(c.name)}::{c.data_type} AS {quote_ident(c.name)}"
                        for c in spec.columns)
    in_region = ", ".join(sql_literal(c) for c in countries)
    return f"SELECT {columns} FROM {reader} WHERE {quote_ident(spec.route_by)} IN ({in_region})"


def _create_raw_tables(con: duckdb.DuckDBPyConnection, landing: Path, region: str) -> None:
    for spec in load_source_tables():
        select = raw_select(spec, landing, region)
        if select is None:
            continue
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(spec.schema)}")
        con.execute(f"CREATE TABLE {qualified(spec.schema, spec.table)} AS {select}")


def _create_models(con: duckdb.DuckDBPyConnection, models: list[dict]) -> None:
    for node in models:
        kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {node['schema']}")
        con.execute(f"CREATE OR REPLACE {kind} {node['schema']}.{node['alias']} AS "
                    f"{node['compiled_code']}")


def _peak_rss_mib() -> float:
    largest_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB
    return max(own_peak_rss_mib(), largest_child)


def main() -> None:
    result = governed_run() if sys.argv[1] == "governed" else direct_run()
    print(json.dumps({**result, "peak_rss_mib": _peak_rss_mib()}))


if __name__ == "__main__":
    main()
