"""Great Expectations' unexpected-rows expectation, counting the rows without fetching them.

GE's own form resolves two metrics for it, the unexpected rows and their count: two scans of
the table, where a regular-expression check costs most of a suite's time. A summary never shows
those rows, so this form counts only; the rows to quarantine are fetched by the query itself
(`validate.failing_keys`), as GE's form keeps only 200 of them. Imported by validation only: it
imports GE.
"""

from __future__ import annotations

from typing import ClassVar

from great_expectations.expectations import UnexpectedRowsExpectation

STOCK_TYPE = "unexpected_rows_expectation"


class CountedUnexpectedRows(UnexpectedRowsExpectation):
    """Passes when the query returns no row; its observed value is how many it returned."""

    metric_dependencies: ClassVar[tuple[str, ...]] = ("unexpected_rows_query.row_count",)

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                  execution_engine=None) -> dict:
        found = metrics["unexpected_rows_query.row_count"]
        return {"success": found == 0, "result": {"observed_value": found}}


def as_run(written: str) -> str:
    """The expectation type to run for one a suite names."""
    return CountedUnexpectedRows.expectation_type if written == STOCK_TYPE else written


def as_written(run: str) -> str:
    """The expectation type a suite names for one that ran."""
    return STOCK_TYPE if run == CountedUnexpectedRows.expectation_type else run
