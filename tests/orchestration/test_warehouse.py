"""The warehouse boundary: the one package that knows the engine, and what its interface does."""

from __future__ import annotations

import ast
import contextlib
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg2
import pyarrow as pa
import pytest

from orchestration.lib import warehouse
from orchestration.lib.settings import get_settings, postgres_dsn
from orchestration.lib.warehouse import duckdb as duckdb_backend
from orchestration.lib.warehouse import postgres as postgres_backend
from tests.clock import moment
from tests.conftest import run_steward

ROOT = Path(__file__).resolve().parents[2]
BOUNDARY = ROOT / "orchestration" / "lib" / "warehouse"
DRIVERS = {"duckdb", "psycopg", "psycopg2", "adbc_driver_postgresql", "adbc_driver_manager",
           "sqlalchemy", "duckdb_engine"}


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_outside_the_warehouse_package_imports_a_database_driver():
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_modules(path) & DRIVERS)
        for folder in ("orchestration", "policies") for path in (ROOT / folder).rglob("*.py")
        if BOUNDARY not in path.parents and _imported_modules(path) & DRIVERS
    }
    assert offenders == {}


def test_the_guard_sees_a_driver_import(tmp_path):
    module = tmp_path / "sneaky.py"
    module.write_text("def f():\n    import duckdb\n    return duckdb\n", encoding="utf-8")
    assert _imported_modules(module) & DRIVERS == {"duckdb"}


def test_an_unknown_warehouse_is_refused_with_the_choices(monkeypatch):
    monkeypatch.setenv("STEWARD_WAREHOUSE", "oracle")
    with pytest.raises(ValueError, match=r"STEWARD_WAREHOUSE='oracle'.*duckdb"):
        get_settings()
    monkeypatch.setenv("STEWARD_WAREHOUSE", "postgres")
    assert get_settings().warehouse == "postgres"
    monkeypatch.setenv("STEWARD_WAREHOUSE", "DuckDB")
    assert get_settings().warehouse == "duckdb"


def test_an_unknown_warehouse_stops_a_command_saying_the_choices(tmp_path):
    done = run_steward(["quarantine"], tmp_path, STEWARD_WAREHOUSE="oracle")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "STEWARD_WAREHOUSE='oracle'" in done.stderr and "duckdb, postgres" in done.stderr


def test_a_server_that_does_not_answer_stops_a_run_before_any_work(tmp_path):
    done = run_steward(["run"], tmp_path, STEWARD_WAREHOUSE="postgres",
                       STEWARD_PG_DSN="postgresql://steward@127.0.0.1:1/steward_{store}")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach the PostgreSQL server of store steward_audit at 127.0.0.1:1" in (
        done.stderr)
    assert not (tmp_path / "landing").exists()  # stopped before generating anything


def test_on_postgres_a_store_is_the_database_its_name_picks(on_postgres, data_dir):
    eu, us = warehouse.store_path("eu"), warehouse.store_path("us")
    assert not warehouse.exists(eu)
    with warehouse.write_connection(eu) as con:  # the database is made on first write
        con.execute("CREATE TABLE probe AS SELECT 7 AS x")
    admin = psycopg2.connect(postgres_dsn("eu"))
    with admin.cursor() as cursor:
        cursor.execute("SELECT x FROM main.probe")  # bookkeeping sits in `main`, as in DuckDB
        assert cursor.fetchall() == [(7,)]
    admin.close()
    assert warehouse.exists(eu) and not warehouse.exists(us)
    assert warehouse.rows_if_present(eu, "probe", "SELECT x FROM probe") == [(7,)]
    assert not eu.exists() and not any(data_dir.rglob("*.duckdb"))


