"""Loading one declared source table from its landing files into every region's store.

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
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pyarrow as pa

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.pii_scan import columns_below_detection, scan_every_row
from orchestration.lib.governance.suppression import erased_ids
from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.landing import LandingFile, discover
from orchestration.lib.ingest.readers import (
    create_scratch_tables,
    number_csv_rows,
    parquet_rows,
    read_files,
    read_parquet_files,
    reject_nul_bytes,
    remember_csv_rows,
    route_rejected,
)
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import (
    link,
    quote_ident,
    scratch_connection,
    sql_literal,
    sql_text_list,
    storage_errors_explained,
)
from policies.regions import country_to_region
from policies.rules import retention_days

QUARANTINE_CATALOG = "quarantine_store"
LOAD_AUDIT_KIND = "ingest.file"
NO_DATA_YET = "no_data_yet"  # metadata of a load whose landing folder has never held a file


class ReconciliationError(RuntimeError):
    """A region inserted a different number of rows than it prepared; it was rolled back."""


class StoredSchemaError(RuntimeError):
    """A stored raw table holds a declared column with another type than its declaration."""


@dataclass
class LoadReport:
    source_table: str
    files_new: list[str] = field(default_factory=list)
    files_refused: dict[str, str] = field(default_factory=dict)
    rows_read: int = 0
    rows_loaded: dict[str, int] = field(default_factory=dict)
    rows_unchanged: int = 0
    rows_superseded: int = 0
    rows_quarantined: int = 0
    rows_expired: int = 0  # already past the table's retention when they arrived
    rows_erased: int = 0  # of a data subject in the erasure register
    quarantine_reasons: Counter = field(default_factory=Counter)
    table_rows: dict[str, int] = field(default_factory=dict)
    columns_added: dict[str, list[str]] = field(default_factory=dict)  # newly declared, by region
    files_seen: int = 0  # in the landing folder, new or not
    by_file: dict[str, Counter] = field(default_factory=dict)  # outcome -> rows, per new file

    def tally(self, outcome: str, counts: list[tuple[str, int]]) -> int:
        """Add (file, rows) counts of one outcome; returns their total."""
        for name, rows in counts:
            self.by_file.setdefault(name, Counter())[outcome] += rows
        return sum(rows for _, rows in counts)

    def file_outcomes(self) -> dict[str, dict]:
        """What became of each new file's rows, for the audit log: rows already stored
        (unchanged) are what is left of those read."""
        outcomes = {}
        for name in self.files_new:
            counts = self.by_file.get(name, Counter())
            known = sum(rows for outcome, rows in counts.items() if outcome != "read")
            loaded = {f"loaded_{region}": counts[f"loaded_{region}"] for region in self.rows_loaded}
            outcomes[name] = {**counts, **loaded, "read": counts["read"],
                              "unchanged": counts["read"] - known}
        return outcomes

    @property
    def accounted(self) -> int:
        return (sum(self.rows_loaded.values()) + self.rows_unchanged + self.rows_superseded
                + self.rows_quarantined + self.rows_expired + self.rows_erased)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.accounted


def _key(spec: SourceTable, alias: str = "") -> list[str]:
    prefix = f"{alias}." if alias else ""
    return [prefix + quote_ident(k) for k in spec.primary_key]


def _key_is_null(spec: SourceTable, alias: str = "") -> str:
    """A key part that is missing, or a text key spelled as nothing (`NULL`, blank): exports
    write those for an absent value, and such a key identifies no one."""
    tests = []
    for name, ref in zip(spec.primary_key, _key(spec, alias), strict=True):
        text = spec.column(name).data_type == "VARCHAR"
        tests.append(f"{ref} IS NULL OR upper(trim({ref})) IN ('', 'NULL')" if text
                     else f"{ref} IS NULL")
    return "(" + " OR ".join(tests) + ")"


def _key_match(spec: SourceTable) -> str:
    return " AND ".join(f"t.{k} = b.{k}" for k in _key(spec))


def _read_pending(con, spec: SourceTable, files: list[LandingFile], report: LoadReport) -> None:
    create_scratch_tables(con, spec, country_to_region())
    report.files_new.extend(file.name for file in files)
    report.files_refused.update({file.name: file.refused for file in files if file.refused})
    report.files_refused.update(read_files(con, spec, [f for f in files if not f.refused]))
    if spec.format == "csv":
        remember_csv_rows(con)
    reject_nul_bytes(con, spec, files)


def _exclusions(spec: SourceTable) -> dict[str, str]:
    """SQL conditions on `incoming` for rows that must not be stored: "expired" (older than the
    table's retention) and "erased" (a subject in the erasure register)."""
    found = {}
    if spec.event_time and spec.retention:
        cutoff = current_time() - timedelta(days=retention_days(spec.retention))
        found["expired"] = (f"{quote_ident(spec.event_time)} < "
                            f"TIMESTAMP {sql_literal(cutoff.isoformat(sep=' '))}")
    for column in spec.columns:
        erased = erased_ids(column.subject) if column.subject else []
        if erased:
            found.setdefault("erased", "false")
            found["erased"] += (f" OR CAST({quote_ident(column.name)} AS VARCHAR) IN "
                                f"(SELECT unnest({sql_text_list(erased)}))")
    return found


def _exclude(con, spec: SourceTable, report: LoadReport) -> None:
    """Drop expired and erased rows from the batch before anything is stored, counting them."""
    for reason, condition in _exclusions(spec).items():
        counts = con.execute(f"SELECT _file, count(*) FROM incoming WHERE {condition} "
                             f"GROUP BY 1").fetchall()
        if counts:
            con.execute(f"DELETE FROM incoming WHERE {condition}")
            setattr(report, f"rows_{reason}",
                    getattr(report, f"rows_{reason}") + report.tally(reason, counts))


PLACES_NAMED = 5  # a conflict names this many of its rows; a key repeated a million times


def _find_duplicate_keys(con, spec: SourceTable) -> None:
    """`dup_keys`: the keys more than one routable row of the batch carries."""
    keys = ", ".join(_key(spec))
    con.execute(f"CREATE OR REPLACE TEMP TABLE dup_keys AS SELECT {keys} FROM incoming "
                f"WHERE NOT {_key_is_null(spec)} AND _region IS NOT NULL "
                f"GROUP BY {keys} HAVING count(*) > 1")


def _to_quarantine_or_compare(spec: SourceTable) -> str:
    """Rows of `incoming i` that may be quarantined, so must name their line."""
    same_key = " AND ".join(f"d.{k} = i.{k}" for k in _key(spec))
    return (f"{_key_is_null(spec, 'i')} OR i._region IS NULL OR "
            f"EXISTS (SELECT 1 FROM dup_keys d WHERE {same_key})")


def _find_losers(con, spec: SourceTable) -> bool:
    """Rows of `dup_keys` that are not stored; returns whether there are any.

    The latest cursor wins, then the latest file (a later export is a later delivery): an
    older version is superseded (problem is NULL). Rows tied for latest are one row when
    identical (the copies are superseded) and a conflict when not: nothing says which is right,
    so every one of them is quarantined, naming where the others are. With a cursor declared,
    a row without a cursor value cannot be ordered and is quarantined too.
    """
    keys = ", ".join(_key(spec))
    cursor = quote_ident(spec.cursor) if spec.cursor else "NULL"
    key_text = " || ',' || ".join(f"{k}::VARCHAR" for k in _key(spec))
    content = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in spec.column_names)
    order = f"ORDER BY {cursor} DESC NULLS LAST, _file DESC"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE dup_rows AS SELECT rowid AS rid, {keys}, _file, _line, "
        f"{cursor} AS cursor_value, hash(struct_pack({content})) AS content, "
        f"dense_rank() OVER (PARTITION BY {keys} {order}) AS tier, "
        f"row_number() OVER (PARTITION BY {keys} {order}, rowid) AS rank "
        f"FROM incoming SEMI JOIN dup_keys USING ({keys}) WHERE _region IS NOT NULL")
    unordered = ("'duplicate primary key ' || key_text || ' without a "
                 f"{spec.cursor} to order it'" if spec.cursor else "NULL")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE losers AS SELECT rid, _file, _line, CASE "
        f"WHEN tier = 1 AND versions > 1 THEN 'conflicting rows for primary key ' || key_text "
        f"|| ' (' || places || ') and nothing orders them: fix the export and deliver it again' "
        f"WHEN cursor_value IS NULL AND tier > 1 THEN {unordered} END AS problem "
        f"FROM dup_rows JOIN (SELECT {keys}, {key_text} AS key_text, "
        f"count(DISTINCT content) FILTER (WHERE tier = 1) AS versions, "
        f"list(_file || ' line ' || coalesce(_line::VARCHAR, '?') ORDER BY _file, _line) "
        f"FILTER (WHERE tier = 1) AS tied, array_to_string(tied[:{PLACES_NAMED}], ', ') || "
        f"CASE WHEN len(tied) > {PLACES_NAMED} THEN ' and ' || (len(tied) - {PLACES_NAMED}) "
        f"|| ' more' ELSE '' END AS places "
        f"FROM dup_rows GROUP BY ALL) USING ({keys}) WHERE rank > 1 OR versions > 1")
    return bool(con.execute("SELECT count(*) FROM losers").fetchall()[0][0])


