"""Finding export files in the landing zone, safely."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from orchestration.lib.sources import FORMATS, SourceTable


@dataclass(frozen=True)
class LandingFile:
    path: Path
    name: str  # path relative to the landing zone: what reports, quarantine and the log show
    size: int
    mtime_ns: int
    refused: str | None = None  # why it is never read: a link, a path leaving the landing zone

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


LINK_REFUSED = ("a symbolic link: only regular files inside the landing zone are read, so a link "
                "cannot reach data elsewhere; copy the export itself into the folder")


def discover(spec: SourceTable, landing_dir: Path) -> list[LandingFile]:
    """The table's files in name order. A link is listed as refused, never followed: it could
    point anywhere on the machine."""
    root = landing_dir.resolve()
    folder = (root / spec.landing).resolve()
    if not folder.is_relative_to(root) or not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in FORMATS[spec.format]:
            continue
        link = path.is_symlink()
        if not link and not path.is_file():
            continue
        stat = path.lstat()
        files.append(LandingFile(path, str(path.relative_to(root)), stat.st_size,
                                 stat.st_mtime_ns, LINK_REFUSED if link else None))
    return files
