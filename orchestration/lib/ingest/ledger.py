"""Bookkeeping tables: which files each region has loaded (and what PII their rows held),
and the quarantine.

The load log lives in each region's store and is written in the same transaction as the rows,
so a killed load leaves neither. The quarantine is regional too: a quarantined row whose region
is known (its routing column was read) stays in that region's store (`_steward.quarantine`),
under that region's residency, retention and erasure. Only what no region can be told for (a
line that could not be read, a country no region holds) and the files refused whole go to the
unrouted quarantine store beside the landing zone, which keeps the residency of the raw files.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import Connection, qualified, rows_if_present
from policies.regions import region_names

LOG_TABLE = "_steward.loaded_files"
FINDINGS_TABLE = "_steward.pii_findings"  # what the PII scan at load found, by load
QUARANTINE_TABLE = "quarantine"  # in the unrouted quarantine store
REGION_QUARANTINE = "_steward.quarantine"  # in each region's store
REFUSED_FILES_TABLE = "refused_files"
_QUARANTINE_COLUMNS = ("(source_table VARCHAR, file VARCHAR, line BIGINT, reason VARCHAR, "
                       "record VARCHAR, run_id VARCHAR, quarantined_at TIMESTAMP)")


def ensure_load_log(con: Connection, at: str = "") -> None:
    """The load log and the PII findings, in the store `con` opened, or the one whose name
    `at` (`"eu".`) puts before a relation."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {at}_steward")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {at}{LOG_TABLE} (source_table VARCHAR, file VARCHAR, "
        "fingerprint VARCHAR, rows_loaded BIGINT, run_id VARCHAR, load_id VARCHAR, "
        "loaded_at TIMESTAMP)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {at}{FINDINGS_TABLE} (source_table VARCHAR, "
        "load_id VARCHAR, column_name VARCHAR, kind VARCHAR, hits BIGINT, example VARCHAR, "
        "found_at TIMESTAMP)"
    )


def ensure_quarantine(con: Connection, at: str = "") -> None:
    """The unrouted quarantine and the refused-file register, in the quarantine store."""
    con.execute(f"CREATE TABLE IF NOT EXISTS {at}{QUARANTINE_TABLE} {_QUARANTINE_COLUMNS}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {at}{REFUSED_FILES_TABLE} (source_table VARCHAR, "
        "file VARCHAR, fingerprint VARCHAR, reason VARCHAR, run_id VARCHAR, refused_at TIMESTAMP)"
    )


def ensure_region_quarantine(con: Connection, at: str = "") -> None:
    """A region's quarantine, in the store `con` opened, or the one `at` names."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {at}_steward")
    con.execute(f"CREATE TABLE IF NOT EXISTS {at}{REGION_QUARANTINE} {_QUARANTINE_COLUMNS}")


def quarantines() -> list[tuple[str, Path, str, str]]:
    """Every quarantine: (its region or "unrouted", store file, schema, table)."""
    settings = get_settings()
    schema, _, table = REGION_QUARANTINE.partition(".")
    return ([(region, settings.region_store(region), schema, table) for region in region_names()]
            + [("unrouted", settings.quarantine_store, "main", QUARANTINE_TABLE)])


def _fingerprints(con: Connection, table: str,
                  source_table: str) -> set[tuple[str, str]]:
    rows = con.execute(f"SELECT file, fingerprint FROM {table} WHERE source_table = ?",
                       [source_table]).fetchall()
    return {(file, fingerprint) for file, fingerprint in rows}


def loaded_fingerprints(con: Connection, at: str,
                        source_table: str) -> set[tuple[str, str]]:
    """(file, fingerprint) of every file this region's store has committed."""
    return _fingerprints(con, f"{at}{LOG_TABLE}", source_table)


def refused_fingerprints(con: Connection, at: str,
                         source_table: str) -> set[tuple[str, str]]:
    """(file, fingerprint) of every file refused whole; a changed file is tried again."""
    return _fingerprints(con, f"{at}{REFUSED_FILES_TABLE}", source_table)


def quarantine_summary() -> list[tuple[str, str, str, int, object]]:
    """(quarantine, source table, reason, records, oldest) over every quarantine."""
    return [(place, *row) for place, path, schema, table in quarantines()
            for row in rows_if_present(
                path, table, f"SELECT source_table, reason, count(*), min(quarantined_at) "
                             f"FROM {qualified(schema, table)} GROUP BY 1, 2 ORDER BY 1, 2",
                schema=schema)]


def quarantined_records(place: str, limit: int) -> list[tuple[str, str, int, str, str]]:
    """(source table, file, line, reason, record) of one quarantine, oldest first."""
    return [row for where, path, schema, table in quarantines() if where == place
            for row in rows_if_present(
                path, table, f"SELECT source_table, file, line, reason, record FROM "
                             f"{qualified(schema, table)} ORDER BY quarantined_at, file, line "
                             f"LIMIT ?", [limit], schema=schema)]
