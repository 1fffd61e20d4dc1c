"""Whether a `steward run` has anything to do.

A healthy run ends by recording the state of everything a run reads: the landing files, the
stores, Steward's keys, its code, rule files, expectations and dbt project, the STEWARD_
settings, the installed packages, and the hour on Steward's clock (retention, freshness and
the models' as_of move with it). A run that starts to find that very state has nothing new to
take in, build or check, and is skipped, saying since when; `steward run --force` runs anyway.
A failed or unhealthy run records nothing, so the next one runs.

Only on the embedded profile: its stores are files whose state shows without opening them. On
PostgreSQL a row or a grant any client changed would go unseen, so there every run runs.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from orchestration.lib import file_state
from orchestration.lib.settings import (
    PROJECT_ROOT,
    Settings,
    clock_hour,
    current_time,
    get_settings,
)
from policies.rules import policies_dir

STATE_FILE = "last_healthy_run.json"  # in the data folder
# Written by tools, never read by a run: dbt's own output, caches and logs.
NOT_INPUTS = frozenset({"__pycache__", "target", "dbt_packages", "logs", ".user.yml"})


def _inputs(settings: Settings) -> list[Path]:
    return [settings.landing_dir, settings.store_dir, settings.keys_dir,
            settings.expectations_dir, settings.dbt_project_dir, policies_dir(),
            PROJECT_ROOT / "orchestration"]


def state(settings: Settings | None = None) -> str:
    """A digest of everything a run reads, as it is now."""
    settings = settings or get_settings()
    # Hashed only, so a password never reaches the file.
    settings_seen = [f"{name}={value}" for name, value in sorted(os.environ.items())
                     if name.startswith("STEWARD_")]
    return file_state.digest(_inputs(settings), NOT_INPUTS,
                             [*settings_seen, *file_state.installed(),
                              f"hour {clock_hour()}"])


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
