"""What a pipeline run leaves behind for operators and consumers: alerts and staleness.

A root cause (a blocking check that failed, a model the policy blocked, a run that failed)
opens one incident per asset and sends one alert; what was only held back because of it is
not another incident but is marked stale: its table is the last good version, consumers keep
reading it and are told since when and why. A later healthy run resolves the incident and
clears the mark.
"""

from __future__ import annotations

from collections import defaultdict

from orchestration.lib.operations import alerts
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import rows_if_present, write_connection

STATUS_TABLE = "dataset_status"
CONSEQUENCES = ("upstream check failed", "skipped: an upstream model was blocked")


def _status_table(con) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {STATUS_TABLE} (asset VARCHAR, region VARCHAR, "
                "reason VARCHAR, since TIMESTAMP, PRIMARY KEY (asset, region))")


def record_run(outcomes: list, success: bool, run_name: str = "steward_pipeline"
               ) -> tuple[list, dict[tuple[str, str], str]]:
    """Alerts for root causes, stale marks for what they held back; returns the alerts sent
    and the (asset, region) pairs now stale, with why."""
    failing: dict[str, list] = defaultdict(list)
    stale, fresh = {}, []
    for outcome in outcomes:
        if outcome.healthy:
            fresh.append((outcome.asset, outcome.region))
            continue
        reason = outcome.blocked or (
            f"{outcome.checks_failed} blocking check(s) failed" if outcome.checks_failed
            else f"{outcome.checks_not_run} check(s) did not run")
        stale[(outcome.asset, outcome.region)] = reason
        if not (outcome.blocked or "").startswith(CONSEQUENCES):
            failing[outcome.asset].append((outcome.region, reason, bool(outcome.blocked)))
    sent = []
    for asset, where in failing.items():
        kind = "policy_violation" if where[0][2] else "check_failed"
        alert = alerts.fire(f"asset:{asset}", kind, f"{asset}: {where[0][1]}",
                            {"regions": [region for region, _, _ in where],
                             "reasons": [reason for _, reason, _ in where]})
        sent += [alert] if alert else []
    if not success and not failing:
        alert = alerts.fire(f"run:{run_name}", "run_failed", f"{run_name} failed",
                            {"hint": "see the run's logs in the Dagster UI"})
        sent += [alert] if alert else []
    alerts.resolve("asset:", {f"asset:{asset}" for asset in failing})
    if success:
        alerts.resolve(f"run:{run_name}", set())
    _mark(stale, fresh)
    return sent, stale


def _mark(stale: dict[tuple[str, str], str], fresh: list[tuple[str, str]]) -> None:
    now = current_time()
    with write_connection(get_settings().ops_store) as con:
        _status_table(con)
        for (asset, region), reason in stale.items():
            con.execute(f"INSERT INTO {STATUS_TABLE} VALUES (?, ?, ?, ?) ON CONFLICT "
                        "(asset, region) DO UPDATE SET reason = excluded.reason",
                        [asset, region, reason, now])
        for asset, region in fresh:
            con.execute(f"DELETE FROM {STATUS_TABLE} WHERE asset = ? AND region = ?",
                        [asset, region])


def staleness(asset: str, regions) -> dict[str, dict]:
    """region → {"since", "reason"} for each region where the asset is the last good version."""
    rows = rows_if_present(get_settings().ops_store, STATUS_TABLE,
                           f"SELECT region, reason, since FROM {STATUS_TABLE} WHERE asset = ? "
                           "AND region IN (SELECT unnest(?::VARCHAR[]))", [asset, list(regions)])
    return {region: {"since": since.isoformat(sep=" "), "reason": reason}
            for region, reason, since in rows}
