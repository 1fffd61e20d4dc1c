"""Whether a `steward run` has anything to do.

A healthy run ends by recording the state of everything a run reads: the landing files, the
stores, Steward's keys, its code, rule files, expectations and dbt project, the STEWARD_
settings, and the hour on Steward's clock (retention, freshness and the models' as_of move
with it). A run that starts to find that very state has nothing new to take in, build or
check, and is skipped, saying since when; `steward run --force` runs anyway. A failed or
unhealthy run records nothing, so the next one runs.

Only on the embedded profile: its stores are files whose state shows without opening them. On
PostgreSQL a row or a grant any client changed would go unseen, so there every run runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT, Settings, current_time, get_settings
from policies.rules import policies_dir

STATE_FILE = "last_healthy_run.json"  # in the data folder
# Written by tools, never read by a run: dbt's own output, caches and logs.
NOT_INPUTS = {"__pycache__", "target", "dbt_packages", "logs", ".user.yml"}


def _inputs(settings: Settings) -> list[Path]:
    return [settings.landing_dir, settings.store_dir, settings.keys_dir,
            settings.expectations_dir, settings.dbt_project_dir, policies_dir(),
            PROJECT_ROOT / "orchestration"]


def _files(root: Path) -> Iterator[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every file below `root`, in a stable order."""
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(name for name in subfolders if name not in NOT_INPUTS)
        for name in sorted(names):
            if name in NOT_INPUTS:
                continue
            path = Path(folder) / name
            try:
                found = path.stat()
            except FileNotFoundError:  # removed while walking: it is not an input any more
                continue
            yield str(path), found.st_size, found.st_mtime_ns


def state(settings: Settings | None = None) -> str:
    """A digest of everything a run reads, as it is now."""
    settings = settings or get_settings()
    digest = hashlib.sha256()
    for root in _inputs(settings):
        digest.update(f"\0root {root}\0".encode())
        for path, size, mtime_ns in _files(root):
            digest.update(f"{path}\0{size}\0{mtime_ns}\0".encode())
    for name, value in sorted(os.environ.items()):
        if name.startswith("STEWARD_"):  # hashed only: a password never reaches the file
            digest.update(f"{name}={value}\0".encode())
    digest.update(f"hour {current_time():%Y-%m-%dT%H}".encode())
    return digest.hexdigest()


def _state_file(settings: Settings) -> Path:
    return settings.data_dir / STATE_FILE


def unchanged_since() -> datetime | None:
    """When the last healthy run ended, if nothing a run reads has changed since; else None."""
    settings = get_settings()
    if settings.warehouse != "duckdb":
        return None
    try:
        recorded = json.loads(_state_file(settings).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if recorded.get("state") != state(settings):
        return None
    return datetime.fromisoformat(recorded["ended_at"])


def record_healthy_run() -> None:
    """Remember the state a healthy run left, for the next run to compare with."""
    settings = get_settings()
    if settings.warehouse != "duckdb":
        return
    target = _state_file(settings)
    written = target.with_suffix(".tmp")
    written.write_text(json.dumps({"state": state(settings),
                                   "ended_at": current_time().isoformat()}), encoding="utf-8")
    written.replace(target)
