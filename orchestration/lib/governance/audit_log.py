"""The audit log: an append-only, MAC-chained table in its own store file.

Appends take the store's writer lock, read the last entry and write the next ones in a single
transaction, so concurrent writers cannot fork the chain and a crash mid-append leaves the log
as it was. The chain's key sits in the keys folder, not in the store; after each append a
checkpoint (count and head, under the key) is added to a file outside the store, so a log cut
short at its end is caught too. `verify` and `export` read it back.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from orchestration.lib.security.keys import purpose_key, replace_private
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import (
    Connection,
    insertion_order,
    rows_if_present,
    serialize_writers,
    write_connection,
)
from policies import overrides
from policies.audit import Break, Checkpoint, Entry, KeyRing, next_entry, verify
from policies.rules import PolicyFileError, read_rules

TABLE = "audit_log"


def audit_store() -> Path:
    return get_settings().store_dir / "audit.duckdb"


def checkpoint_file() -> Path:
    return get_settings().data_dir / "checkpoints" / "audit.jsonl"


def _rotations_file() -> Path:
    return get_settings().keys_dir / "audit.rotations.json"


def _rotations() -> list[dict]:
    """Each rotated key ({"from": first entry it MACs, "key": hex}), oldest first."""
    path = _rotations_file()
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def key_ring() -> KeyRing:
    """`audit.key` from the first entry, then each rotated key from the entry it starts at."""
    return KeyRing(((1, purpose_key("audit")),
                    *((r["from"], bytes.fromhex(r["key"])) for r in _rotations())))


def _key() -> bytes:
    return key_ring().current


def rotate_key() -> Entry:
    """A new audit key from the next entry on; the old ones stay to verify what they MACed.
    The rotation is the first entry under the new key."""
    with write_connection(audit_store()) as con:
        _ensure_table(con)
        [(last,)] = con.execute(f"SELECT coalesce(max(seq), 0) FROM {TABLE}").fetchall()
        later = [*_rotations(), {"from": last + 1, "key": secrets.token_bytes(32).hex()}]
        replace_private(_rotations_file(), json.dumps(later).encode())
    return append("keys.rotated", "audit", {"from_entry": last + 1})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _write_checkpoint(head: Entry, key: bytes) -> None:
    path = checkpoint_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = json.dumps(Checkpoint.of(head, _now(), key).__dict__) + "\n"
    with open(path, "a+b") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size:
            # A crash mid-write leaves the file inside a line: end it, so this one stands alone.
            handle.seek(size - 1)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode("utf-8"))


def latest_checkpoint(key: bytes | KeyRing) -> tuple[Checkpoint | None, list[Break]]:
    """The last checkpoint, and a break for each line that is one but was not written with
    the key (a line torn by a crash mid-write is no checkpoint and is skipped)."""
    path = checkpoint_file()
    if not path.exists():
        return None, []
    latest, breaks = None, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(keepends=True),
                                  start=1):
        try:
            checkpoint = Checkpoint(**json.loads(line))
        except (ValueError, TypeError):
            continue
        if not checkpoint.genuine(key):
            breaks.append(Break(0, f"checkpoint line {number} of {path.name} was not written "
                                   "with the audit key"))
        else:
            latest = checkpoint
    return latest, breaks


def _row_to_entry(row: tuple) -> Entry:
    seq, at, kind, subject, details, prev_hash, digest = row
    return Entry(seq, at, kind, subject, json.loads(details), prev_hash, digest)


def _ensure_table(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (seq BIGINT, recorded_at VARCHAR, "
                "kind VARCHAR, subject VARCHAR, details VARCHAR, prev_hash VARCHAR, "
                "hash VARCHAR)")


def append(kind: str, subject: str, details: dict) -> Entry:
    return append_all(kind, [(subject, details)])[0]


def append_all(kind: str, records: list[tuple[str, dict]],
               alongside: Callable[[Connection], None] | None = None) -> list[Entry]:
    """Append one entry per (subject, details), in one transaction: all or none. `alongside`
    writes what must commit with them (where a collector stopped reading, say)."""
    written: list[Entry] = []
    with write_connection(audit_store()) as con:
        _ensure_table(con)
        con.execute("BEGIN")
        serialize_writers(con, TABLE)  # each entry chains to the last: one appender at a time
        last = con.execute(f"SELECT * FROM {TABLE} ORDER BY seq DESC LIMIT 1").fetchone()
        entry = _row_to_entry(last) if last else None
        key = _key()
        in_force = overrides.active()  # a moved clock or swapped rules stay on the record
        for subject, details in records:
            if in_force:
                details = {**details, "test_mode": in_force}
            entry = next_entry(entry, _now(), kind, subject, details, key)
            con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [entry.seq, entry.at, entry.kind, entry.subject,
                         json.dumps(entry.details, sort_keys=True, default=str),
                         entry.prev_hash, entry.hash])
            written.append(entry)
        if alongside:
            alongside(con)
        con.execute("COMMIT")
        if written:
            _write_checkpoint(written[-1], key)
    return written


def entries() -> list[Entry]:
    """The log in the order it was written (on DuckDB the rows' order in the file, so a
    reordering shows; on PostgreSQL by seq, which each entry's hash covers)."""
    return [_row_to_entry(row) for row in rows_if_present(
        audit_store(), TABLE, f"SELECT * FROM {TABLE} ORDER BY {insertion_order('seq')}")]


def verify_log() -> tuple[int, list[Break]]:
    found, key = entries(), key_ring()
    checkpoint, breaks = latest_checkpoint(key)
    if found and checkpoint is None and not breaks:
        breaks.append(Break(0, f"no checkpoint in {checkpoint_file()}: whether entries were "
                               "removed from the end cannot be told"))
    return len(found), verify(found, key, checkpoint) + breaks


def export_jsonl(target: Path) -> int:
    found = entries()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", encoding="utf-8") as handle:
        for entry in found:
            handle.write(json.dumps(entry.__dict__, sort_keys=True, default=str) + "\n")
    return len(found)


def _rule_digests(directory: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(directory.glob("*.yaml"))}


def rules_version(directory: Path) -> str:
    """One digest of every rule file: what a decision records as the rules that made it."""
    text = json.dumps(_rule_digests(directory), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _approvals(directory: Path) -> dict[str, dict]:
    """Each approval in the rule files, by subject: who, when, which ticket, which version.
    None readable (a rule file the policy check will refuse) is none recorded."""
    try:
        rights = read_rules(directory).decision_rights
    except PolicyFileError:
        return {}
    return {f"{kind}:{subject}": {"approved_by": a.approved_by,
                                  "approved_at": a.approved_at.isoformat(),
                                  "ticket": a.ticket, "version": a.version}
            for kind, granted in (("consumer", rights.consumers), ("model", rights.models))
            for subject, a in granted.items()}


def account() -> str:
    """The account Steward runs as, for the record (a container's bare UID has no name)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _provenance(directory: Path) -> dict:
    """Who put the rule files in force (the account running Steward) and, where they are kept
    in git, the last commit that changed them (its author) and whether they differ from it."""
    found = {"by": account()}
    try:
        last = subprocess.run(["git", "-C", str(directory), "log", "-1", "--format=%H %an <%ae>",
                               "--", "."], capture_output=True, text=True, timeout=10)
        edited = subprocess.run(["git", "-C", str(directory), "status", "--porcelain", "--", "."],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):  # no git here: the account is what is known
        return found
    if last.returncode == 0 and last.stdout.strip():
        commit, author = last.stdout.strip().split(" ", 1)
        found.update(commit=commit, committed_by=author,
                     uncommitted_edits=bool(edited.stdout.strip()))
    return found


def record_policy_files(directory: Path) -> Entry | None:
    """Append `policy.changed` when the rule files differ from the last recorded version, and
    with it `approval.recorded` for each approval new or changed since (who, when, ticket) and
    `approval.withdrawn` for each one gone. Each says who put the files in force (`_provenance`)."""
    digests = _rule_digests(directory)
    [last] = [_row_to_entry(row) for row in rows_if_present(
        audit_store(), TABLE, f"SELECT * FROM {TABLE} WHERE kind = 'policy.changed' "
                              "ORDER BY seq DESC LIMIT 1")] or [None]
    if last is not None and last.details.get("files") == digests:
        return None
    changed = sorted(name for name, digest in digests.items()
                     if last is None or last.details.get("files", {}).get(name) != digest)
    approvals = _approvals(directory)
    before = last.details.get("approvals", {}) if last else {}
    entry = append("policy.changed", str(directory.name),
                   {"files": digests, "changed": changed, "version": rules_version(directory),
                    "approvals": approvals, **_provenance(directory)})
    granted = [(s, a) for s, a in approvals.items() if before.get(s) != a]
    withdrawn = [(s, before[s]) for s in before if s not in approvals]
    for kind, records in (("approval.recorded", granted), ("approval.withdrawn", withdrawn)):
        if records:
            append_all(kind, records)
    return entry