def _record_json(spec: SourceTable, alias: str) -> str:
    fields = ", ".join(f"{quote_ident(c)} := {alias}.{quote_ident(c)}" for c in spec.column_names)
    return f"to_json(struct_pack({fields}))::VARCHAR"


def _unroutable_reason(spec: SourceTable) -> str:
    route = quote_ident(spec.route_by)
    return (f"CASE WHEN {_key_is_null(spec, 'i')} THEN 'primary key "
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


def _write_quarantine(con, spec: SourceTable, unrouted, stores: dict, files: list[LandingFile],
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
                f"WHERE {_key_is_null(spec, 'i')} OR i._region IS NULL UNION ALL "
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


def _create_target(store, spec: SourceTable) -> None:
    """The region's raw table, typed as declared, before any file arrives: a source declared
    ahead of its first export is an empty table its models build on, not a missing one."""
    columns = ", ".join(f"{quote_ident(c.name)} {store.column_type(c.data_type)}"
                        for c in spec.columns)
    store.execute(f"CREATE SCHEMA IF NOT EXISTS {store.at}{quote_ident(spec.schema)}")
    store.execute(f"CREATE TABLE IF NOT EXISTS {store.relation(spec.schema, spec.table)} "
                  f"({columns}, _load_id VARCHAR, _loaded_at TIMESTAMP)")


def _stored(spec: SourceTable, has_losers: bool) -> str:
    """The rows of the batch that go to a region: routed, with a key, not losers."""
    return (f"_region IS NOT NULL AND NOT {_key_is_null(spec)}"
            + (" AND rowid NOT IN (SELECT rid FROM losers)" if has_losers else ""))


def _scan_for_pii(con, spec: SourceTable, rows: str, has_losers: bool) -> dict:
    """PII in the batch's rows to be stored, by (region, file, column): one pass per scanned
    column for all regions."""
    return scan_every_row(
        con, f"(SELECT * FROM {rows} WHERE {_stored(spec, has_losers)})",
        columns_below_detection((c.name, c.data_type, c.classification) for c in spec.columns))


def _load_region(con, spec: SourceTable, store, region: str, files: list[LandingFile],
                 run_id: str, report: LoadReport, has_losers: bool, findings: dict,
                 rows: str = "incoming") -> None:
    """Commit one region's rows of the batch, with what the PII scan found in them. `rows` is
    where full rows come from; counts always come from `incoming`, which for a clean Parquet
    batch holds only key columns."""
    target = store.relation(spec.schema, spec.table)
    done = {f for f, _ in ledger.loaded_fingerprints(store, store.at, spec.name)}
    todo = [f for f in files if f.name not in done and f.name not in report.files_refused]
    names = [f.name for f in todo]
    columns = ", ".join(quote_ident(c) for c in spec.column_names)
    routed_here = f"_region = {sql_literal(region)} AND {_stored(spec, has_losers)}"
    # Rows of files this region committed before a crash are already stored: count, skip.
    already_loaded = con.execute(f"SELECT count(*) FROM incoming WHERE {routed_here} "
                                 f"AND NOT list_contains(?, _file)", [names]).fetchall()[0][0]
    only_todo = "" if not already_loaded else f" AND list_contains({sql_text_list(names)}, _file)"
    prepared = f"SELECT {columns}, _file FROM {rows} WHERE {routed_here}{only_todo}"
    stale = 0
    # Only compare with stored rows when there are any: the first load goes straight in.
    compare = bool(store.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0])
    batch = store.to_store("batch", prepared) if compare else f"({prepared})"
    if compare and spec.cursor:
        cursor = quote_ident(spec.cursor)
        newer_stored = (f"EXISTS (SELECT 1 FROM {target} t WHERE {_key_match(spec)} "
                        f"AND b.{cursor} <= t.{cursor})")
        stale = store.delete_where(f"{batch} b", newer_stored)
    per_file = dict(store.execute(f"SELECT _file, count(*) FROM {batch} GROUP BY 1").fetchall()
                    if compare else con.execute(
        f"SELECT _file, count(*) FROM incoming WHERE {routed_here}{only_todo} GROUP BY 1"
    ).fetchall())
    # Row order in a raw table carries no meaning; dropping it lets DuckDB write in parallel.
    con.execute("SET preserve_insertion_order = false")
    store.execute("BEGIN")
    if compare:
        store.execute(f"DELETE FROM {target} t USING {batch} b WHERE {_key_match(spec)}")
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


def _evolve(con, store, spec: SourceTable) -> list[str]:
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
    if spec.format == "parquet" and _load_clean_parquet(con, spec, unrouted, stores, files,
                                                        run_id, report):
        return
    _read_pending(con, spec, files, report)
    report.rows_read += report.tally("read", con.execute(
        "SELECT _file, count(*) FROM (SELECT _file FROM incoming UNION ALL "
        "SELECT _file FROM rejected) GROUP BY 1").fetchall())
    _exclude(con, spec, report)
    _find_duplicate_keys(con, spec)
    if spec.format == "csv":
        number_csv_rows(con, files, _to_quarantine_or_compare(spec))
    has_losers = _find_losers(con, spec)
    _write_quarantine(con, spec, unrouted, stores, files, run_id, report)
    findings = _scan_for_pii(con, spec, "incoming", has_losers)
    for region, store in sorted(stores.items()):
        _load_region(con, spec, store, region, files, run_id, report, has_losers, findings)


def _load_clean_parquet(con, spec: SourceTable, unrouted, stores: dict,
                        files: list[LandingFile], run_id: str, report: LoadReport) -> bool:
    """Parquet is columnar: read only the key, cursor and routing columns first. When the batch
    has no refused file, empty key, unknown country or repeated key, every row goes straight
    from the files to its region's table; otherwise returns False for the full path."""
    if any(f.refused or f.size == 0 for f in files):
        return False  # the full path refuses those files with the reason, never reading them
    create_scratch_tables(con, spec, country_to_region())
    exclusions = _exclusions(spec)
    probe = sorted({*spec.primary_key, spec.route_by, *([spec.cursor] if spec.cursor else []),
                    *([spec.event_time] if "expired" in exclusions else []),
                    *(c.name for c in spec.columns if c.subject and "erased" in exclusions)})
    if read_parquet_files(con, spec, files, columns=probe):
        return False
    excluded = " OR ".join(f"({condition})" for condition in exclusions.values()) or "false"
    anomalies = con.execute(
        f"SELECT count(*) FILTER (WHERE {_key_is_null(spec)} OR _region IS NULL), "
        f"count(*) - count(DISTINCT ({', '.join(_key(spec))})), "
        f"count(*) FILTER (WHERE {excluded}) FROM incoming").fetchall()[0]
    if any(anomalies):
        return False
    report.files_new.extend(file.name for file in files)
    report.rows_read += report.tally("read", con.execute(
        "SELECT _file, count(*) FROM incoming GROUP BY 1").fetchall())
    con.execute("CREATE OR REPLACE TEMP TABLE losers "
                "(rid BIGINT, _file VARCHAR, _line BIGINT, problem VARCHAR)")
    _write_quarantine(con, spec, unrouted, stores, files, run_id, report)
    rows = parquet_rows(spec, files)
    findings = _scan_for_pii(con, spec, rows, False)
    for region, store in sorted(stores.items()):
        _load_region(con, spec, store, region, files, run_id, report, False, findings,
                     rows=rows)
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
            report.columns_added[region] = _evolve(con, store, spec)
            _create_target(store, spec)
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
