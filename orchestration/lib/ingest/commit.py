"""Committing a triaged batch: the quarantined rows and refused files first, then one
transaction per region holding its rows, its load-log entries and the PII scan's findings
together, checked against what was prepared (a region whose count differs is rolled back).
A stored raw table is first brought up to its declaration (a newly declared column is added).
"""

from __future__ import annotations

import pyarrow as pa

from orchestration.lib.governance.pii_scan import columns_below_detection, scan_every_row
from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.landing import LandingFile
from orchestration.lib.ingest.load_report import LoadReport
from orchestration.lib.ingest.readers import route_rejected
from orchestration.lib.ingest.triage import key_is_null, key_match
from orchestration.lib.settings import current_time
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import quote_ident, sql_literal, sql_text_list


class ReconciliationError(RuntimeError):
    """A region inserted a different number of rows than it prepared; it was rolled back."""


class StoredSchemaError(RuntimeError):
    """A stored raw table holds a declared column with another type than its declaration."""


def _record_json(spec: SourceTable, alias: str) -> str:
    fields = ", ".join(f"{quote_ident(c)} := {alias}.{quote_ident(c)}" for c in spec.column_names)
    return f"to_json(struct_pack({fields}))::VARCHAR"


def _unroutable_reason(spec: SourceTable) -> str:
    route = quote_ident(spec.route_by)
    return (f"CASE WHEN {key_is_null(spec, 'i')} THEN 'primary key "
            f"{', '.join(spec.primary_key)} is empty' ELSE 'country ' || "
            f"coalesce(i.{route}, '(empty)') || ' in column {spec.route_by} belongs to no "
            f"region of policies/regions.yaml' END")


# Quarantine reasons grouped for the report: quoted values and numbers are blanked.
_REASON_GROUP = r"regexp_replace(reason, '\"[^\"]*\"|\d+', '…', 'g')"


NUL_SHOWN = "\u2400"  # ␀: text stores (PostgreSQL) refuse a NUL byte; a reader sees this


def _printable(text: str) -> str:
    """`text` with each NUL byte shown as ␀, so a reason quoting a broken file can be kept in
    any store (`_printable_column` does the same in SQL)."""
    return text.replace("\x00", NUL_SHOWN)


def _printable_column(column: str) -> str:
    return f"replace({column}, chr(0), '{NUL_SHOWN}') AS {column}"


def write_quarantine(con, spec: SourceTable, unrouted, stores: dict, files: list[LandingFile],
                      run_id: str, report: LoadReport) -> None:
    """The batch's quarantined rows, each in its region's quarantine when its region is known
    (a row read and routed but refused, or a broken line whose country still shows), else in
    the unrouted one with the refused files.
    One transaction per store; a rerun of the batch replaces what an interrupted one wrote."""
    route_rejected(con, spec, files)
    con.execute(f"CREATE OR REPLACE TEMP TABLE quarantined AS "
                f"SELECT _file, line, reason, record, region_of(r.country) AS _region "
                f"FROM rejected LEFT JOIN rejected_routes r USING (_file, line) "
                f"UNION ALL SELECT i._file, i._line, {_unroutable_reason(spec)}, "
                f"{_record_json(spec, 'i')}, i._region FROM incoming i "
                f"WHERE {key_is_null(spec, 'i')} OR i._region IS NULL UNION ALL "
                f"SELECT l._file, l._line, l.problem, {_record_json(spec, 'i')}, i._region "
                f"FROM losers l JOIN incoming i ON i.rowid = l.rid WHERE l.problem IS NOT NULL")
    # This batch's refused files, each with its own fingerprint (the register is how a refused
    # file is known again, unread, on the next run).
    fingerprints = {f.name: f.fingerprint for f in files}
    refused = {name: _printable(why) for name, why in report.files_refused.items()
               if name in fingerprints}
    in_batch = "file IN (" + ", ".join(sql_literal(f.name) for f in files) + ")"
    stamp = ["CAST(? AS VARCHAR)", "CAST(? AS VARCHAR)", "CAST(? AS TIMESTAMP)"]
    stamped = [spec.name, run_id, current_time()]
    places = [(unrouted, f"{unrouted.at}{ledger.QUARANTINE_TABLE}",
               f"_region IS NULL OR NOT list_contains({sql_text_list(list(stores))}, _region)")]
    places += [(store, f"{store.at}{ledger.REGION_QUARANTINE}", f"_region = {sql_literal(region)}")
               for region, store in sorted(stores.items())]
    shown = f"{_printable_column('reason')}, {_printable_column('record')}"
    for store, table, belongs in places:
        rows = store.to_store("quarantined_here",
                              f"SELECT _file, line, {shown} FROM quarantined WHERE {belongs}")
        store.execute("BEGIN")
        store.execute(f"DELETE FROM {table} WHERE source_table = ? AND {in_batch}", [spec.name])
        store.insert(table, f"SELECT {stamp[0]}, _file, line, reason, record, {stamp[1]}, "
                            f"{stamp[2]} FROM {rows}", stamped)
        if store is unrouted:
            register = f"{unrouted.at}{ledger.REFUSED_FILES_TABLE}"
            store.execute(f"DELETE FROM {register} WHERE source_table = ? AND {in_batch}",
                          [spec.name])
            if refused:
                files_refused = store.arrow_to_store("refused_here", pa.table({
                    "file": list(refused), "reason": list(refused.values()),
                    "fingerprint": [fingerprints[name] for name in refused]}))
                store.insert(table, f"SELECT {stamp[0]}, file, CAST(NULL AS BIGINT), reason, "
                                    f"CAST(NULL AS VARCHAR), {stamp[1]}, {stamp[2]} "
                                    f"FROM {files_refused}", stamped)
                store.insert(register, f"SELECT {stamp[0]}, file, fingerprint, reason, "
                                       f"{stamp[1]}, {stamp[2]} FROM {files_refused}", stamped)
        store.execute("COMMIT")
    reasons = con.execute(f"SELECT {_REASON_GROUP}, count(*) FROM quarantined GROUP BY 1"
                          ).fetchall()
    report.quarantine_reasons.update(dict(reasons))
    report.rows_quarantined += report.tally("quarantined", con.execute(
        "SELECT _file, count(*) FROM quarantined GROUP BY 1").fetchall())
    report.rows_superseded += report.tally("superseded", con.execute(
        "SELECT _file, count(*) FROM losers WHERE problem IS NULL GROUP BY 1").fetchall())


