"""A throwaway PostgreSQL cluster on loopback for the tests, from Debian's packages.

The server refuses to run as root, so when the tests run as root the cluster belongs to the
`postgres` user (its files under a folder that user owns) and is started through `runuser`.
Steward's own logins here (the superuser `postgres`, and `steward`, see `owner_role`) are
trusted on loopback: the cluster lives
as long as the test session and holds nothing but test data. Every other role (a consumer's)
must give its password, as in production, so a test proves a consumer's credentials count.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import duckdb
import psycopg2

from orchestration.lib.settings import PROJECT_ROOT
from tests.dbt_cli import run_dbt

BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
OWNER_ROLE_SQL = PROJECT_ROOT / "deploy" / "postgres" / "owner-role.sql"
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "platform")
PLATFORM = "path:models/platform"
# Steward's own logins (the superuser, and `steward`, an owner without superuser rights) are
# trusted on loopback; every other role gives a password.
HOST_BASED_AUTHENTICATION = """local all all trust
host all postgres,steward 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""
ENABLE = ("install PostgreSQL 15 and pgaudit to run these tests: "
          "apt-get install -y postgresql postgresql-15-pgaudit (.ci/run does)")


def server_bin() -> Path | None:
    """The newest installed server's bin folder, or None when there is no server here."""
    return next((d for d in BIN_DIRS if (d / "pg_ctl").exists()), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Cluster:
    data_dir: Path
    port: int
    bin_dir: Path
    passwords: dict[str, str] = field(default_factory=dict)
    owner_ready: bool = False

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def new_database(self, name: str) -> str:
        """An empty database `name` (dropped first if it exists); its DSN."""
        admin = psycopg2.connect(self.dsn())
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        return self.dsn(name)

    def owner(self) -> str:
        """Steward's owner role without superuser rights, made as the README says
        (deploy/postgres/owner-role.sql, run once by the superuser)."""
        if not self.owner_ready:
            done = subprocess.run(
                [str(self.bin_dir / "psql"), "-v", "ON_ERROR_STOP=1", "-q", "-h", "127.0.0.1",
                 "-p", str(self.port), "-U", "postgres", "-f", str(OWNER_ROLE_SQL)],
                capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{OWNER_ROLE_SQL.name} failed: {done.stderr}")
            self.owner_ready = True
        return "steward"

    def password(self, role: str) -> str:
        """The password `role` (which must exist) logs in with, given it on first use, as an
        operator would."""
        if role not in self.passwords:
            self.passwords[role] = secrets.token_urlsafe(16)
            admin = psycopg2.connect(self.dsn())
            admin.autocommit = True
            with admin.cursor() as cursor:
                cursor.execute(f'ALTER ROLE "{role}" PASSWORD %s', [self.passwords[role]])
            admin.close()
        return self.passwords[role]

    def login(self, database: str, role: str) -> str:
        """A DSN logging `role` in to `database` with its password."""
        return f"postgresql://{role}:{self.password(role)}@127.0.0.1:{self.port}/{database}"

    def drop_test_databases(self) -> None:
        """Drop the databases a test's stores were given (`t<10 hex digits>_<store>`)."""
        admin = psycopg2.connect(self.dsn())
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname ~ '^t[0-9a-f]{10}_'")
            for (name,) in cursor.fetchall():
                cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        admin.close()

    def stop(self) -> None:
        subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "stop", "-D",
                                        str(self.data_dir), "-m", "immediate", "-w"]),
                       check=False, capture_output=True)


def clock_of(store: Path) -> str:
    """The moment a DuckDB estate's run stood at, so another run sees the same one."""
    with duckdb.connect(str(store), read_only=True) as con:
        [(now,)] = con.execute("SELECT now FROM _steward.clock").fetchall()
    return now.isoformat()


def _run(command: list[str]) -> None:
    done = subprocess.run(_as_server_user(command), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr or done.stdout}")


def start_cluster(folder: Path) -> Cluster:
    """initdb and start a cluster in `folder`, which the server's user must be able to reach
    (so not under a private temporary folder), with pgaudit preloaded."""
    bin_dir = server_bin()
    if bin_dir is None:
        raise RuntimeError(ENABLE)
    folder.mkdir(parents=True, exist_ok=True)
    data_dir = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    _run([str(bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres", "--auth=trust",
          "--encoding=UTF8", "--locale=C.UTF-8"])
    (data_dir / "pg_hba.conf").write_text(HOST_BASED_AUTHENTICATION, encoding="utf-8")
    port = free_port()
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories="
               f"{folder} -c shared_preload_libraries=pgaudit -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off "
               # pgaudit's lines in a CSV log Steward reads back (warehouse/pgaudit.py)
               "-c logging_collector=on -c log_destination=csvlog -c log_directory=log "
               "-c log_filename=postgresql")
    _run([str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir), "-w", "-l",
          str(folder / "server.log"), "-o", options])
    return Cluster(data_dir, port, bin_dir)


