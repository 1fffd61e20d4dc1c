"""Loading one declared source table from its landing files into every region's store.

One pass reads each new file into an in-memory scratch engine (typed, rejects captured), sorts
every row into exactly one outcome — quarantined, superseded by a newer version in the same
delivery, already stored, or loaded into its region — checks that the outcomes add up to what
was read, and only then commits: quarantine first, then one transaction per region holding the
rows and the load-log entries together. A load killed at any point leaves each store either
before or after its transaction, and a re-run picks up exactly what is missing.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field

import duckdb

from orchestration.lib.ingest import ledger
from orchestration.lib.ingest.landing import LandingFile, discover
from orchestration.lib.ingest.readers import FileRefused, create_scratch_tables, read_file
from orchestration.lib.settings import get_settings
from orchestration.lib.sources import SourceTable
from orchestration.lib.store import locked, qualified, quote_ident, scratch_connection, sql_literal
from policies.regions import country_to_region

QUARANTINE_CATALOG = "quarantine_store"


class ReconciliationError(RuntimeError):
    """Rows read did not equal rows loaded + quarantined + accounted for; nothing was committed."""


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
    quarantine_reasons: Counter = field(default_factory=Counter)
    table_rows: dict[str, int] = field(default_factory=dict)

    @property
    def accounted(self) -> int:
        return (sum(self.rows_loaded.values()) + self.rows_unchanged + self.rows_superseded
                + self.rows_quarantined)

    @property
    def reconciled(self) -> bool:
        return self.rows_read == self.accounted


def _key(spec: SourceTable, alias: str = "") -> list[str]:
    prefix = f"{alias}." if alias else ""
    return [prefix + quote_ident(k) for k in spec.primary_key]


def _attach(con: duckdb.DuckDBPyConnection, stack: contextlib.ExitStack, path, name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stack.enter_context(locked(path))
    con.execute(f"ATTACH {sql_literal(str(path))} AS {quote_ident(name)}")


def _read_pending(con, spec: SourceTable, files: list[LandingFile], report: LoadReport) -> None:
    create_scratch_tables(con, spec)
    for file in files:
        report.files_new.append(file.name)
        try:
            read_file(con, spec, file)
        except (FileRefused, duckdb.Error) as error:
            reason = str(error) if isinstance(error, FileRefused) else (
                f"could not be read: {str(error).splitlines()[0]}")
            for table in ("incoming", "rejected"):
                con.execute(f"DELETE FROM {table} WHERE _file = ?", [file.name])
            report.files_refused[file.name] = reason


def _classify(con, spec: SourceTable) -> None:
    """Mark each incoming row: its region, and why it cannot load (NULL when it can)."""
    mapping = ", ".join(f"({sql_literal(c)}, {sql_literal(r)})"
                        for c, r in country_to_region().items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE region_map AS "
                f"SELECT * FROM (VALUES {mapping}) t(country, region)")
    key_null = " OR ".join(f"{k} IS NULL" for k in _key(spec))
    route = quote_ident(spec.route_by)
    keys = ", ".join(_key(spec))
    cursor = quote_ident(spec.cursor) if spec.cursor else "NULL"
    key_text = " || ',' || ".join(f"{k}::VARCHAR" for k in _key(spec))
    con.execute(f"CREATE OR REPLACE TEMP TABLE dup_keys AS SELECT {keys} FROM incoming "
                f"WHERE NOT ({key_null}) GROUP BY ALL HAVING count(*) > 1")
    # Among rows sharing a key the latest cursor (then the latest file) wins; an older version
    # is superseded, anything else with the same key is an ambiguous duplicate.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE losers AS SELECT rid, _file, _line, "
        f"CASE WHEN {cursor} IS NOT NULL AND {cursor} < winner_cursor THEN NULL ELSE "
        f"'duplicate primary key ' || {key_text}"
        f" || ' (kept the row from ' || winner_file || ')' END AS problem FROM ("
        f"SELECT rowid AS rid, *, row_number() OVER w AS rank, first_value(_file) OVER w "
        f"AS winner_file, first_value({cursor}) OVER w AS winner_cursor "
        f"FROM incoming SEMI JOIN dup_keys USING ({keys}) WINDOW w AS (PARTITION BY {keys} "
        f"ORDER BY {cursor} DESC NULLS LAST, _file DESC, _line DESC NULLS LAST, rowid DESC)) "
        f"WHERE rank > 1"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE routed AS "
        f"SELECT incoming.rowid AS rid, m.region AS _region, "
        f"CASE WHEN {key_null} THEN 'primary key {', '.join(spec.primary_key)} is empty' "
        f"WHEN m.region IS NULL THEN 'country ' || coalesce(incoming.{route}, '(empty)') || "
        f"' in column {spec.route_by} belongs to no region of policies/regions.yaml' "
        f"END AS problem "
        f"FROM incoming LEFT JOIN region_map m ON m.country = upper(trim(incoming.{route}))"
    )


def _record_json(spec: SourceTable, alias: str) -> str:
    fields = ", ".join(f"{quote_ident(c)} := {alias}.{quote_ident(c)}" for c in spec.column_names)
    return f"to_json(struct_pack({fields}))::VARCHAR"


def _write_quarantine(con, spec: SourceTable, files: list[LandingFile], run_id: str,
                      report: LoadReport) -> None:
    q = quote_ident(QUARANTINE_CATALOG)
    names = [f.name for f in files]
    con.execute(f"CREATE OR REPLACE TEMP TABLE quarantined AS "
                f"SELECT _file, line, reason, record FROM rejected UNION ALL "
                f"SELECT i._file, i._line, r.problem, {_record_json(spec, 'i')} FROM routed r "
                f"JOIN incoming i ON i.rowid = r.rid WHERE r.problem IS NOT NULL UNION ALL "
                f"SELECT l._file, l._line, l.problem, {_record_json(spec, 'i')} FROM losers l "
                f"JOIN incoming i ON i.rowid = l.rid WHERE l.problem IS NOT NULL "
                f"AND l.rid NOT IN (SELECT rid FROM routed WHERE problem IS NOT NULL)")
    con.execute("BEGIN")
    con.execute(f"DELETE FROM {q}.{ledger.QUARANTINE_TABLE} WHERE source_table = ? "
                f"AND list_contains(?, file)", [spec.name, names])
    con.execute(f"INSERT INTO {q}.{ledger.QUARANTINE_TABLE} SELECT ?, _file, line, reason, record, "
                f"?, now() FROM quarantined", [spec.name, run_id])
    con.execute(f"INSERT INTO {q}.{ledger.QUARANTINE_TABLE} SELECT ?, f, NULL, r, NULL, ?, now() "
                f"FROM (SELECT unnest(?) AS f, unnest(?) AS r)",
                [spec.name, run_id, list(report.files_refused),
                 list(report.files_refused.values())])
    con.execute(f"DELETE FROM {q}.{ledger.REFUSED_FILES_TABLE} WHERE source_table = ? "
                f"AND list_contains(?, file)", [spec.name, names])
    for file in files:
        if file.name in report.files_refused:
            con.execute(f"INSERT INTO {q}.{ledger.REFUSED_FILES_TABLE} "
                        "VALUES (?, ?, ?, ?, ?, now())",
                        [spec.name, file.name, file.fingerprint,
                         report.files_refused[file.name], run_id])
    con.execute("COMMIT")
    reasons = con.execute("SELECT regexp_replace(reason, '''.*''|\\d+', '…', 'g'), count(*) "
                          "FROM quarantined GROUP BY 1").fetchall()
    report.quarantine_reasons.update(dict(reasons))
    report.rows_quarantined = sum(count for _, count in reasons)
    report.rows_superseded = con.execute(
        "SELECT count(*) FROM losers WHERE problem IS NULL AND rid NOT IN "
        "(SELECT rid FROM routed WHERE problem IS NOT NULL)").fetchone()[0]


def _target_ddl(spec: SourceTable, target: str) -> str:
    columns = ", ".join(f"{quote_ident(c.name)} {c.data_type}" for c in spec.columns)
    return (f"CREATE TABLE IF NOT EXISTS {target} ({columns}, _source_file VARCHAR, "
            "_loaded_at TIMESTAMP)")


def _load_region(con, spec: SourceTable, region: str, files: list[LandingFile], run_id: str,
                 report: LoadReport) -> None:
    target = qualified(spec.schema, spec.table, catalog=region)
    ledger.ensure_load_log(con, quote_ident(region))
    done = {f for f, _ in ledger.loaded_fingerprints(con, quote_ident(region), spec.name)}
    todo = [f.name for f in files if f.name not in done and f.name not in report.files_refused]
    columns = ", ".join(quote_ident(c) for c in spec.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE batch AS SELECT {columns}, i._file FROM incoming i "
        f"JOIN routed r ON r.rid = i.rowid WHERE r.problem IS NULL AND r._region = ? "
        f"AND list_contains(?, i._file) AND i.rowid NOT IN (SELECT rid FROM losers)",
        [region, todo],
    )
    routed_here = con.execute("SELECT count(*) FROM routed r JOIN incoming i ON i.rowid = r.rid "
                              "WHERE r.problem IS NULL AND r._region = ? AND i.rowid NOT IN "
                              "(SELECT rid FROM losers)", [region]).fetchone()[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(region)}.{quote_ident(spec.schema)}")
    con.execute(_target_ddl(spec, target))
    key_match = " AND ".join(f"t.{k} = b.{k}" for k in _key(spec))
    if spec.cursor:
        newer = f"b.{quote_ident(spec.cursor)} > t.{quote_ident(spec.cursor)}"
        con.execute(f"DELETE FROM batch b WHERE EXISTS (SELECT 1 FROM {target} t "
                    f"WHERE {key_match} AND NOT ({newer}))")
    fresh = con.execute("SELECT count(*) FROM batch").fetchone()[0]
    con.execute("BEGIN")
    con.execute(f"DELETE FROM {target} t USING batch b WHERE {key_match}")
    inserted = con.execute(f"INSERT INTO {target} SELECT {columns}, _file, now() FROM batch"
                           ).fetchone()[0]
    if inserted != fresh:
        con.execute("ROLLBACK")
        raise ReconciliationError(f"{spec.name}: {fresh} rows prepared for {region} but "
                                  f"{inserted} inserted; the load was rolled back")
    con.execute(
        f"INSERT INTO {quote_ident(region)}.{ledger.LOG_TABLE} SELECT ?, f.name, f.fp, "
        f"coalesce(c.n, 0), ?, now() FROM (SELECT unnest(?) AS name, unnest(?) AS fp) f "
        f"LEFT JOIN (SELECT _file, count(*) AS n FROM batch GROUP BY 1) c ON c._file = f.name",
        [spec.name, run_id, todo, [f.fingerprint for f in files if f.name in todo]],
    )
    con.execute("COMMIT")
    report.rows_loaded[region] = inserted
    report.rows_unchanged += routed_here - inserted
    report.table_rows[region] = con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def load_table(spec: SourceTable, regions: list[str], run_id: str = "manual") -> LoadReport:
    """Load every new landing file of one source table into the given regions' stores."""
    settings = get_settings()
    report = LoadReport(source_table=spec.name)
    con = scratch_connection()
    with contextlib.ExitStack() as stack:
        stack.callback(con.close)
        _attach(con, stack, settings.quarantine_store, QUARANTINE_CATALOG)
        ledger.ensure_quarantine(con, quote_ident(QUARANTINE_CATALOG))
        for region in sorted(regions):
            _attach(con, stack, settings.region_store(region), region)
            ledger.ensure_load_log(con, quote_ident(region))
        refused = ledger.refused_fingerprints(con, quote_ident(QUARANTINE_CATALOG), spec.name)
        loaded = [ledger.loaded_fingerprints(con, quote_ident(r), spec.name) for r in regions]
        done = refused | set.intersection(*loaded) if loaded else refused
        files = [f for f in discover(spec, settings.landing_dir)
                 if (f.name, f.fingerprint) not in done]
        _read_pending(con, spec, files, report)
        _classify(con, spec)
        report.rows_read = con.execute("SELECT (SELECT count(*) FROM incoming) "
                                       "+ (SELECT count(*) FROM rejected)").fetchone()[0]
        _write_quarantine(con, spec, files, run_id, report)
        for region in sorted(regions):
            _load_region(con, spec, region, files, run_id, report)
        if not report.reconciled:
            raise ReconciliationError(
                f"{spec.name}: read {report.rows_read} rows but accounted for {report.accounted} "
                f"(loaded {report.rows_loaded}, unchanged {report.rows_unchanged}, superseded "
                f"{report.rows_superseded}, quarantined {report.rows_quarantined})")
    return report
