"""Steward's stores, keys and checkpoints belong to the platform's OS user alone.

What Steward writes is created readable by its owner only: the process umask is 077 from the
moment `orchestration` is imported, and DuckDB and dbt inherit it. At start-up, anything in
those folders that others could read (left by an older version, a copy or a restore) is
tightened, and said so; what this user cannot tighten stops the start, naming the path and the
fix.
"""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.settings import get_settings

_OTHERS = 0o077  # the group's and others' permission bits


class NotPrivate(PermissionError):
    """A store, key or checkpoint others may read, which this user cannot make private."""


def private_folders() -> list[Path]:
    settings = get_settings()
    return [settings.store_dir, settings.keys_dir, settings.data_dir / "checkpoints",
            settings.backup_dir]


def ensure_private() -> list[Path]:
    """Make every file and folder under the private folders its owner's alone; returns what
    had to be tightened."""
    tightened = []
    for folder in private_folders():
        if not folder.is_dir():
            continue
        for path in [folder, *folder.rglob("*")]:
            if path.is_symlink():
                continue
            try:
                mode = path.stat().st_mode & 0o777
            except FileNotFoundError:  # gone since listed, e.g. a WAL another run checkpointed
                continue
            if not mode & _OTHERS:
                continue
            try:
                path.chmod(mode & ~_OTHERS)
            except PermissionError:
                raise NotPrivate(f"{path} can be read by other users (mode {mode:o}) and this "
                                 f"user cannot change that: as its owner, run "
                                 f"`chmod go-rwx {path}`") from None
            tightened.append(path)
    return tightened
