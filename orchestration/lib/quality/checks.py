"""Quality suites as Dagster asset checks: one check per suite, blocking on error severity."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.quality.suites import Suite, suites_for


def quality_check_specs(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(suite.check_name, asset=key, blocking=True,
                              description=f"Great Expectations suite {suite.path.name} "
                                          f"({len(suite.expectations)} expectations)")
            for suite in suites_for(key.to_user_string())]


def _line(region: str, outcome) -> str:
    mark = "✓" if outcome.success else ("✗" if outcome.spec.severity == "error" else "!")
    parts = [f"{mark} [{region}] {outcome.spec.label} ({outcome.spec.severity})"]
    if outcome.observed is not None:
        parts.append(f"observed {outcome.observed}")
    if outcome.unexpected_count:
        parts.append(f"{outcome.unexpected_count} unexpected, e.g. "
                     f"{outcome.unexpected_sample[:5]}")
    if outcome.error:
        parts.append(f"ERROR {outcome.error[:300]}")
    return " — ".join(parts)


def _reused(outcomes: list) -> str:
    """What the description says of outcomes kept from an earlier validation."""
    kept = [f"{o.region} (validated {o.validated_at:%Y-%m-%d %H:%M} UTC)" for o in outcomes
            if o.reused]
    return f"; unchanged since, so not validated again: {', '.join(kept)}" if kept else ""


def run_suite(key: dg.AssetKey, suite: Suite, relation: tuple[str, str], regions: list[str],
              run_id: str, key_columns: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    """Validate every region's table (each outcome recorded in its history) and summarise as
    one check result. A region's table unchanged since its last validation keeps that outcome
    (reuse.py). In quarantine mode (and with the table's key) failing rows move out first,
    then the suite runs again on what is left: downstream only ever sees good rows."""
    from orchestration.lib.quality.quarantine import quarantine_failing_rows
    from orchestration.lib.quality.reuse import validated

    outcomes, moved = [], 0
    for region in regions:
        outcome = validated(suite, region, *relation, run_id)
        if suite.failing_rows == "quarantine" and key_columns and not outcome.passed:
            moved_here = quarantine_failing_rows(outcome, *relation, key_columns,
                                                 key.to_user_string(), run_id)
            if moved_here:
                moved += moved_here
                outcome = validated(suite, region, *relation, run_id)
        outcomes.append(outcome)
    results = [(o.region, r) for o in outcomes for r in o.outcomes]
    failed = [r for _, r in results if not r.success]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=suite.check_name,
        passed=not failed,
        severity=(dg.AssetCheckSeverity.ERROR if any(r.blocking for r in failed)
                  else dg.AssetCheckSeverity.WARN),
        description=f"{len(results) - len(failed)} of {len(results)} expectations met"
                    f"{_reused(outcomes)}",
        metadata={
            "expectations": dg.MetadataValue.md("\n".join(f"- {_line(region, r)}"
                                                          for region, r in results)),
            "failed_errors": sum(r.blocking for r in failed),
            "failed_warnings": sum(not r.blocking for r in failed),
            "rows_quarantined": moved,
            "validated_at": ", ".join(f"{o.region} {o.validated_at:%Y-%m-%d %H:%M:%S}"
                                      for o in outcomes),
            "not_validated_again": ", ".join(o.region for o in outcomes if o.reused) or "none",
        },
    )
