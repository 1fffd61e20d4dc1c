"""All configuration, from environment variables with safe local defaults, read when asked."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from policies import overrides

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_CLOCK_OFFSET = re.compile(r"^([+-]\d+(?:\.\d+)?)([dhs])$")
WAREHOUSES = ("duckdb", "postgres")  # the backends behind orchestration/lib/warehouse
EXECUTORS = ("in_process", "celery")  # where a deployment's runs execute their steps


@dataclass(frozen=True)
class Settings:
    dbt_project_dir: Path
    expectations_dir: Path
    data_dir: Path
    landing_dir: Path
    store_dir: Path
    warehouse: str  # which engine holds the stores: one of WAREHOUSES
    duckdb_memory_limit: str
    duckdb_threads: int
    ingest_batch_bytes: int
    pseudonym_key: str | None  # the secret behind keyed-hash pseudonyms; None: a local key file
    keys_dir: Path  # Steward's own keys (the audit log's), readable by its owner only
    # Snapshots of the stores (`steward backup`): keep them on other storage than the stores.
    backup_dir: Path
    backup_keep_days: int  # snapshots older than this are pruned at the next backup
    read_service: str  # where `steward read` finds the governed read service
    executor: str  # one of EXECUTORS: the steps of a deployment's runs, in one process or spread
    celery_broker: str  # the Celery broker (and result backend) the workers listen on
    # Seconds before a step a lost worker held is handed to another; longer than any step.
    celery_redeliver_seconds: int
    dagster_url: str | None  # the shared deployment `steward run` submits to; None: embedded

    @property
    def quarantine_store(self) -> Path:
        return self.store_dir / "quarantine.duckdb"

    @property
    def ops_store(self) -> Path:
        """Operations' bookkeeping: incidents and alerts, stale marks, SLIs, baselines."""
        return self.store_dir / "ops.duckdb"

    def region_store(self, region: str) -> Path:
        return self.store_dir / f"{region}.duckdb"

    def dbt_target(self, region: str) -> Path:
        """dbt's artifacts and logs for one store, kept between runs so dbt parses only what
        changed (a fresh folder per run would re-parse the whole project every time)."""
        return self.store_dir / ".dbt" / region


def _real_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def moved_clock() -> datetime | None:
    """The time STEWARD_NOW sets, when it is set: an ISO time (the clock stands there), or a
    signed offset such as `+455d` or `-90s` (the clock runs, that far from the real one).
    Honoured in the test mode only (`policies.overrides`)."""
    moved = overrides.honoured("STEWARD_NOW")
    if not moved:
        return None
    offset = _CLOCK_OFFSET.match(moved)
    if offset:
        unit = {"d": "days", "h": "hours", "s": "seconds"}[offset[2]]
        return _real_now() + timedelta(**{unit: float(offset[1])})
    try:
        return datetime.fromisoformat(moved).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"STEWARD_NOW={moved!r} is neither an ISO time (2027-12-01T09:00:00) "
                         "nor an offset (+455d, -12h, +90s)") from None


def current_time() -> datetime:
    """Now, in UTC without a zone (as the stores keep timestamps); STEWARD_NOW moves the clock,
    e.g. to see what a purge would delete next year. Everything Steward dates — retention,
    expectations, the dbt models' `as_of`, telemetry windows — reads this one clock."""
    return moved_clock() or _real_now()


def clock_hour() -> str:
    """The hour on Steward's clock, as text: what a result that reads the clock is keyed by,
    so it is computed again each hour rather than each run."""
    return f"{current_time():%Y-%m-%dT%H}"


def _clock_offset() -> timedelta:
    """How far STEWARD_NOW moves Steward's clock from the real one (zero when unset)."""
    moved = moved_clock()
    return moved - _real_now() if moved else timedelta(0)


def from_real_clock(timestamp: float) -> datetime:
    """A time Dagster recorded (epoch seconds, on the real clock) on Steward's clock: with
    STEWARD_NOW set, a run that ended a minute ago ended a minute before STEWARD_NOW."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None) + _clock_offset()


def to_real_clock(moment: datetime) -> float:
    """A time on Steward's clock as Dagster's epoch seconds, to filter Dagster's history."""
    return (moment - _clock_offset()).replace(tzinfo=UTC).timestamp()


def postgres_dsn(store: str) -> str:
    """Where a store's PostgreSQL database is: STEWARD_PG_DSN_<STORE> when set (a region may
    live on its own server), else the STEWARD_PG_DSN template with `{store}` filled in."""
    template = os.environ.get("STEWARD_PG_DSN",
                              "postgresql://steward@127.0.0.1:5432/steward_{store}")
    return os.environ.get(f"STEWARD_PG_DSN_{store.upper()}") or template.format(store=store)