@contextmanager
def bench_cluster() -> Iterator[Cluster | None]:
    """A throwaway cluster for a benchmark, stopped after it; None, after saying why, where
    the server is not installed."""
    if server_bin() is None:
        print(f"  skipped: {ENABLE}")
        yield None
        return
    folder = Path(tempfile.mkdtemp(prefix="steward-bench-postgres-"))
    cluster = start_cluster(folder)
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


# To test dbt alone, a database is filled from a built DuckDB store: the inputs a dbt build
# reads, copied over ADBC.
def copy_inputs(store: Path, postgres: Cluster, database: str) -> str:
    """A new database holding every table of `store` that is not a dbt model; its DSN."""
    dsn = postgres.new_database(database)
    source = duckdb.connect(str(store), read_only=True)
    inputs = source.execute(
        "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = "
        "'BASE TABLE' AND table_schema NOT IN ?", [list(MODEL_SCHEMAS)]).fetchall()
    with adbc.connect(dsn) as con, con.cursor() as cursor:
        for schema, table in inputs:
            cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            rows = source.sql(f'SELECT * FROM "{schema}"."{table}"').to_arrow_table()
            cursor.adbc_ingest(table, rows, mode="create", db_schema_name=schema)
        con.commit()
    source.close()
    return dsn


def dbt_build(postgres: Cluster, database: str, region: str, tmp_path: Path, *selection: str
              ) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEWARD_PG_HOST": "127.0.0.1", "STEWARD_PG_PORT": str(postgres.port),
           "STEWARD_PG_USER": "postgres", "STEWARD_PG_DBNAME": database}
    return run_dbt("build", tmp_path, *selection, target="postgres", region=region, env=env)


def _plain(value):
    """A value as both engines' drivers can agree on it: numbers compared at 1e-9."""
    if isinstance(value, Decimal | float):
        return round(float(value), 9)
    return value


def _rows(fetched: list[tuple]) -> list[tuple]:
    return sorted((tuple(_plain(v) for v in row) for row in fetched), key=repr)


def model_tables(store: Path) -> list[tuple[str, str]]:
    with duckdb.connect(str(store), read_only=True) as con:
        return con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                           "WHERE table_schema IN ? ORDER BY 1, 2",
                           [list(MODEL_SCHEMAS)]).fetchall()


def _data_columns(cursor, schema: str, table: str) -> list[str]:
    """A table's column names, in order, but a model's own bookkeeping (`_`). Either engine's
    cursor; the names come from the store's own catalog."""
    cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                   f"'{schema}' AND table_name = '{table}' ORDER BY ordinal_position")
    return [name for (name,) in cursor.fetchall() if not name.startswith("_")]


def model_differences(store: Path, dsn: str) -> dict[str, str]:
    """Each dbt model table of the DuckDB `store` whose rows differ in the database `dsn`,
    with the counts and the first differing row. A model's own bookkeeping columns (`_`, like
    the digests an incremental model keeps) are left out: each engine hashes its own way."""
    differences = {}
    duck = duckdb.connect(str(store), read_only=True)
    pg = psycopg2.connect(dsn)
    for schema, table in model_tables(store):
        names = _data_columns(duck, schema, table)
        columns = ", ".join(f'"{name}"' for name in names)
        with pg.cursor() as cursor:
            on_postgres_names = _data_columns(cursor, schema, table)
            if on_postgres_names != names:
                differences[f"{schema}.{table}"] = f"columns {names} vs {on_postgres_names}"
                continue
            cursor.execute(f'SELECT {columns} FROM "{schema}"."{table}"')
            on_postgres = _rows(cursor.fetchall())
        on_duckdb = _rows(duck.execute(f'SELECT {columns} FROM "{schema}"."{table}"').fetchall())
        if on_postgres != on_duckdb:
            first = next((a, b) for a, b in zip(on_duckdb, on_postgres, strict=False) if a != b)
            differences[f"{schema}.{table}"] = f"{len(on_duckdb)} vs {len(on_postgres)}: {first}"
    pg.close()
    duck.close()
    return differences
