"""Service-level indicators of one dataset against its objectives (policies/slos.yaml).

Pure arithmetic over what the orchestrator recorded: the runs that built the dataset (success,
seconds), when it was last materialized, and its check results. No data means no breach of a
rate, except freshness: a dataset never built is not fresh.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from policies.rules import Slo


@dataclass
class SliReading:
    dataset: str
    runs: int
    success_rate: float | None
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None
    freshness_lag_hours: float | None
    check_pass_rate: float | None
    breaches: list[str] = field(default_factory=list)


def _quantile(values: list[float], q: float) -> float | None:
    """Nearest-rank quantile: the smallest value with at least q of the values at or below."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-int(q * 100) * len(ordered) // 100) - 1))]


def evaluate_slo(slo: Slo, runs: list[tuple[bool, float]], last_materialized: datetime | None,
                 checks: list[bool], now: datetime) -> SliReading:
    succeeded = [seconds for ok, seconds in runs if ok]
    reading = SliReading(
        dataset=slo.dataset, runs=len(runs),
        success_rate=len(succeeded) / len(runs) if runs else None,
        latency_p50_seconds=_quantile(succeeded, 0.5),
        latency_p95_seconds=_quantile(succeeded, 0.95),
        freshness_lag_hours=((now - last_materialized).total_seconds() / 3600
                             if last_materialized else None),
        check_pass_rate=sum(checks) / len(checks) if checks else None)
    if reading.freshness_lag_hours is None:
        reading.breaches.append("freshness: never built")
    elif reading.freshness_lag_hours > slo.freshness_hours:
        reading.breaches.append(f"freshness: {reading.freshness_lag_hours:.1f}h old, objective "
                                f"{slo.freshness_hours:g}h")
    if reading.success_rate is not None and reading.success_rate < slo.success_rate:
        reading.breaches.append(f"success rate {reading.success_rate:.0%} < "
                                f"{slo.success_rate:.0%}")
    if (reading.latency_p95_seconds is not None
            and reading.latency_p95_seconds > slo.latency_p95_seconds):
        reading.breaches.append(f"latency p95 {reading.latency_p95_seconds:.0f}s > "
                                f"{slo.latency_p95_seconds:g}s")
    if reading.check_pass_rate is not None and reading.check_pass_rate < slo.check_pass_rate:
        reading.breaches.append(f"check pass rate {reading.check_pass_rate:.0%} < "
                                f"{slo.check_pass_rate:.0%}")
    return reading
