"""The environment of a Steward process on a scratch data folder, as `make run` sets it up:
the stores and landing zone inside the folder, and the Dagster instance kept beside them
(DAGSTER_HOME), whose SQLite history a run pays for and an ephemeral instance would hide."""

from __future__ import annotations

import os
from pathlib import Path


def scratch_env(data: Path) -> dict[str, str]:
    (data / "dagster").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "STEWARD_DATA_DIR": str(data), "STEWARD_STORE_DIR": str(data / "store"),
            "STEWARD_LANDING_DIR": str(data / "landing"), "DAGSTER_HOME": str(data / "dagster")}