def test_steps_that_find_a_database_or_table_missing_at_once_all_get_it(on_postgres,
                                                                          data_dir):
    """Steps on several workers write a new store's first rows at the same moment: each
    finds the database and the table missing, one creates each, and none fails for it, in a
    transaction of its own or not."""
    store = warehouse.store_path("eu")
    failures: list[Exception] = []

    def first_write(number: int) -> None:
        try:
            with warehouse.write_connection(store) as con:
                if number % 2:
                    con.execute("BEGIN")
                con.execute("CREATE TABLE IF NOT EXISTS probe (x INTEGER)")
                con.execute(f"INSERT INTO probe VALUES ({number})")
                if number % 2:
                    con.execute("COMMIT")
        except Exception as error:  # every failure is the finding
            failures.append(error)

    writers = [threading.Thread(target=first_write, args=(n,)) for n in range(8)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert failures == []
    assert warehouse.rows_if_present(store, "probe", "SELECT x FROM probe ORDER BY x") == [
        (n,) for n in range(8)]


BACKENDS = ["duckdb", "postgres"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path, monkeypatch):
    """(backend module, a new store holding s.t with three rows), on each backend."""
    if request.param == "duckdb":
        monkeypatch.setenv("STEWARD_STORE_DIR", str(tmp_path / "store"))
        backend, location = duckdb_backend, get_settings().region_store("eu")
    else:
        cluster = request.getfixturevalue("postgres")
        backend, location = postgres_backend, cluster.dsn(f"store_{uuid.uuid4().hex[:12]}")
        admin = psycopg2.connect(cluster.dsn())
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {location.rsplit('/', 1)[1]}")
        admin.close()
    with backend.write_connection(location) as con:
        con.execute("CREATE SCHEMA s")
        backend.replace_table(con, "s.t", "(id INTEGER, name VARCHAR, amount DECIMAL(18,2))")
        con.execute("INSERT INTO s.t VALUES (1, 'a', 1.5), (2, 'b?', 2), (3, 'c', NULL)")
    return backend, location


def test_delete_where_counts_in_a_dry_run_and_deletes_otherwise(store):
    backend, location = store
    with backend.connect(location) as con:
        assert backend.delete_where(con, "s.t", "id >= ?", [2], count_only=True) == 2
        assert con.execute("SELECT count(*) FROM s.t").fetchone() == (3,)
    with backend.connect(location, write=True) as con:
        assert backend.delete_where(con, "s.t", "id >= ? AND name <> '?'", [2]) == 2
        assert con.execute("SELECT id FROM s.t").fetchall() == [(1,)]


def test_a_reader_cannot_write(store):
    backend, location = store
    with backend.connect(location) as con, pytest.raises(backend.Error):
        con.execute("DELETE FROM s.t")


def test_a_transaction_rolls_back_as_a_whole(store):
    backend, location = store
    with backend.write_connection(location) as con:
        con.execute("BEGIN")
        backend.delete_where(con, "s.t", "true")
        con.execute("ROLLBACK")
        assert con.execute("SELECT count(*) FROM s.t").fetchone() == (3,)


def test_columns_arrow_in_and_out_and_replace(store):
    backend, location = store
    assert backend.exists(location)
    with backend.write_connection(location) as con:
        assert backend.table_exists(con, "s", "t") and not backend.table_exists(con, "s", "u")
        assert backend.table_columns(con, "s", "t") == {
            "id": "INTEGER", "name": "VARCHAR", "amount": "DECIMAL(18,2)"}
        assert backend.table_columns(con, "s", "missing") == {}
        backend.stage_arrow(con, "incoming", pa.table({"id": [7, 8]}))
        backend.replace_table(con, "s.t", "AS SELECT CAST(id * 2 AS BIGINT) AS doubled "
                                          "FROM incoming")
        selected = backend.select_arrow(con, "SELECT doubled FROM s.t WHERE doubled > ?", [14])
        assert selected.to_pydict() == {"doubled": [16]}
        assert backend.table_columns(con, "s", "t") == {"doubled": "BIGINT"}


def test_many_rows_go_in_at_once_with_their_declared_types_and_nulls(store):
    backend, location = store
    declared = ("id BIGINT, name VARCHAR, seen_at TIMESTAMP, share DOUBLE PRECISION, ok BOOLEAN, "
                "n INTEGER")
    at = moment(days=-3).replace(microsecond=0, tzinfo=None)
    rows = [(i, f"r{i}", at, i / 4, i % 2 == 0, i) for i in range(5000)] + [
        (5000, None, None, None, None, None)]
    with backend.write_connection(location) as con:
        backend.replace_table(con, "s.many", f"({declared})")
        warehouse.insert_rows(con, "s.many", declared, rows)
        assert con.execute("SELECT * FROM s.many ORDER BY id").fetchall() == rows
        with pytest.raises(ValueError, match=r"cannot stage the column type\(s\) DECIMAL"):
            warehouse.insert_rows(con, "s.many", "id DECIMAL", [(1,)])


def test_a_column_an_older_table_lacks_reads_null_until_added_once(store):
    backend, location = store
    with backend.write_connection(location) as con:
        columns = warehouse.columns_or_null(con, "s", "t", ["id", "note"])
        assert con.execute(f"SELECT {columns} FROM s.t ORDER BY id").fetchall() == [
            (1, None), (2, None), (3, None)]
        warehouse.add_missing_column(con, "s", "t", "note", "VARCHAR")
        con.execute("UPDATE s.t SET note = 'kept' WHERE id = 1")
        warehouse.add_missing_column(con, "s", "t", "note", "VARCHAR")  # has it: left alone
        columns = warehouse.columns_or_null(con, "s", "t", ["id", "note"])
        assert con.execute(f"SELECT {columns} FROM s.t ORDER BY id").fetchall() == [
            (1, "kept"), (2, None), (3, None)]


def test_a_column_the_table_has_is_not_added_again_behind_its_readers(on_postgres):
    """On PostgreSQL an ALTER TABLE waits for every open reader of the table, even one that
    would change nothing: a validation recording its history would wait for a report."""
    eu = warehouse.store_path("eu")
    with warehouse.write_connection(eu) as con:
        con.execute("CREATE TABLE history (suite VARCHAR, kept_from TIMESTAMP)")
    reading = psycopg2.connect(postgres_dsn("eu"))  # its SELECT holds the table until it ends
    try:
        with reading.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM main.history")
        with warehouse.write_connection(eu) as con:
            con.execute("SET lock_timeout = '2s'")
            warehouse.add_missing_column(con, "main", "history", "kept_from", "TIMESTAMP")
            con.execute("INSERT INTO history (suite) VALUES ('s')")
    finally:
        reading.close()
    assert warehouse.rows_if_present(eu, "history", "SELECT suite FROM history") == [("s",)]


def test_a_sample_reads_at_most_the_rows_asked_for_and_the_same_ones(store):
    backend, location = store
    query = f"SELECT id FROM {backend.sample('s.t', 2)} ORDER BY id"
    with backend.reader(location) as con:
        first = con.execute(query).fetchall()
        assert len(first) == 2
        assert con.execute(query).fetchall() == first


def test_a_missing_store_does_not_exist(postgres, tmp_path):
    assert not duckdb_backend.exists(tmp_path / "nowhere.duckdb")
    assert not postgres_backend.exists(postgres.dsn("no_such_database"))


def test_placeholders_are_numbered_outside_quotes():
    assert postgres_backend.numbered_placeholders(
        """SELECT '?', "a?" FROM t WHERE x = ? AND y IN (?, ?)""") == (
        """SELECT '?', "a?" FROM t WHERE x = $1 AND y IN ($2, $3)""")


def test_the_package_finds_tables_across_region_stores(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_STORE_DIR", str(tmp_path / "store"))
    with warehouse.write_connection(warehouse.store_path("eu")) as con:
        warehouse.replace_table(con, "t", "AS SELECT 1 AS id")
    assert warehouse.rows_if_present(warehouse.store_path("eu"), "t",
                                     "SELECT count(*) FROM t") == [(1,)]
    assert warehouse.rows_if_present(warehouse.store_path("us"), "t", "SELECT 1") == []
    assert [region for region, _ in warehouse.held_in(["eu", "us"], ("main", "t"))] == ["eu"]


def _another_process_writes(store: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).execute("
         "'CREATE OR REPLACE TABLE written AS SELECT 1 AS one')", str(store)],
        capture_output=True, text=True)


def test_a_linked_store_says_whether_it_holds_a_key_of_the_engines_rows(data_dir):
    """What an ingest asks before comparing a batch with the stored rows."""
    store = get_settings().region_store("eu")
    with duckdb_backend.write_connection(store) as con:
        con.execute("CREATE TABLE t AS SELECT range AS id FROM range(1, 1001)")
    scratch = duckdb_backend.scratch_connection()
    with duckdb_backend.link(scratch, store, "eu") as linked:
        scratch.execute("CREATE TEMP TABLE batch AS SELECT range AS id FROM range(1001, 2001)")
        target, match = linked.relation("main", "t"), "t.id = b.id"
        assert not linked.holds_any(target, "(SELECT * FROM batch)", match)
        scratch.execute("INSERT INTO batch VALUES (500)")
        assert linked.holds_any(target, "(SELECT * FROM batch)", match)
        assert not linked.holds_any(target, "(SELECT * FROM batch WHERE id > 1000)", match)
    scratch.close()


@pytest.mark.parametrize("ending", ["done", "failed in a transaction"])
def test_a_store_linked_to_an_engine_is_free_for_others_once_its_lock_is(data_dir, ending):
    """The engine lives on after the link (an ingest closes it last): were the store still
    attached, a run that takes the lock next would find the file held and fail."""
    store = get_settings().region_store("eu")
    with duckdb_backend.write_connection(store) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS id")
    scratch = duckdb_backend.scratch_connection()
    with contextlib.suppress(duckdb_backend.duckdb.Error), \
            duckdb_backend.link(scratch, store, "eu") as linked:
        linked.execute("SELECT count(*) FROM eu.main.t")
        if ending != "done":
            scratch.execute("BEGIN")
            scratch.execute("SELECT error('the step fails')")
    written = _another_process_writes(store)
    assert written.returncode == 0, written.stderr
    scratch.close()


@pytest.mark.parametrize("ending", ["done", "failed in a transaction"])
def test_a_store_is_free_for_other_processes_once_its_connection_closes(data_dir, ending):
    """A process's stores are attached to one DuckDB instance while they are open, and the
    instance lives on: a store still attached after its lock is let go would hold the file."""
    store = get_settings().region_store("eu")
    with contextlib.suppress(duckdb_backend.duckdb.Error), \
            duckdb_backend.write_connection(store) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS id")
        if ending != "done":
            con.execute("BEGIN")
            con.execute("INSERT INTO t VALUES (2)")
            con.execute("SELECT error('the step fails')")
    with duckdb_backend.reader(store) as con:
        assert con.execute("SELECT id FROM t").fetchall() == [(1,)]
    written = _another_process_writes(store)
    assert written.returncode == 0, written.stderr


def test_a_connection_sees_only_its_own_store_while_another_is_open(data_dir):
    eu, us = get_settings().region_store("eu"), get_settings().region_store("us")
    for store, table in ((eu, "only_in_eu"), (us, "only_in_us")):
        with duckdb_backend.write_connection(store) as con:
            con.execute(f"CREATE TABLE {table} (name VARCHAR)")
    with duckdb_backend.reader(eu) as in_eu, duckdb_backend.reader(us) as in_us:
        assert warehouse.table_exists(in_eu, "main", "only_in_eu")
        assert not warehouse.table_exists(in_eu, "main", "only_in_us")
        assert warehouse.table_columns(in_eu, "main", "only_in_us") == {}
        assert warehouse.text_columns(in_eu) == [("main", "only_in_eu", "name")]
        assert warehouse.text_columns(in_us) == [("main", "only_in_us", "name")]
