"""Disaster recovery on the embedded profile: consistent, checksummed snapshots of every store,
and a working platform rebuilt from one.

A snapshot (`<backup folder>/<UTC time>/`) holds every store file (the regions and the global
store, the quarantine, the audit log, the ops store, the erasure register, the credentials;
kept models and the landing ledger live in the region stores), the audit checkpoints and the
keys, each with its SHA-256 and, per store, each table's rows in `manifest.json`. It is taken
between pipeline runs, each store under its writer lock after a checkpoint, so readers go on
and no write is half in it. It is written under a hidden name and renamed when whole.

A restore checks every checksum before it touches anything, sets the stores it replaces
aside (nothing is deleted), copies the snapshot in, and then makes it honour what happened
since: every erasure in the journal the register keeps beside the backups is replayed (no
erased subject comes back), and rows past their retention are purged. The landing ledger is
the snapshot's, so the next run loads what arrived after it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from orchestration.lib.governance import audit_log
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import pipeline_lock, reader, write_connection

MANIFEST = "manifest.json"
STORES, KEYS, CHECKPOINTS = "store", "keys", "checkpoints"


class SnapshotDamaged(ValueError):
    """A snapshot whose files do not match their checksums, or that is not whole."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    path: Path
    taken_at: datetime
    files: dict[str, dict]  # path in the snapshot → {"sha256", "bytes"}
    tables: dict[str, dict[str, int]]  # store file → table → rows

    @property
    def size(self) -> int:
        return sum(f["bytes"] for f in self.files.values())


@dataclass
class Restored:
    snapshot: Snapshot | None  # None: the stores were restored by the database's tools
    set_aside: Path | None  # where the stores it replaced went
    erasures_replayed: list[str] = field(default_factory=list)
    rows_purged: int = 0


def backup_dir() -> Path:
    return get_settings().backup_dir


def _store_files() -> list[Path]:
    return sorted(get_settings().store_dir.glob("*.duckdb"))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            sha.update(block)
    return sha.hexdigest()


def _tables(path: Path) -> dict[str, int]:
    with reader(path) as con:
        names = con.execute("SELECT schema_name, table_name FROM duckdb_tables() WHERE "
                            "database_name = current_database() ORDER BY 1, 2").fetchall()
        return {f"{schema}.{table}": con.execute(
            f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
            for schema, table in names}


def _copy_store(store: Path, target: Path) -> None:
    """Copy one store whole: under its writer lock, after a checkpoint (the write-ahead log
    folded in), so no write is half in the copy; readers are not stopped."""
    with write_connection(store) as con:
        con.execute("CHECKPOINT")
        shutil.copyfile(store, target)


def _copy_folder(source: Path, target: Path) -> None:
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("*.lock", ".*"))


def _free_name(taken: datetime) -> str:
    name, number = f"{taken:%Y%m%dT%H%M%SZ}", 1
    while (backup_dir() / name).exists():
        number += 1
        name = f"{taken:%Y%m%dT%H%M%SZ}-{number}"
    return name


def take() -> Snapshot:
    """Snapshot every store, the audit checkpoints and the keys; audited as `backup.taken`.
    Waits for a running pipeline to finish, so the stores agree with each other."""
    settings = get_settings()
    taken = current_time().replace(microsecond=0)
    name = _free_name(taken)
    partial = backup_dir() / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    (partial / STORES).mkdir(mode=0o700, parents=True)
    with pipeline_lock():
        for store in _store_files():
            _copy_store(store, partial / STORES / store.name)
        _copy_folder(settings.keys_dir, partial / KEYS)
        _copy_folder(settings.data_dir / CHECKPOINTS, partial / CHECKPOINTS)
    files = {str(path.relative_to(partial)): {"sha256": _digest(path),
                                              "bytes": path.stat().st_size}
             for path in sorted(partial.rglob("*")) if path.is_file()}
    tables = {path.name: _tables(path) for path in sorted((partial / STORES).glob("*.duckdb"))}
    (partial / MANIFEST).write_text(json.dumps(
        {"taken_at": taken.isoformat(sep=" "), "files": files, "tables": tables}, indent=1))
    os.replace(partial, backup_dir() / name)
    snapshot = load(name)
    audit_log.append("backup.taken", name, {"files": len(files), "bytes": snapshot.size,
                                            "by": audit_log.account()})
    return snapshot


def load(name: str) -> Snapshot:
    path = backup_dir() / name
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise SnapshotDamaged(f"{path} is not a whole snapshot (no readable {MANIFEST}: "
                              f"{error}); `steward backup list` shows those there are") from None
    return Snapshot(name, path, datetime.fromisoformat(manifest["taken_at"]), manifest["files"],
                    manifest["tables"])


