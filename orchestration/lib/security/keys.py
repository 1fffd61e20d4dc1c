"""Secret keys Steward makes for itself on first use, readable by their owner only.

One key per purpose, so a key that leaks for one (say, the pseudonyms') forges nothing else:
`audit` MACs the audit chain and its checkpoints, `models` signs the kept consumer models,
`pseudonym` derives each consumer's keyed hashes. They live in STEWARD_KEYS_DIR, outside the
stores, so a copy of a store carries none of them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from orchestration.lib.settings import get_settings


def local_key(path: Path) -> bytes:
    """The 32 random bytes at `path`, created once (mode 0600, in a folder of mode 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    key = secrets.token_bytes(32)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key


def _key_file(purpose: str) -> Path:
    return get_settings().keys_dir / f"{purpose}.key"


def purpose_key(purpose: str) -> bytes:
    """The key kept for one purpose (`audit`, `models`, `pseudonym`)."""
    return local_key(_key_file(purpose))


def replace_private(path: Path, content: bytes) -> None:
    """Write `content` to `path` (mode 0600) in one step: readers see the old or the new."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def rotate(purpose: str) -> tuple[bytes, bytes]:
    """A new random key for `purpose` in place of the old one: (old, new)."""
    old = purpose_key(purpose)
    new = secrets.token_bytes(32)
    replace_private(_key_file(purpose), new)
    return old, new
