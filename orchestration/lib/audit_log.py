"""The audit log: an append-only, hash-chained table in its own store file.

Appends take the store's writer lock, read the last entry and write the next one in a single
transaction, so concurrent writers cannot fork the chain and a crash mid-append leaves the log
as it was. `verify` and `export` read it back.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from orchestration.lib.settings import get_settings
from orchestration.lib.store import rows_if_present, write_connection
from policies.audit import Break, Entry, next_entry, verify

TABLE = "audit_log"


def audit_store() -> Path:
    return get_settings().store_dir / "audit.duckdb"


def _row_to_entry(row: tuple) -> Entry:
    seq, at, kind, subject, details, prev_hash, digest = row
    return Entry(seq, at, kind, subject, json.loads(details), prev_hash, digest)


def append(kind: str, subject: str, details: dict) -> Entry:
    return append_all(kind, [(subject, details)])[0]


def append_all(kind: str, records: list[tuple[str, dict]]) -> list[Entry]:
    """Append one entry per (subject, details), in one transaction: all or none."""
    written: list[Entry] = []
    with write_connection(audit_store()) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq BIGINT, recorded_at VARCHAR, "
                    "kind VARCHAR, subject VARCHAR, details VARCHAR, prev_hash VARCHAR, "
                    "hash VARCHAR)")
        con.execute("BEGIN")
        last = con.execute(f"SELECT * FROM {TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
        entry = _row_to_entry(last) if last else None
        for subject, details in records:
            entry = next_entry(entry, datetime.now(UTC).isoformat(timespec="microseconds"),
                               kind, subject, details)
            con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [entry.seq, entry.at, entry.kind, entry.subject,
                         json.dumps(entry.details, sort_keys=True, default=str),
                         entry.prev_hash, entry.hash])
            written.append(entry)
        con.execute("COMMIT")
    return written


def entries() -> list[Entry]:
    """The log in storage order (the order a reader sees, so reordering shows)."""
    return [_row_to_entry(row) for row in rows_if_present(
        audit_store(), TABLE, f"SELECT * FROM {TABLE} ORDER BY rowid")]


def verify_log() -> tuple[int, list[Break]]:
    found = entries()
    return len(found), verify(found)


def export_jsonl(target: Path) -> int:
    found = entries()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        for entry in found:
            handle.write(json.dumps(entry.__dict__, sort_keys=True, default=str) + "\n")
    return len(found)


def record_policy_files(directory: Path) -> Entry | None:
    """Append `policy.changed` when the rule files differ from the last recorded version."""
    digests = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
               for path in sorted(directory.glob("*.yaml"))}
    last = next((e for e in reversed(entries()) if e.kind == "policy.changed"), None)
    if last is not None and last.details.get("files") == digests:
        return None
    changed = sorted(name for name, digest in digests.items()
                     if last is None or last.details.get("files", {}).get(name) != digest)
    return append("policy.changed", str(directory.name), {"files": digests, "changed": changed})
