"""Every read of a governed relation, by any client, as the PostgreSQL server records it.

pgaudit's object auditing logs each statement that touches a relation its audit role may read;
`prepare` points the database at that role (`steward_auditor`, no login), to which grants.py
gives SELECT on every governed relation. The server writes the lines into its CSV log;
`read_audited` reads them from where the last call stopped (through `pg_read_binary_file`, so
Steward needs the `pg_read_server_files` right, not a shell on the server). The server must run with
`shared_preload_libraries = pgaudit`, `logging_collector = on` and `log_destination = csvlog`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

from orchestration.lib.warehouse.postgres import Connection
from orchestration.lib.warehouse.sql import quote_ident, sql_literal

AUDITOR = "steward_auditor"
_PREFIX = "AUDIT: "
READ_BYTES = 64 * 2**20
# Columns of the server's CSV log that say who read what, when (PostgreSQL 15's layout).
_TIME, _USER, _DATABASE, _MESSAGE, _APPLICATION = 0, 1, 2, 13, 22


class AuditNotReady(RuntimeError):
    """The server does not audit reads (pgaudit not loaded, or no CSV log)."""


@dataclass(frozen=True)
class AuditedRead:
    at: str  # the server's time of the statement
    role: str
    database: str
    statement_class: str  # READ, WRITE, DDL, ...
    command: str  # SELECT, ...
    object_type: str  # TABLE, VIEW, ...
    relation: str  # schema.name
    statement_sha256: str  # the statement's text may quote personal data: only its digest
    application: str = ""  # the session's application_name


@dataclass(frozen=True)
class LogPosition:
    file: str
    offset: int


def _require_pgaudit(con: Connection) -> None:
    [(libraries, destination, collector)] = con.execute(
        "SELECT current_setting('shared_preload_libraries'), "
        "current_setting('log_destination'), current_setting('logging_collector')").fetchall()
    missing = [need for need, present in (
        ("shared_preload_libraries = pgaudit", "pgaudit" in libraries),
        ("log_destination = csvlog", "csvlog" in destination),
        ("logging_collector = on", collector == "on")) if not present]
    if missing:
        raise AuditNotReady("the server does not audit reads: set " + ", ".join(missing)
                            + " (postgresql.conf, then restart)")


def prepare(con: Connection, database: str) -> None:
    """Point the database's object auditing at the audit role (created if need be): from then
    on every statement that touches a relation the role may SELECT is logged, whoever runs it.
    Granting the role SELECT on the governed relations is the caller's part (grants.py). An
    owner without superuser rights cannot set pgaudit.role: the server must name the role
    already (deploy/postgres/owner-role.sql)."""
    _require_pgaudit(con)
    if not con.execute("SELECT 1 FROM pg_roles WHERE rolname = ?", [AUDITOR]).fetchall():
        con.execute(f"CREATE ROLE {quote_ident(AUDITOR)} NOLOGIN")
    [(role, superuser)] = con.execute(
        "SELECT current_setting('pgaudit.role'), rolsuper FROM pg_roles "
        "WHERE rolname = current_user").fetchall()
    if role == AUDITOR:
        return
    if not superuser:
        raise AuditNotReady(f"the server does not audit reads through {AUDITOR}: set "
                            f"pgaudit.role = '{AUDITOR}' (deploy/postgres/owner-role.sql)")
    con.execute("CREATE EXTENSION IF NOT EXISTS pgaudit")
    con.execute(f"ALTER DATABASE {quote_ident(database)} SET pgaudit.role = "
                f"{sql_literal(AUDITOR)}")


def _whole_records(text: str) -> int:
    """Where the last complete CSV record of `text` ends: after a line break outside quotes
    (a statement's own line breaks sit inside a quoted field)."""
    end, quoted = 0, False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "\n" and not quoted:
            end = index + 1
    return end


def _records(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _parsed(record: list[str]) -> AuditedRead | None:
    if len(record) <= _MESSAGE or not record[_MESSAGE].startswith(_PREFIX):
        return None
    [fields] = _records(record[_MESSAGE][len(_PREFIX):])
    audit_type, _, _, statement_class, command, object_type, relation, statement = fields[:8]
    if audit_type != "OBJECT":
        return None
    return AuditedRead(record[_TIME], record[_USER], record[_DATABASE], statement_class,
                       command, object_type, relation,
                       hashlib.sha256(statement.encode()).hexdigest(),
                       record[_APPLICATION] if len(record) > _APPLICATION else "")


def _read_from(con: Connection, file: str, start: int) -> str:
    """The server file `file` from byte `start` to its end (empty when it is gone)."""
    parts = []
    while True:
        [(chunk,)] = con.execute("SELECT pg_read_binary_file(?, ?, ?, true)",
                                 [file, start, READ_BYTES]).fetchall()
        parts.append(chunk or b"")
        start += len(chunk or b"")
        if len(chunk or b"") < READ_BYTES:
            # A record cut at a chunk's end is joined before decoding.
            return b"".join(parts).decode("utf-8", errors="replace")


def read_audited(con: Connection, since: LogPosition | None
                 ) -> tuple[list[AuditedRead], LogPosition]:
    """The reads the server audited after `since` (all of its current log when None), and the
    position to continue from. After the server starts a new log file the rest of the old one
    is read first."""
    _require_pgaudit(con)
    [(current,)] = con.execute("SELECT pg_current_logfile('csvlog')").fetchall()
    files = [since.file] if since and since.file != current else []
    text, position = "", LogPosition(current, 0)
    for file in [*files, current]:
        start = since.offset if since and file == since.file else 0
        chunk = _read_from(con, file, start)
        # Only whole records: the server may be writing the last one now.
        complete = chunk[:_whole_records(chunk)] if file == current else chunk
        text += complete
        position = LogPosition(file, start + len(complete.encode()))
    reads = [read for record in _records(text) if (read := _parsed(record))]
    return reads, position
