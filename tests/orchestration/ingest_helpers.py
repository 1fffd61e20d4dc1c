"""Helpers for ingest tests: write landing files, load one table, read back what landed."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.ingest.load_report import LoadReport
from orchestration.lib.ingest.loader import load_table
from orchestration.lib.sources import SourceTable, load_source_tables
from orchestration.lib.warehouse import reader, rows_if_present, store_path
from policies.regions import region_names
from tests.clock import stamp

CUSTOMER_HEADER = ("customer_id,full_name,email,phone,birth_date,gender,country,signup_at,"
                   "segment,lead_status,updated_at")


# Taken once, so rows written in one test share them to the second (a cursor tie is a duplicate).
SIGNED_UP, UPDATED = stamp(-730), stamp(-365)


def customer_row(customer_id: object, country: str = "US", name: str = "Ann Example",
                 birth_date: str = "1980-01-01", updated_at: str = UPDATED) -> str:
    """A CRM export line: signed up two years ago, updated a year ago unless `updated_at`."""
    return (f"{customer_id},{name},a{customer_id}@example.com,+1 555 0100,{birth_date},female,"
            f"{country},{SIGNED_UP},smb,open,{updated_at}")


def spec(name: str) -> SourceTable:
    return next(s for s in load_source_tables() if s.name == name)


def write_customers(landing: Path, file_name: str, lines: list[str] | bytes,
                    header: str = CUSTOMER_HEADER) -> Path:
    folder = landing / "crm" / "customers"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    if isinstance(lines, bytes):
        path.write_bytes(lines)
    else:
        path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def load(name: str = "crm.customers") -> LoadReport:
    return load_table(spec(name), region_names(), run_id="test")


def store_rows(region: str, sql: str) -> list[tuple]:
    with reader(store_path(region)) as con:
        return con.execute(sql).fetchall()


def customer_ids(region: str) -> list[int]:
    return [r[0] for r in store_rows(region, "SELECT customer_id FROM raw_crm.customers "
                                             "ORDER BY 1")]


def quarantine(where: str | None = None) -> list[tuple]:
    """(file name, line, reason, record) for every quarantined row or file, in every region's
    quarantine and the unrouted one (or only `where`: a region or "unrouted")."""
    from orchestration.lib.ingest.ledger import quarantines

    found = []
    for place, path, schema, table in quarantines():
        if where in (None, place):
            found += rows_if_present(path, table, f'SELECT file, line, reason, record FROM '
                                                  f'"{schema}"."{table}"', schema=schema)
    return sorted(found, key=lambda row: (row[0] or "", row[1] is None, row[1] or 0))
