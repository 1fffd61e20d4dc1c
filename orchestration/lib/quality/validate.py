"""Running one suite inside a region's DuckDB store through Great Expectations' SQL engine.

Great Expectations is imported here, where validation runs, never on the code location's
import path (it costs seconds). A result that raised is a failure with its error, never a pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from orchestration.lib.quality.suites import ExpectationSpec, Suite
from orchestration.lib.store import locked, qualified, store_path

SAMPLE_SIZE = 10


@dataclass
class ExpectationOutcome:
    spec: ExpectationSpec
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    unexpected_sample: list = field(default_factory=list)
    error: str | None = None

    @property
    def blocking(self) -> bool:
        return not self.success and self.spec.severity == "error"


@dataclass
class SuiteOutcome:
    suite: Suite
    region: str
    outcomes: list[ExpectationOutcome]

    @property
    def passed(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    @property
    def blocking(self) -> bool:
        return any(outcome.blocking for outcome in self.outcomes)


def _error_of(result) -> str | None:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def _outcome(spec: ExpectationSpec, result) -> ExpectationOutcome:
    error = _error_of(result)
    details = result.result or {}
    return ExpectationOutcome(
        spec=spec,
        success=bool(result.success) and error is None,
        observed=details.get("observed_value"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_sample=list(details.get("partial_unexpected_list") or [])[:SAMPLE_SIZE],
        error=error,
    )


def validate(suite: Suite, region: str, schema: str, table: str) -> SuiteOutcome:
    """Validate `schema.table` in `region`'s store against `suite`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from orchestration.lib.quality import gx_duckdb

    gx_duckdb.apply()
    path = store_path(region)
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(name=f"store_{uuid.uuid4().hex[:8]}",
                                          connection_string=f"duckdb:///{path}")
    # A query asset, not a table asset: GE drops the schema of a DuckDB table asset.
    batch_definition = source.add_query_asset(
        name=table, query=f"SELECT * FROM {qualified(schema, table)}",
    ).add_batch_definition_whole_table("all")
    expectations = [ExpectationConfiguration(type=spec.type, kwargs=spec.kwargs).to_domain_obj()
                    for spec in suite.expectations]
    gx_suite = gx.ExpectationSuite(name=suite.name, expectations=expectations)
    with locked(path):
        batch = batch_definition.get_batch()
        try:
            result = batch.validate(gx_suite, result_format={
                "result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE})
        finally:
            # Close every pooled DuckDB connection now: this process opens the same file for
            # writing next, which DuckDB refuses while another configuration holds it.
            batch.data.execution_engine.close()
            source.get_engine().dispose()
    return SuiteOutcome(suite, region, _match(suite.expectations, result.results))


def _match(specs: tuple[ExpectationSpec, ...], results: list) -> list[ExpectationOutcome]:
    """GE returns results in its own order: pair each with the spec it came from."""
    pending = list(results)
    outcomes = []
    for spec in specs:
        for result in pending:
            config = result.expectation_config
            if config.type == spec.type and all(
                    config.kwargs[k] == v for k, v in spec.kwargs.items() if k in config.kwargs):
                pending.remove(result)
                outcomes.append(_outcome(spec, result))
                break
        else:
            outcomes.append(ExpectationOutcome(spec, False, error="no result was returned"))
    return outcomes
