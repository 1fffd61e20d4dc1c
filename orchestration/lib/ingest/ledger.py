"""Bookkeeping tables: which files each region has loaded (and what PII their rows held),
and the quarantine.

The load log lives in each region's store and is written in the same transaction as the rows,
so a killed load leaves neither. The quarantine lives in its own store beside the landing zone:
a quarantined row has not been routed yet, so it keeps the residency of the raw files.
"""

from __future__ import annotations

import duckdb

LOG_TABLE = "_steward.loaded_files"
FINDINGS_TABLE = "_steward.pii_findings"  # what the PII scan at load found, by load
QUARANTINE_TABLE = "quarantine"
REFUSED_FILES_TABLE = "refused_files"


def ensure_load_log(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {catalog}._steward")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {catalog}.{LOG_TABLE} (source_table VARCHAR, file VARCHAR, "
        "fingerprint VARCHAR, rows_loaded BIGINT, run_id VARCHAR, load_id VARCHAR, "
        "loaded_at TIMESTAMP)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {catalog}.{FINDINGS_TABLE} (source_table VARCHAR, "
        "load_id VARCHAR, column_name VARCHAR, kind VARCHAR, hits BIGINT, example VARCHAR, "
        "found_at TIMESTAMP)"
    )


def ensure_quarantine(con: duckdb.DuckDBPyConnection, catalog: str) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {catalog}.{QUARANTINE_TABLE} (source_table VARCHAR, "
        "file VARCHAR, line BIGINT, reason VARCHAR, record VARCHAR, run_id VARCHAR, "
        "quarantined_at TIMESTAMP)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {catalog}.{REFUSED_FILES_TABLE} (source_table VARCHAR, "
        "file VARCHAR, fingerprint VARCHAR, reason VARCHAR, run_id VARCHAR, refused_at TIMESTAMP)"
    )


def _fingerprints(con: duckdb.DuckDBPyConnection, table: str,
                  source_table: str) -> set[tuple[str, str]]:
    rows = con.execute(f"SELECT file, fingerprint FROM {table} WHERE source_table = ?",
                       [source_table]).fetchall()
    return {(file, fingerprint) for file, fingerprint in rows}


def loaded_fingerprints(con: duckdb.DuckDBPyConnection, catalog: str,
                        source_table: str) -> set[tuple[str, str]]:
    """(file, fingerprint) of every file this region's store has committed."""
    return _fingerprints(con, f"{catalog}.{LOG_TABLE}", source_table)


def refused_fingerprints(con: duckdb.DuckDBPyConnection, catalog: str,
                         source_table: str) -> set[tuple[str, str]]:
    """(file, fingerprint) of every file refused whole; a changed file is tried again."""
    return _fingerprints(con, f"{catalog}.{REFUSED_FILES_TABLE}", source_table)
