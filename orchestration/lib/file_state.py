"""The state of folders as their files show it without being read: each file's path, size and
modification time, digested. Cheap enough to take before every run; a file rewritten in place
changes its time even where its size stays."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from collections.abc import Iterable, Iterator
from pathlib import Path


def files(root: Path, skip: frozenset[str] = frozenset()) -> Iterator[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every file below `root`, in a stable order; a file or
    folder named in `skip` is left out with everything below it."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name not in skip)
        for name in sorted(names):
            if name in skip:
                continue
            path = Path(folder) / name
            try:
                found = path.stat()
            except FileNotFoundError:  # removed while walking: not part of the state any more
                continue
            yield str(path), found.st_size, found.st_mtime_ns


def digest(roots: Iterable[Path], skip: frozenset[str] = frozenset(),
           also: Iterable[str] = ()) -> str:
    """One digest of the files below `roots` and of the strings `also` (settings, versions)."""
    hashed = hashlib.sha256()
    for root in roots:
        hashed.update(f"\0root {root}\0".encode())
        for path, size, mtime_ns in files(root, skip):
            hashed.update(f"{path}\0{size}\0{mtime_ns}\0".encode())
    for text in also:
        hashed.update(f"{text}\0".encode())
    return hashed.hexdigest()


def installed() -> list[str]:
    """Every distribution installed beside this Python, with its version: an upgrade of dbt,
    Dagster or a library changes what the same files produce."""
    return sorted(f"{found.metadata['Name']}=={found.version}"
                  for found in importlib.metadata.distributions())