def _load_id(run_id: str, file: str) -> str:
    """What ties a stored row to the file it came from and to that file's load-log entry."""
    return f"{run_id}:{file}"


def create_target(store, spec: SourceTable) -> None:
    """The region's raw table, typed as declared, before any file arrives: a source declared
    ahead of its first export is an empty table its models build on, not a missing one."""
    columns = ", ".join(f"{quote_ident(c.name)} {store.column_type(c.data_type)}"
                        for c in spec.columns)
    store.execute(f"CREATE SCHEMA IF NOT EXISTS {store.at}{quote_ident(spec.schema)}")
    store.execute(f"CREATE TABLE IF NOT EXISTS {store.relation(spec.schema, spec.table)} "
                  f"({columns}, _load_id VARCHAR, _loaded_at TIMESTAMP)")


def _stored(spec: SourceTable, has_losers: bool) -> str:
    """The rows of the batch that go to a region: routed, with a key, not losers."""
    return (f"_region IS NOT NULL AND NOT {key_is_null(spec)}"
            + (" AND rowid NOT IN (SELECT rid FROM losers)" if has_losers else ""))


def scan_for_pii(con, spec: SourceTable, rows: str, has_losers: bool) -> dict:
    """PII in the batch's rows to be stored, by (region, file, column): one pass per scanned
    column for all regions."""
    return scan_every_row(
        con, f"(SELECT * FROM {rows} WHERE {_stored(spec, has_losers)})",
        columns_below_detection((c.name, c.data_type, c.classification) for c in spec.columns))


