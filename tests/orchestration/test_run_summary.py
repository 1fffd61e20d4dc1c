"""The run summary says what ran: an asset whose checks did not all run is never `ok`."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.operations.runner import Finished, _outcomes, format_summary


@dg.asset
def orders() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


@dg.asset_check(asset=orders)
def orders_counted() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset=orders)
def orders_reconciled() -> dg.AssetCheckResult:
    raise RuntimeError("the check's step broke before it could judge")


def _summary(*checks: dg.AssetChecksDefinition) -> tuple[str, str]:
    result = dg.materialize([orders, *checks], raise_on_error=False)
    graph = dg.Definitions(assets=[orders], asset_checks=checks).resolve_asset_graph()
    [outcome] = _outcomes(Finished(result.success, list(result.all_events)), graph, [])
    return outcome.status, format_summary([outcome])


def test_an_asset_whose_checks_all_ran_and_passed_is_ok():
    status, _ = _summary(orders_counted)
    assert status == "ok"


def test_an_asset_with_a_check_that_did_not_run_is_not_ok():
    status, summary = _summary(orders_counted, orders_reconciled)
    assert status == "CHECKS NOT RUN"
    assert "orders [] 1 of its 2 checks did not run" in summary
