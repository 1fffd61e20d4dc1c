"""Great Expectations suites of dbt models as blocking checks (ingest assets run theirs inline)."""

import dagster as dg

from orchestration.defs.governance.checks import run_regions
from orchestration.defs.transform.assets import dbt_models, model_relations
from orchestration.lib.cpu import timed_check
from orchestration.lib.quality.checks import run_suite
from orchestration.lib.quality.suites import Suite, suites_for


def build_suite_check(key: dg.AssetKey, suite: Suite) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=key, name=suite.check_name, blocking=True,
                    description=f"Great Expectations suite {suite.path.name}")
    def _suite(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return timed_check(lambda: run_suite(key, suite, model_relations()[key],
                                             run_regions(context), context.run.run_id))

    return _suite


def build_model_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [build_suite_check(key, suite) for key in dbt_models.keys
            for suite in suites_for(key.to_user_string())]
