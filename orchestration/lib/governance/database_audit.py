"""Reads made straight against the PostgreSQL warehouse (psql, a BI tool, a notebook), brought
into Steward's hash-chained audit log: each line pgaudit wrote becomes an `access.database`
entry naming the consumer (its role, or the one Steward's own session acted as), the database,
the relation and the statement class, so `steward audit` covers a read made with psql as well
as one made with `steward read`.

Collecting is incremental: where each server's log was read up to is kept in the audit store
and committed with the entries, so a crash never loses a read nor records it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.registry import relations
from orchestration.lib.settings import postgres_dsn
from orchestration.lib.warehouse import Connection, postgres, rows_if_present
from orchestration.lib.warehouse.grants import (
    ACTING_FOR,
    ROLE_PREFIX,
    VIEW_SCHEMA_PREFIX,
    view_dataset,
)
from orchestration.lib.warehouse.pgaudit import AuditedRead, LogPosition, read_audited

KIND = "access.database"
POSITIONS = "database_audit_positions"


def _server(dsn: str) -> str:
    """host:port, which the stores of several regions may share (one log between them)."""
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}"


def _position(server: str) -> LogPosition | None:
    found = rows_if_present(audit_log.audit_store(), POSITIONS,
                            f'SELECT file, "offset" FROM {POSITIONS} WHERE server = ?', [server])
    return LogPosition(*found[0]) if found else None


def _dataset(relation: str, stored: dict[tuple[str, str], str]) -> str | None:
    """The dataset a stored table (`stored`: relation → dataset) or a consumer's view (named by
    the dataset) holds."""
    schema, _, name = relation.partition(".")
    if schema.startswith(VIEW_SCHEMA_PREFIX):
        dataset = view_dataset(name)
        return dataset if dataset in relations() else None
    return stored.get((schema, name))


def _consumer(read: AuditedRead, steward: str) -> str | None:
    """Whose read it was: the consumer whose role ran it, or the one Steward's session (its
    own login `steward`) had become to read for it."""
    if read.role.startswith(ROLE_PREFIX):
        return read.role.removeprefix(ROLE_PREFIX)
    if read.role == steward and read.application.startswith(ACTING_FOR):
        return read.application.removeprefix(ACTING_FOR)
    return None


def _entry(read: AuditedRead, stored: dict[tuple[str, str], str], steward: str
           ) -> tuple[str, dict]:
    return _dataset(read.relation, stored) or read.relation, {
        "consumer": _consumer(read, steward), "role": read.role, "database": read.database,
        "relation": read.relation, "statement_class": read.statement_class,
        "command": read.command, "read_at": read.at,
        "statement_sha256": read.statement_sha256}


def _save(server: str, position: LogPosition) -> Callable[[Connection], None]:
    def save(con: Connection) -> None:
        con.execute(f'CREATE TABLE IF NOT EXISTS {POSITIONS} (server VARCHAR PRIMARY KEY, '
                    'file VARCHAR, "offset" BIGINT)')
        con.execute(f"INSERT INTO {POSITIONS} VALUES (?, ?, ?) ON CONFLICT (server) DO UPDATE "
                    'SET file = excluded.file, "offset" = excluded."offset"',
                    [server, position.file, position.offset])
    return save


def collect(regions: list[str]) -> dict[str, int]:
    """Bring in what each region's server audited since the last collection; reads per
    server."""
    collected = {}
    stored = {relation: dataset for dataset, relation in relations().items()}
    for dsn in {_server(postgres_dsn(r)): postgres_dsn(r) for r in regions}.values():
        server = _server(dsn)
        with postgres.write_connection(dsn) as con:
            reads, position = read_audited(con, _position(server))
        steward = unquote(urlsplit(dsn).username or "")
        audit_log.append_all(KIND, [_entry(read, stored, steward) for read in reads],
                             _save(server, position))
        collected[server] = len(reads)
    return collected
