"""Loading one declared source table from its landing files into every region's store: each
batch is read (readers/), triaged (triage.py) and committed (commit.py), in that order.

New files are taken in batches of bounded size, so memory stays flat however large the delivery.
One pass reads a batch into an in-memory scratch engine (typed, rejects captured), sorts every
row into exactly one outcome — quarantined, superseded by a newer version in the same batch,
already stored, or loaded into its region — checks that the outcomes add up to what was read,
and only then commits: quarantine first, then one transaction per region holding the rows and
the load-log entries together. A load killed at any point leaves each store either before or
after a transaction, and a re-run picks up exactly what is missing.
"""

from __future__ import annotations

import contextlib

from orchestration.lib.governance import audit_log
from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.commit import (
    create_target,
    evolve,
    load_region,
    scan_for_pii,
    write_quarantine,
)
from orchestration.lib.ingest.landing import LandingFile, discover
from orchestration.lib.ingest.load_report import LoadReport
from orchestration.lib.ingest.readers import (
    create_scratch_tables,
    format_of,
    number_lines,
    parquet_rows,
    read_files,
    read_parquet_files,
    reject_nul_bytes,
)
from orchestration.lib.ingest.triage import (
    exclude,
    exclusions,
    find_duplicate_keys,
    find_losers,
    key_columns,
    key_is_null,
    to_quarantine_or_compare,
)
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import (
    link,
    scratch_connection,
    storage_errors_explained,
)
from policies.regions import country_to_region

QUARANTINE_CATALOG = "quarantine_store"
LOAD_AUDIT_KIND = "ingest.file"
NO_DATA_YET = "no_data_yet"  # metadata of a load whose landing folder has never held a file



def _read_pending(con, spec: SourceTable, files: list[LandingFile], report: LoadReport) -> None:
    create_scratch_tables(con, spec, country_to_region())
    report.files_new.extend(file.name for file in files)
    report.files_refused.update({file.name: file.refused for file in files if file.refused})
    report.files_refused.update(read_files(con, spec, [f for f in files if not f.refused]))
    reject_nul_bytes(con, spec, files)


def _batches(files: list[LandingFile], max_bytes: int) -> list[list[LandingFile]]:
    """Files grouped up to `max_bytes`, so memory stays bounded however large the delivery."""
    batches: list[list[LandingFile]] = []
    size = 0
    for file in files:
        if not batches or size + file.size > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(file)
        size += file.size
    return batches


def _load_batch(con, spec: SourceTable, unrouted, stores: dict, files: list[LandingFile],
                run_id: str, report: LoadReport) -> None:
    """Read, sort and commit one batch of files; each region commits on its own."""
    if format_of(spec).columnar and _load_clean_parquet(con, spec, unrouted, stores, files,
                                                        run_id, report):
        return
    _read_pending(con, spec, files, report)
    report.rows_read += report.tally("read", con.execute(
        "SELECT _file, count(*) FROM (SELECT _file FROM incoming UNION ALL "
        "SELECT _file FROM rejected) GROUP BY 1").fetchall())
    exclude(con, spec, report)
    find_duplicate_keys(con, spec)
    number_lines(con, spec, files, to_quarantine_or_compare(spec))
    has_losers = find_losers(con, spec)
    write_quarantine(con, spec, unrouted, stores, files, run_id, report)
    findings = scan_for_pii(con, spec, "incoming", has_losers)
    for region, store in sorted(stores.items()):
        load_region(con, spec, store, region, files, run_id, report, has_losers, findings)


