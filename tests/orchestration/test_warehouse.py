"""The warehouse boundary: the one package that knows the engine, and what its interface does."""

from __future__ import annotations

import ast
from pathlib import Path

import pyarrow as pa
import pytest

from orchestration.lib import warehouse
from orchestration.lib.settings import get_settings

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
    with pytest.raises(ValueError, match="do not run on PostgreSQL yet"):
        get_settings()
    monkeypatch.setenv("STEWARD_WAREHOUSE", "DuckDB")
    assert get_settings().warehouse == "duckdb"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_STORE_DIR", str(tmp_path / "store"))
    path = warehouse.store_path("eu")
    assert not warehouse.exists(path)
    with warehouse.write_connection(path) as con:
        warehouse.replace_table(con, "t", "(id INTEGER, name VARCHAR)")
        con.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    return path


def test_delete_where_counts_in_a_dry_run_and_deletes_otherwise(store):
    with warehouse.connect(store) as con:
        assert warehouse.delete_where(con, "t", "id >= ?", [2], count_only=True) == 2
        assert con.execute("SELECT count(*) FROM t").fetchone() == (3,)
    with warehouse.connect(store, write=True) as con:
        assert warehouse.delete_where(con, "t", "id >= ?", [2]) == 2
        assert con.execute("SELECT id FROM t").fetchall() == [(1,)]


def test_a_reader_cannot_write(store):
    with warehouse.connect(store) as con, pytest.raises(warehouse.Error):
        con.execute("DELETE FROM t")


def test_columns_arrow_in_and_out_and_replace(store):
    with warehouse.write_connection(store) as con:
        assert warehouse.table_columns(con, "main", "t") == {"id": "INTEGER", "name": "VARCHAR"}
        assert warehouse.table_columns(con, "main", "missing") == {}
        warehouse.stage_arrow(con, "incoming", pa.table({"id": [7, 8]}))
        warehouse.replace_table(con, "t", "AS SELECT id * 2 AS doubled FROM incoming")
        selected = warehouse.select_arrow(con, "SELECT doubled FROM t WHERE doubled > ?", [14])
        assert selected.to_pydict() == {"doubled": [16]}
        assert warehouse.table_columns(con, "main", "t") == {"doubled": "BIGINT"}
    assert warehouse.exists(store)
    assert warehouse.rows_if_present(store, "t", "SELECT count(*) FROM t") == [(2,)]
    assert [region for region, _ in warehouse.held_in(["eu", "us"], ("main", "t"))] == ["eu"]


def test_a_sample_reads_at_most_the_rows_asked_for(store):
    with warehouse.reader(store) as con:
        [(count,)] = con.execute(f"SELECT count(*) FROM {warehouse.sample('t', 2)}").fetchall()
    assert count == 2
