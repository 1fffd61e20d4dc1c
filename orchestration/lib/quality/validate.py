"""Running one suite inside a region's store through Great Expectations' SQL engine.

Great Expectations is imported here, where validation runs, never on the code location's
import path (it costs seconds). A result that raised is a failure with its error, never a pass.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from orchestration.lib.quality.suites import ExpectationSpec, Suite
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    great_expectations_source,
    qualified,
    reader,
    select_arrow,
    store_path,
    translated,
)

SAMPLE_SIZE = 10
QUERY = "unexpected_rows_query"
CLOCK = "{now}"  # in a query: Steward's clock (STEWARD_NOW or the real time)
BATCH = "{batch}"  # in a query: the table validated (GE fills it in)
BATCH_STANDIN = "steward_batch_standin"  # what stands for it while the query is translated


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
    validated_at: datetime | None = None
    reused: bool = False  # the outcome kept from `validated_at`: nothing it follows changed

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


def _run(specs: tuple[ExpectationSpec, ...], name: str, region: str, schema: str, table: str,
         result_format: dict) -> list:
    """GE results for `specs` on `schema.table` in `region`'s store, in GE's order."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from orchestration.lib.quality.counted_rows import as_run

    path = store_path(region)
    # Without progress bars: a run's log would otherwise carry two bars per validation.
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        progress_bars=ProgressBarsConfig(globally=False)))
    expectations = [ExpectationConfiguration(type=as_run(spec.type),
                                             kwargs=spec.kwargs).to_domain_obj()
                    for spec in specs]
    # GE opens the store as soon as the data source is added (to test it): all while held.
    with great_expectations_source(path) as (url, engine_arguments):
        source = context.data_sources.add_sql(name=f"store_{uuid.uuid4().hex[:8]}",
                                              connection_string=url, kwargs=engine_arguments)
        # A query asset, not a table asset: GE drops the schema of a DuckDB table asset.
        batch_definition = source.add_query_asset(
            name=table, query=f"SELECT * FROM {qualified(schema, table)}",
        ).add_batch_definition_whole_table("all")
        try:
            batch = batch_definition.get_batch()
            try:
                return batch.validate(gx.ExpectationSuite(name=name, expectations=expectations),
                                      result_format=result_format).results
            finally:
                batch.data.execution_engine.close()
        finally:
            # Close every connection GE still holds before the store is let go.
            source.get_engine().dispose()


def _in_the_store_dialect(query: str) -> str:
    """A suite's query (DuckDB's dialect, `{batch}` for the table, braces in text doubled) as
    the chosen warehouse speaks it, still ready for GE to fill in `{batch}`."""
    written = query.replace(BATCH, BATCH_STANDIN).replace("{{", "{").replace("}}", "}")
    spoken = translated(written)
    return spoken.replace("{", "{{").replace("}", "}}").replace(BATCH_STANDIN, BATCH)


def on_the_clock(specs: tuple[ExpectationSpec, ...]) -> tuple[ExpectationSpec, ...]:
    """The specs with `{now}` in their queries bound to Steward's clock, once for the suite,
    and each query in the store's dialect."""
    now = f"TIMESTAMP '{current_time():%Y-%m-%d %H:%M:%S.%f}'"
    return tuple(
        replace(spec, kwargs={**spec.kwargs, QUERY: _in_the_store_dialect(
            spec.kwargs[QUERY].replace(CLOCK, now))})
        if QUERY in spec.kwargs else spec for spec in specs)


def validate(suite: Suite, region: str, schema: str, table: str) -> SuiteOutcome:
    """Validate `schema.table` in `region`'s store against `suite`."""
    specs = on_the_clock(suite.expectations)
    results = _run(specs, suite.name, region, schema, table,
                   {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE})
    return SuiteOutcome(suite, region, _match(specs, results), validated_at=current_time())


def failing_keys(specs: tuple[ExpectationSpec, ...], region: str, schema: str, table: str,
                 key_columns: tuple[str, ...], most: int) -> dict[str, list[dict]]:
    """For row-level expectations, the keys of every row that fails them, `most` being the
    most rows any of them failed on. On SQL, GE lists only `partial_unexpected_count` of a
    column expectation's rows, so it is asked for `most`; it keeps 200 of the rows an
    `unexpected_rows_expectation`'s query returns, so that query runs here."""
    specs = on_the_clock(specs)
    columns = tuple(spec for spec in specs if QUERY not in spec.kwargs)
    queries = [spec for spec in specs if QUERY in spec.kwargs]
    found: dict[str, list[dict]] = {}
    if columns:
        results = _run(columns, "failing_rows", region, schema, table,
                       {"result_format": "COMPLETE", "partial_unexpected_count": max(most, 1),
                        "unexpected_index_column_names": list(key_columns)})
        for spec, result in zip(columns, _pair(columns, results), strict=True):
            listed = (result.result or {}).get("unexpected_index_list") if result else None
            found[spec.label] = [{k: row[k] for k in key_columns} for row in listed or []]
    if queries:
        with reader(store_path(region)) as con:
            for spec in queries:
                returned = select_arrow(con, spec.kwargs[QUERY].format(
                    batch=qualified(schema, table)))
                # A query that does not return whole rows (an aggregate) names no row to move.
                found[spec.label] = (returned.select(list(key_columns)).to_pylist()
                                     if set(key_columns) <= set(returned.column_names) else [])
    return found


def _pair(specs: tuple[ExpectationSpec, ...], results: list) -> list:
    """GE returns results in its own order: each spec's result, or None if GE returned none."""
    from orchestration.lib.quality.counted_rows import as_written  # GE is imported by now

    def answers(spec: ExpectationSpec, result) -> bool:
        config = result.expectation_config
        return as_written(config.type) == spec.type and all(
            config.kwargs[k] == v for k, v in spec.kwargs.items() if k in config.kwargs)

    pending = list(results)
    paired = []
    for spec in specs:
        # Taken out by position: list.remove compares results with ==, which GE answers by
        # serializing both.
        at = next((i for i, result in enumerate(pending) if answers(spec, result)), None)
        paired.append(None if at is None else pending.pop(at))
    return paired


def _match(specs: tuple[ExpectationSpec, ...], results: list) -> list[ExpectationOutcome]:
    return [_outcome(spec, result) if result is not None
            else ExpectationOutcome(spec, False, error="no result was returned")
            for spec, result in zip(specs, _pair(specs, results), strict=True)]
