"""The warehouse boundary: the only package that knows which engine holds the stores.

Every other module opens stores, asks what exists and moves rows through the names below, and
never imports a database driver. The interface:

- connect and lock: `reader`, `write_connection`, `connect` (either), `locked` (held around
  dbt, which connects itself), `pipeline_lock`, `store_path`;
- ask: `exists` (the store), `table_exists`, `table_columns`, `rows_if_present`, `held_in`;
- read and write: `select_arrow`, `stage_arrow` (Arrow data as a relation), `replace_table`,
  `delete_where` (or count, for a dry run), `sample` (a FROM item), `storage_errors_explained`;
- the in-process engine that parses landing files and analyses Arrow data on every backend:
  `engine`, `scratch_connection`, `attached` (a store under it), `sql_text_list`;
- `Connection`, `Error` (the driver's), `DIALECT` (sqlglot's name for the SQL spoken),
  `great_expectations_url` (how GE's SQL data source opens a store).

`STEWARD_WAREHOUSE` chooses the backend (`settings.warehouse`); the embedded DuckDB files are the
default and, for now, the only one built.
"""

from orchestration.lib.warehouse.duckdb import (
    DIALECT,
    LOCK_TIMEOUT_SECONDS,
    Connection,
    Error,
    StoreWriteError,
    attached,
    connect,
    delete_where,
    engine,
    exists,
    great_expectations_url,
    held_in,
    locked,
    pipeline_lock,
    reader,
    replace_table,
    rows_if_present,
    sample,
    scratch_connection,
    select_arrow,
    sql_text_list,
    stage_arrow,
    storage_errors_explained,
    store_path,
    table_columns,
    table_exists,
    write_connection,
)
from orchestration.lib.warehouse.sql import (
    UnsafeIdentifierError,
    qualified,
    quote_ident,
    sql_literal,
)

__all__ = [
    "DIALECT",
    "LOCK_TIMEOUT_SECONDS",
    "Connection",
    "Error",
    "StoreWriteError",
    "UnsafeIdentifierError",
    "attached",
    "connect",
    "delete_where",
    "engine",
    "exists",
    "great_expectations_url",
    "held_in",
    "locked",
    "pipeline_lock",
    "qualified",
    "quote_ident",
    "reader",
    "replace_table",
    "rows_if_present",
    "sample",
    "scratch_connection",
    "select_arrow",
    "sql_literal",
    "sql_text_list",
    "stage_arrow",
    "storage_errors_explained",
    "store_path",
    "table_columns",
    "table_exists",
    "write_connection",
]