def _load_clean_parquet(con, spec: SourceTable, unrouted, stores: dict,
                        files: list[LandingFile], run_id: str, report: LoadReport) -> bool:
    """Parquet is columnar: read only the key, cursor and routing columns first. When the batch
    has no refused file, empty key, unknown country or repeated key, every row goes straight
    from the files to its region's table; otherwise returns False for the full path."""
    if any(f.refused or f.size == 0 for f in files):
        return False  # the full path refuses those files with the reason, never reading them
    create_scratch_tables(con, spec, country_to_region())
    excluding = exclusions(spec)
    probe = sorted({*spec.primary_key, spec.route_by, *([spec.cursor] if spec.cursor else []),
                    *([spec.event_time] if "expired" in excluding else []),
                    *(c.name for c in spec.columns if c.subject and "erased" in excluding)})
    if read_parquet_files(con, spec, files, columns=probe):
        return False
    excluded = " OR ".join(f"({condition})" for condition in excluding.values()) or "false"
    anomalies = con.execute(
        f"SELECT count(*) FILTER (WHERE {key_is_null(spec)} OR _region IS NULL), "
        f"count(*) - count(DISTINCT ({', '.join(key_columns(spec))})), "
        f"count(*) FILTER (WHERE {excluded}) FROM incoming").fetchall()[0]
    if any(anomalies):
        return False
    report.files_new.extend(file.name for file in files)
    # Every row has a key and a region here: one count by file and region serves the tally of
    # rows read and each region's reconciliation.
    counted = con.execute("SELECT _region, _file, count(*) FROM incoming GROUP BY 1, 2"
                          ).fetchall()
    report.rows_read += report.tally("read", [(file, n) for _, file, n in counted])
    routed: dict[str, dict[str, int]] = {}
    for region, file, n in counted:
        routed.setdefault(region, {})[file] = n
    con.execute("CREATE OR REPLACE TEMP TABLE losers "
                "(rid BIGINT, _file VARCHAR, _line BIGINT, problem VARCHAR)")
    write_quarantine(con, spec, unrouted, stores, files, run_id, report)
    rows = parquet_rows(spec, files)
    findings = scan_for_pii(con, spec, rows, False)
    for region, store in sorted(stores.items()):
        load_region(con, spec, store, region, files, run_id, report, False, findings,
                     rows=rows, routed=routed.get(region, {}))
    return True


def load_table(spec: SourceTable, regions: list[str], run_id: str = "manual") -> LoadReport:
    """Load every new landing file of one source table into the given regions' stores.
    Whether every row read is accounted for is the report's `reconciled`, which the asset's
    blocking `ingest__reconciled` check reports (a region whose insert count differs from what
    was prepared is rolled back and raises instead)."""
    settings = get_settings()
    report = LoadReport(source_table=spec.name)
    with contextlib.ExitStack() as stack, storage_errors_explained(settings.store_dir):
        con = scratch_connection()
        stack.callback(con.close)
        unrouted = stack.enter_context(link(con, settings.quarantine_store, QUARANTINE_CATALOG))
        ledger.ensure_quarantine(unrouted, unrouted.at)
        stores = {}
        for region in sorted(regions):
            store = stores[region] = stack.enter_context(
                link(con, settings.region_store(region), region))
            ledger.ensure_load_log(store, store.at)
            ledger.ensure_region_quarantine(store, store.at)
            report.columns_added[region] = evolve(con, store, spec)
            create_target(store, spec)
        refused = ledger.refused_fingerprints(unrouted, unrouted.at, spec.name)
        loaded = [ledger.loaded_fingerprints(s, s.at, spec.name) for s in stores.values()]
        done = refused | set.intersection(*loaded) if loaded else refused
        found = discover(spec, settings.landing_dir)
        report.files_seen = len(found)
        files = [f for f in found if (f.name, f.fingerprint) not in done]
        for batch in _batches(files, settings.ingest_batch_bytes):
            _load_batch(con, spec, unrouted, stores, batch, run_id, report)
        for region, store in stores.items():
            report.rows_loaded.setdefault(region, 0)
            report.table_rows[region] = store.execute(
                f"SELECT count(*) FROM {store.relation(spec.schema, spec.table)}").fetchall()[0][0]
    _audit(spec, files, run_id, report)
    return report


def _audit(spec: SourceTable, files: list[LandingFile], run_id: str, report: LoadReport) -> None:
    """One `ingest.file` entry per new file: which arrived, when, and where its rows went.
    Written after the stores commit, so an entry never claims rows that are not there."""
    if not files:
        return
    outcomes = report.file_outcomes()
    audit_log.append_all(LOAD_AUDIT_KIND, [
        (spec.name, {"file": f.name, "fingerprint": f.fingerprint, "run_id": run_id,
                     "refused": report.files_refused.get(f.name),
                     "rows": outcomes.get(f.name, {})})
        for f in files])
