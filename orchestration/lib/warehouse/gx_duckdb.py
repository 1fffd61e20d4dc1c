"""The one compatibility fix Great Expectations 1.24 needs to run on DuckDB through SQLAlchemy.

GE's `SqlAlchemyExecutionEngine.execute_query` returns a cursor result after leaving the
`with engine.connect()` block. DuckDB (duckdb-engine) drops a cursor's rows when its connection
closes, so every metric then fails with "list index out of range". Buffering the result while
the connection is still open fixes it without touching any other dialect. Applied once, by
`apply()`, when validation asks `great_expectations_source` for a store, never at import time.
"""

from __future__ import annotations

_PATCHED = "_steward_buffers_duckdb_results"


def apply() -> None:
    from great_expectations.execution_engine.sqlalchemy_execution_engine import (
        SqlAlchemyExecutionEngine,
    )

    original = SqlAlchemyExecutionEngine.execute_query
    if getattr(original, _PATCHED, False):
        return

    def execute_query(self, query):
        if self.dialect_name != "duckdb":
            return original(self, query)
        with self.get_connection() as connection:
            # freeze() reads every row now; calling the frozen result replays them later.
            return self._execute_query_with_recovery(connection, query).freeze()()

    setattr(execute_query, _PATCHED, True)
    SqlAlchemyExecutionEngine.execute_query = execute_query
