"""Where a command may write what a consumer read: a new file of its owner's only, or stdout.

A read's rows are personal data: they never overwrite a file unasked, never go through a
symbolic link, never land inside Steward's own data folder (where they would replace a store
or the audit log), and are readable by their owner only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from orchestration.lib.settings import get_settings

STDOUT = "-"


class OutputRefused(ValueError):
    """The output path is not one a read may write; the message says why and what to do."""


def _inside(path: Path, folder: Path) -> bool:
    return path.is_relative_to(folder.resolve())


def check_output(target: str, force: bool = False) -> None:
    """Refuse, before anything is read, an output the read could not or should not write."""
    if target == STDOUT:
        return
    path = Path(target)
    if path.is_symlink():
        raise OutputRefused(f"{target} is a symbolic link; name the file itself")
    resolved = path.resolve()
    settings = get_settings()
    for folder in (settings.data_dir, settings.store_dir, settings.landing_dir):
        if _inside(resolved, folder):
            raise OutputRefused(f"{target} is inside Steward's data folder {folder}; "
                                "write the rows somewhere else")
    if not resolved.parent.is_dir():
        raise OutputRefused(f"the folder {path.parent} does not exist; create it first")
    if path.exists() and not force:
        raise OutputRefused(f"{target} exists; pass --force to replace it")
    if path.exists() and not path.is_file():
        raise OutputRefused(f"{target} is not a regular file")


@contextmanager
def opened_output(target: str, force: bool = False) -> Iterator[BinaryIO]:
    """The output opened for writing: stdout's bytes for `-`, else the file at mode 0600,
    created anew (or, with `force`, truncated), never through a link."""
    if target == STDOUT:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    check_output(target, force)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if force else os.O_EXCL)
    descriptor = os.open(target, flags, 0o600)
    os.fchmod(descriptor, 0o600)  # a replaced file keeps no wider mode it had
    with os.fdopen(descriptor, "wb") as handle:
        yield handle
