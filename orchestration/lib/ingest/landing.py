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

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


def discover(spec: SourceTable, landing_dir: Path) -> list[LandingFile]:
    """The table's files in name order; links and paths leaving the landing zone are skipped."""
    root = landing_dir.resolve()
    folder = (root / spec.landing).resolve()
    if not folder.is_relative_to(root) or not folder.is_dir():
        return []
    files = []
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        if path.suffix.lower() not in FORMATS[spec.format]:
            continue
        if not path.resolve().is_relative_to(root):
            continue
        stat = path.stat()
        files.append(LandingFile(path, str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return files
