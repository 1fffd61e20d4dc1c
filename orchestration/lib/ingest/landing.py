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
        stat = path.lstat()
        files.append(LandingFile(path, str(path.relative_to(root)), stat.st_size,
                                 stat.st_mtime_ns, _refusal(path, spec)))
    return files


def _refusal(path: Path, spec: SourceTable) -> str | None:
    """Why a file in the table's folder is never read, or None: nothing there is ignored
    quietly, so what is not an export of the declared format is refused, saying why."""
    suffixes = FORMATS[spec.format]
    if path.is_symlink():
        return LINK_REFUSED
    if not path.is_file():
        return ("not a file: exports are read from the table's folder itself, never from a "
                "folder inside it; move the files up")
    if path.name.startswith("."):
        return ("a hidden file name (it starts with a dot): such names are half-written "
                "uploads or disguised paths, so it is not read; rename it if it is an export")
    if path.suffix.lower() not in suffixes:
        return (f"not a {spec.format} export ({', '.join(suffixes)}): archives are not "
                "unpacked and other files are not read; put the exports themselves here")
    return None