def consumer_password(consumer: str) -> str | None:
    """The password a consumer's PostgreSQL role logs in with, where Steward reads for it
    (STEWARD_CONSUMER_PASSWORD_<CONSUMER>); None leaves it to libpq (PGPASSFILE, a
    certificate)."""
    return os.environ.get(f"STEWARD_CONSUMER_PASSWORD_{consumer.upper()}") or None


def chosen_warehouse() -> str:
    """Which backend holds the stores (`STEWARD_WAREHOUSE`, DuckDB files by default)."""
    chosen = os.environ.get("STEWARD_WAREHOUSE", "duckdb").strip().lower() or "duckdb"
    if chosen not in WAREHOUSES:
        raise ValueError(f"STEWARD_WAREHOUSE={chosen!r} is not a warehouse Steward can use; "
                         f"choose one of {', '.join(WAREHOUSES)} (or unset it for duckdb)")
    return chosen


def chosen_executor(warehouse: str) -> str:
    """Where a deployment's steps run (`STEWARD_EXECUTOR`): in the run's own process by
    default, or across Celery workers, which needs PostgreSQL (a DuckDB file has one writer)."""
    chosen = os.environ.get("STEWARD_EXECUTOR", "in_process").strip().lower() or "in_process"
    if chosen not in EXECUTORS:
        raise ValueError(f"STEWARD_EXECUTOR={chosen!r} is not an executor Steward can use; "
                         f"choose one of {', '.join(EXECUTORS)} (or unset it for in_process)")
    if chosen == "celery" and warehouse == "duckdb":
        raise ValueError("STEWARD_EXECUTOR=celery spreads steps over processes that write at "
                         "once, and a DuckDB file has one writer: set STEWARD_WAREHOUSE=postgres")
    return chosen


def get_settings() -> Settings:
    """The settings the environment gives now: read again whenever a STEWARD_ variable or
    the working directory (a relative path's base) changed, as tests change them between
    calls, else kept: resolving the paths costs about 0.3 ms and a run asks some 900 times."""
    return _settings_of(os.getcwd(), tuple(sorted(
        (name, value) for name, value in os.environ.items() if name.startswith("STEWARD_"))))


@functools.lru_cache(maxsize=32)
def _settings_of(cwd: str, steward_environment: tuple[tuple[str, str], ...]) -> Settings:
    """The settings of what the key names, the only things read below: the working directory
    and every STEWARD_ variable set."""
    warehouse = chosen_warehouse()
    data_dir = Path(os.environ.get("STEWARD_DATA_DIR", PROJECT_ROOT / "data")).resolve()
    return Settings(
        dbt_project_dir=Path(os.environ.get("STEWARD_DBT_PROJECT_DIR",
                                            PROJECT_ROOT / "dbt_project")).resolve(),
        expectations_dir=Path(os.environ.get("STEWARD_EXPECTATIONS_DIR",
                                             PROJECT_ROOT / "expectations")).resolve(),
        data_dir=data_dir,
        landing_dir=Path(os.environ.get("STEWARD_LANDING_DIR", data_dir / "landing")).resolve(),
        store_dir=Path(os.environ.get("STEWARD_STORE_DIR", data_dir / "store")).resolve(),
        warehouse=warehouse,
        duckdb_memory_limit=os.environ.get("STEWARD_DUCKDB_MEMORY_LIMIT", "640MB"),
        duckdb_threads=int(os.environ.get("STEWARD_DUCKDB_THREADS", os.cpu_count() or 2)),
        # Landing files are loaded in batches of about this many bytes (one commit per batch).
        ingest_batch_bytes=int(os.environ.get("STEWARD_INGEST_BATCH_BYTES", 256 * 2**20)),
        pseudonym_key=os.environ.get("STEWARD_PSEUDONYM_KEY") or None,
        keys_dir=Path(os.environ.get("STEWARD_KEYS_DIR", data_dir / "keys")).resolve(),
        backup_dir=Path(os.environ.get("STEWARD_BACKUP_DIR", data_dir / "backups")).resolve(),
        backup_keep_days=int(os.environ.get("STEWARD_BACKUP_KEEP_DAYS", 30)),
        read_service=os.environ.get("STEWARD_READ_SERVICE", "http://127.0.0.1:8470"),
        executor=chosen_executor(warehouse),
        celery_broker=os.environ.get("STEWARD_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
        celery_redeliver_seconds=int(os.environ.get("STEWARD_CELERY_REDELIVER_SECONDS", 3600)),
        dagster_url=os.environ.get("STEWARD_DAGSTER_URL") or None,
    )
