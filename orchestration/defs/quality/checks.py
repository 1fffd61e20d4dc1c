"""Great Expectations suites of dbt models as blocking checks (ingest and telemetry assets
run theirs inline)."""

from collections.abc import Iterable

import dagster as dg

from orchestration.lib.governance.registry import relations
from orchestration.lib.operations.cpu import timed_check
from orchestration.lib.partitions import run_regions
from orchestration.lib.quality.checks import run_suite
from orchestration.lib.quality.suites import Suite, suites_for


def build_suite_check(key: dg.AssetKey, suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=key, name=suite.check_name, blocking=True,
                    description=f"Great Expectations suite {suite.path.name}")
    def _suite(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return timed_check(lambda: run_suite(key, suite, relations()[key.to_user_string()],
                                             run_regions(context, key), context.run.run_id))

    return _suite


def build_quality_checks(keys: Iterable[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    return [build_suite_check(key, suite) for key in keys
            for suite in suites_for(key.to_user_string())]
