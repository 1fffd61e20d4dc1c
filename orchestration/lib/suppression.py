"""The erasure register: which data subjects were erased, so no later load brings them back.

It lives in its own store file, apart from the regional stores a full rebuild would replace,
and holds only the subject's internal id (what a suppression list must hold to suppress) and
when and under which receipt it was erased.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from orchestration.lib.settings import get_settings
from orchestration.lib.store import reader, table_exists, write_connection

TABLE = "erased_subjects"


def register_store() -> Path:
    return get_settings().store_dir / "erasures.duckdb"


def record_erasure(subject: str, subject_id: str, erased_at: datetime, receipt: str) -> None:
    with write_connection(register_store()) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (subject VARCHAR, subject_id VARCHAR, "
                    "erased_at TIMESTAMP, receipt VARCHAR)")
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
                    [subject, subject_id, erased_at, receipt])


def erased_ids(subject: str) -> list[str]:
    path = register_store()
    if not path.exists():
        return []
    with reader(path) as con:
        if not table_exists(con, "main", TABLE):
            return []
        return [row[0] for row in con.execute(
            f"SELECT DISTINCT subject_id FROM {TABLE} WHERE subject = ?", [subject]).fetchall()]
