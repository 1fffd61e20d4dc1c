"""All configuration, from environment variables with safe local defaults, read when asked."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    dbt_project_dir: Path
    data_dir: Path
    landing_dir: Path
    store_dir: Path
    duckdb_memory_limit: str
    duckdb_threads: int
    ingest_batch_bytes: int
    pseudonym_key: str | None  # the secret behind keyed-hash pseudonyms; None: a local key file

    @property
    def quarantine_store(self) -> Path:
        return self.store_dir / "quarantine.duckdb"

    def region_store(self, region: str) -> Path:
        return self.store_dir / f"{region}.duckdb"

    def dbt_target(self, region: str) -> Path:
        """dbt's artifacts and logs for one store, kept between runs so dbt parses only what
        changed (a fresh folder per run would re-parse the whole project every time)."""
        return self.store_dir / ".dbt" / region


def current_time() -> datetime:
    """Now, in UTC without a zone (as the stores keep timestamps); STEWARD_NOW moves the clock,
    e.g. to see what a purge would delete next year."""
    moved = os.environ.get("STEWARD_NOW")
    if moved:
        return datetime.fromisoformat(moved).replace(tzinfo=None)
    return datetime.now(UTC).replace(tzinfo=None)


def get_settings() -> Settings:
    data_dir = Path(os.environ.get("STEWARD_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    return Settings(
        dbt_project_dir=Path(os.environ.get("STEWARD_DBT_PROJECT_DIR",
                                            PROJECT_ROOT / "dbt_project")).resolve(),
        data_dir=data_dir,
        landing_dir=Path(os.environ.get("STEWARD_LANDING_DIR", data_dir / "landing")).resolve(),
        store_dir=Path(os.environ.get("STEWARD_STORE_DIR", data_dir / "store")).resolve(),
        duckdb_memory_limit=os.environ.get("STEWARD_DUCKDB_MEMORY_LIMIT", "640MB"),
        duckdb_threads=int(os.environ.get("STEWARD_DUCKDB_THREADS", os.cpu_count() or 2)),
        # Landing files are loaded in batches of about this many bytes (one commit per batch).
        ingest_batch_bytes=int(os.environ.get("STEWARD_INGEST_BATCH_BYTES", 256 * 2**20)),
        pseudonym_key=os.environ.get("STEWARD_PSEUDONYM_KEY") or None,
    )
