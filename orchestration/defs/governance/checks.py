"""Blocking policy checks on every asset that does not run its own: dbt models, seeds and
snapshots, and dbt sources nobody declared. Ingest and telemetry assets carry theirs on the
asset itself.

One check per asset, each its own step: a model the policy gate held back skips only its own
check, while every model that was built is still checked.
"""

from collections.abc import Iterable

import dagster as dg

from orchestration.lib.governance.policy_checks import (
    POLICY_CHECK,
    evaluate_policy,
    policy_check_spec,
)
from orchestration.lib.governance.registry import relations
from orchestration.lib.operations.cpu import timed_check
from orchestration.lib.partitions import run_regions


def build_policy_check(key: dg.AssetKey) -> dg.AssetChecksDefinition:
    spec = policy_check_spec(key)

    @dg.asset_check(asset=key, name=POLICY_CHECK, blocking=True, description=spec.description)
    def _policy(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        return timed_check(lambda: evaluate_policy(key, relations()[key.to_user_string()],
                                                   run_regions(context, key)))

    return _policy


def build_policy_checks(keys: Iterable[dg.AssetKey]) -> list[dg.AssetChecksDefinition]:
    return [build_policy_check(key) for key in sorted(keys, key=lambda k: k.to_user_string())]