def listed() -> list[Snapshot]:
    """The whole snapshots in the backup folder, oldest first."""
    folder = backup_dir()
    names = sorted(p.name for p in folder.iterdir()
                   if p.is_dir() and not p.name.startswith(".")) if folder.is_dir() else []
    return [load(name) for name in names if (folder / name / MANIFEST).exists()]


def verify(snapshot: Snapshot) -> list[str]:
    """What in the snapshot does not match its manifest: missing, resized or altered files."""
    problems = []
    for relative, expected in snapshot.files.items():
        path = snapshot.path / relative
        if not path.is_file():
            problems.append(f"{relative}: missing")
        elif path.stat().st_size != expected["bytes"] or _digest(path) != expected["sha256"]:
            problems.append(f"{relative}: does not match its checksum")
    return problems


def prune(keep_days: int) -> list[str]:
    """Delete the snapshots older than `keep_days`: a backup kept longer than the rows' own
    retention would hold what the stores have purged. The newest is always kept."""
    cutoff = current_time() - timedelta(days=keep_days)
    old = [s for s in listed()[:-1] if s.taken_at < cutoff]
    for snapshot in old:
        shutil.rmtree(snapshot.path)
    if old:
        audit_log.append("backup.pruned", "backups", {"snapshots": [s.name for s in old],
                                                      "keep_days": keep_days})
    return [s.name for s in old]


def _set_aside(stamp: str) -> Path:
    """Move the current stores and checkpoints out of the way (never deleted)."""
    settings = get_settings()
    aside = settings.data_dir / f"replaced-by-restore-{stamp}"
    (aside / STORES).mkdir(mode=0o700, parents=True, exist_ok=True)
    for path in settings.store_dir.glob("*.duckdb*"):  # with any write-ahead log
        os.replace(path, aside / STORES / path.name)
    checkpoints = settings.data_dir / CHECKPOINTS
    if checkpoints.is_dir():
        os.replace(checkpoints, aside / CHECKPOINTS)
    return aside


def _put_back(snapshot: Snapshot) -> None:
    settings = get_settings()
    settings.store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for store in sorted((snapshot.path / STORES).glob("*.duckdb")):
        shutil.copyfile(store, settings.store_dir / store.name)
    _copy_folder(snapshot.path / CHECKPOINTS, settings.data_dir / CHECKPOINTS)
    # A key lost with the stores comes back; one still here stays (it may be newer).
    settings.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for key in sorted((snapshot.path / KEYS).glob("*")):
        if key.is_file() and not (settings.keys_dir / key.name).exists():
            shutil.copyfile(key, settings.keys_dir / key.name)


def _honour_since(restored: Restored) -> None:
    """Replay every journaled erasure the restored register lacks; purge what is past
    retention now."""
    from orchestration.lib.governance import retention
    from orchestration.lib.governance.erasure import erase
    from orchestration.lib.governance.suppression import erased_ids, journaled_erasures

    journal = journaled_erasures()
    for subject in sorted({subject for subject, _ in journal}):
        done = set(erased_ids(subject))
        for subject_id in sorted({i for s, i in journal if s == subject} - done):
            erase(subject_id, subject)
            restored.erasures_replayed.append(f"{subject}:{subject_id}")
    restored.rows_purged = retention.purge().rows


def restore(name: str | None) -> Restored:
    """Rebuild the stores from snapshot `name`, then replay the erasures since and purge what
    is past retention. With no name, only the second part: for stores a database's own tools
    restored (PostgreSQL). Audited as `backup.restored`."""
    snapshot = load(name) if name else None
    problems = verify(snapshot) if snapshot else []
    if problems:
        raise SnapshotDamaged(f"snapshot {name} is damaged, nothing was restored: "
                              + "; ".join(problems))
    restored = Restored(snapshot, None)
    if snapshot:
        with pipeline_lock():
            restored.set_aside = _set_aside(f"{current_time():%Y%m%dT%H%M%SZ}")
            _put_back(snapshot)
    _honour_since(restored)
    audit_log.append("backup.restored", name or "database restore", {
        "taken_at": snapshot.taken_at.isoformat(sep=" ") if snapshot else None,
        "set_aside": str(restored.set_aside) if restored.set_aside else None,
        "erasures_replayed": restored.erasures_replayed, "rows_purged": restored.rows_purged,
        "by": audit_log.account()})
    return restored