def load_region(con, spec: SourceTable, store, region: str, files: list[LandingFile],
                 run_id: str, report: LoadReport, has_losers: bool, findings: dict,
                 rows: str = "incoming", routed: dict[str, int] | None = None) -> None:
    """Commit one region's rows of the batch, with what the PII scan found in them. `rows` is
    where full rows come from; counts always come from `incoming`, which for a clean Parquet
    batch holds only key columns. `routed`, when the caller counted them, is the rows of each
    file that go to this region, so they are not counted again here."""
    target = store.relation(spec.schema, spec.table)
    done = {f for f, _ in ledger.loaded_fingerprints(store, store.at, spec.name)}
    todo = [f for f in files if f.name not in done and f.name not in report.files_refused]
    names = [f.name for f in todo]
    columns = ", ".join(quote_ident(c) for c in spec.column_names)
    routed_here = f"_region = {sql_literal(region)} AND {_stored(spec, has_losers)}"
    # Rows of files this region committed before a crash are already stored: count, skip.
    # When it committed none of the batch, every routed row is of a file to do (a refused
    # file has no rows here).
    already_loaded = 0
    if any(f.name in done for f in files):
        already_loaded = con.execute(f"SELECT count(*) FROM incoming WHERE {routed_here} "
                                     f"AND NOT list_contains(?, _file)", [names]).fetchall()[0][0]
    only_todo = "" if not already_loaded else f" AND list_contains({sql_text_list(names)}, _file)"
    prepared = f"SELECT {columns}, _file FROM {rows} WHERE {routed_here}{only_todo}"
    stale = 0
    # Only compare with stored rows when one of them has a key of the batch: a first load, or
    # new files of a source whose keys only grow, goes straight in.
    compare = store.holds_any(target, f"({prepared})", key_match(spec))
    batch = store.to_store("batch", prepared) if compare else f"({prepared})"
    if compare and spec.cursor:
        cursor = quote_ident(spec.cursor)
        newer_stored = (f"EXISTS (SELECT 1 FROM {target} t WHERE {key_match(spec)} "
                        f"AND b.{cursor} <= t.{cursor})")
        stale = store.delete_where(f"{batch} b", newer_stored)
    if compare:
        per_file = dict(store.execute(f"SELECT _file, count(*) FROM {batch} GROUP BY 1"
                                      ).fetchall())
    elif routed is not None:
        per_file = {name: routed[name] for name in names if name in routed}
    else:
        per_file = dict(con.execute(f"SELECT _file, count(*) FROM incoming WHERE {routed_here}"
                                    f"{only_todo} GROUP BY 1").fetchall())
    # Row order in a raw table carries no meaning; dropping it lets DuckDB write in parallel.
    con.execute("SET preserve_insertion_order = false")
    store.execute("BEGIN")
    if compare:
        store.execute(f"DELETE FROM {target} t USING {batch} b WHERE {key_match(spec)}")
    now = current_time()
    stamped = (f"SELECT {columns}, {sql_literal(_load_id(run_id, ''))} || _file AS _load_id, "
               f"CAST({sql_literal(now.isoformat(sep=' '))} AS TIMESTAMP) AS _loaded_at "
               f"FROM {batch}")
    inserted = (store.insert(target, f"({columns}, _load_id, _loaded_at) {stamped}") if compare
                else store.append(spec.schema, spec.table, stamped))
    if inserted != sum(per_file.values()):
        store.execute("ROLLBACK")
        raise ReconciliationError(f"{spec.name}: {sum(per_file.values())} rows prepared for "
                                  f"{region} but {inserted} inserted; the load was rolled back")
    stamp = [spec.name, run_id, now]
    log = store.arrow_to_store("loaded_here", pa.table({
        "file": pa.array(names, pa.string()),
        "fingerprint": pa.array([f.fingerprint for f in todo], pa.string()),
        "rows_loaded": pa.array([per_file.get(name, 0) for name in names], pa.int64()),
        "load_id": pa.array([_load_id(run_id, name) for name in names], pa.string())}))
    store.insert(f"{store.at}{ledger.LOG_TABLE}",
                 "SELECT CAST(? AS VARCHAR), file, fingerprint, rows_loaded, CAST(? AS VARCHAR), "
                 f"load_id, CAST(? AS TIMESTAMP) FROM {log}", stamp)
    found_here = [{"load_id": _load_id(run_id, file), "column_name": column, "kind": kind,
                   "hits": hits, "example": found.examples[kind]}
                  for (found_in, file, column), found in findings.items() if found_in == region
                  for kind, hits in found.hits.items()]
    if found_here:
        found_rows = store.arrow_to_store("found_here", pa.Table.from_pylist(found_here))
        store.insert(f"{store.at}{ledger.FINDINGS_TABLE}",
                     "SELECT CAST(? AS VARCHAR), load_id, column_name, kind, hits, example, "
                     f"CAST(? AS TIMESTAMP) FROM {found_rows}", [spec.name, now])
    store.execute("COMMIT")
    con.execute("RESET preserve_insertion_order")
    report.tally(f"loaded_{region}", list(per_file.items()))
    report.rows_loaded[region] = report.rows_loaded.get(region, 0) + inserted
    report.rows_unchanged += already_loaded + stale


def evolve(con, store, spec: SourceTable) -> list[str]:
    """Bring a stored raw table up to its declaration: a newly declared column is added (empty
    in the rows stored before it); a declared column stored with another type is an error.
    Returns the columns added."""
    stored = store.table_columns(spec.schema, spec.table)
    if not stored:
        return []
    target = store.relation(spec.schema, spec.table)
    changed = {c.name: stored[c.name] for c in spec.columns
               if c.name in stored and stored[c.name] != _stored_type(con, c.data_type)}
    if changed:
        raise StoredSchemaError(
            f"{spec.name}: {target} stores " + ", ".join(
                f"{name} as {kind}" for name, kind in changed.items())
            + f", but {spec.declared_in.name} declares " + ", ".join(
                f"{c.name} {c.data_type}" for c in spec.columns if c.name in changed)
            + ". Declare the stored type again, or migrate the stored column first.")
    added = [c for c in spec.columns if c.name not in stored]
    for column in added:
        store.execute(f"ALTER TABLE {target} ADD COLUMN {quote_ident(column.name)} "
                      f"{store.column_type(column.data_type)}")
    return [c.name for c in added]


def _stored_type(con, declared: str) -> str:
    """How a declared type is named once stored (INT is INTEGER, DECIMAL(12,2) keeps its
    precision), asked of the scratch engine: every backend reports types in its spelling."""
    return con.execute(f"SELECT typeof(NULL::{declared})").fetchall()[0][0]
