"""Secret keys Steward makes for itself on first use, readable by their owner only."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


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
