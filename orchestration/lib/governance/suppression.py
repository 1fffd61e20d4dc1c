"""The erasure register: which data subjects were erased, so no later load brings them back.

It lives in its own store file, apart from the regional stores a full rebuild would replace,
with a journal beside the backups (`journaled_erasures`), which a restore replays; it holds the
subject's internal id (what a suppression list must hold to suppress) and when
and under which receipt it was erased. An erasure is registered before anything is deleted, as
`pending` with where the subject was found (its keys and identifiers: what a rerun after a crash
could no longer find in the stores it already erased); finishing it keeps only the id.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import (
    add_missing_column,
    rows_if_present,
    write_connection,
)

TABLE = "erased_subjects"


def register_store() -> Path:
    return get_settings().store_dir / "erasures.duckdb"


PENDING, DONE = "pending", "done"


def _ensure(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (subject VARCHAR, subject_id VARCHAR, "
                "erased_at TIMESTAMP, receipt VARCHAR)")
    # Registers written before erasures could be pending hold finished ones only.
    add_missing_column(con, "main", TABLE, "status", f"VARCHAR DEFAULT '{DONE}'")
    add_missing_column(con, "main", TABLE, "trace", "VARCHAR")


def begin_erasure(subject: str, subject_id: str, started: datetime, receipt: str,
                  trace: str) -> tuple[str, str] | None:
    """Register the erasure as pending with its trace, before anything is deleted. When one
    is pending already (a crash stopped it), it stays: returns its receipt and trace."""
    with write_connection(register_store()) as con:
        _ensure(con)
        pending = con.execute(f"SELECT receipt, trace FROM {TABLE} WHERE subject = ? AND "
                              "subject_id = ? AND status = ?",
                              [subject, subject_id, PENDING]).fetchone()
        if pending:
            return pending
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                    [subject, subject_id, started, receipt, PENDING, trace])
    _journal(subject, subject_id, started, receipt)
    return None


def _journal_file() -> Path:
    return get_settings().backup_dir / "erasures.jsonl"


def _journal(subject: str, subject_id: str, started: datetime, receipt: str) -> None:
    """Note the erasure beside the backups, which outlive the stores: a restore from a snapshot
    taken before it replays it."""
    if (subject, subject_id) in journaled_erasures():
        return
    path = _journal_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"subject": subject, "subject_id": subject_id,
                                 "erased_at": started.isoformat(sep=" "),
                                 "receipt": receipt}) + "\n")


def journaled_erasures() -> set[tuple[str, str]]:
    """(subject, id) of every erasure begun on this platform, from the journal."""
    path = _journal_file()
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line a crash tore: its erasure is in the register still
        found.add((entry["subject"], entry["subject_id"]))
    return found


def finish_erasure(subject: str, subject_id: str) -> None:
    """The erasure is done: only the id, time and receipt stay."""
    with write_connection(register_store()) as con:
        _ensure(con)
        con.execute(f"UPDATE {TABLE} SET status = ?, trace = NULL WHERE subject = ? AND "
                    "subject_id = ? AND status = ?", [DONE, subject, subject_id, PENDING])


def erased_ids(subject: str) -> list[str]:
    return [subject_id for (subject_id,) in rows_if_present(
        register_store(), TABLE, f"SELECT DISTINCT subject_id FROM {TABLE} WHERE subject = ?",
        [subject])]
