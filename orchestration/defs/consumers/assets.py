"""The automation teams' models as Dagster assets downstream of the shared features.

Each reads only through the governed read path as its declared consumer; a denied input stops
it before it reads anything, and the reason is recorded on the asset (and in `steward run`).
"""

import time

import dagster as dg

from orchestration.lib.consumer_models import CONSUMER_MODELS, ConsumerModel
from orchestration.lib.consumers.fairness import FairnessResult, measure
from orchestration.lib.consumers.run import run_consumer
from orchestration.lib.deployment.queue import consumer_pool
from orchestration.lib.governance.governed_read import NotBuilt
from orchestration.lib.governance.policy_checks import (
    BLOCKED_METADATA,
    POLICY_CHECK,
    evaluate_policy,
    policy_check_spec,
)
from orchestration.lib.metadata import column_schema, owners
from orchestration.lib.operations.cpu import METADATA_KEY as CPU_SECONDS
from orchestration.lib.operations.cpu import CpuClock, timed_check
from policies.drift import WARN
from policies.rules import FairnessAudit, load_rules

GROUP = "consumers"


def _key(asset: str) -> dg.AssetKey:
    return dg.AssetKey.from_user_string(asset)


def build_consumer_asset(model: ConsumerModel) -> dg.AssetsDefinition:
    key = _key(model.key)
    consumer = load_rules().consumers.get(model.consumer)

    @dg.asset(
        key=key,
        group_name=GROUP,
        description=model.description,
        owners=owners(consumer.team) if consumer else None,
        kinds={"scikitlearn", "duckdb"},
        pool=consumer_pool(model.consumer),
        deps=[_key(dataset) for dataset in model.inputs],
        metadata={
            "dagster/column_schema": column_schema(
                (o.name, o.data_type, o.description, "none") for o in model.outputs),
            "consumer": model.consumer,
            "reads": dg.MetadataValue.json({d: list(c) for d, c in model.inputs.items()}),
        },
        check_specs=[policy_check_spec(key)],
        output_required=False,
    )
    def _consume(context: dg.AssetExecutionContext):
        started, clock = time.monotonic(), CpuClock()
        run = run_consumer(model)
        if run.blocked:
            context.log.error(f"{model.key} blocked by policy: {run.blocked}")
            context.log_event(dg.AssetObservation(asset_key=key,
                                                  metadata={BLOCKED_METADATA: run.blocked}))
            # The consumer edge itself breaks policy: its blocking check fails, nothing is read.
            yield dg.AssetCheckResult(check_name=POLICY_CHECK, passed=False,
                                      severity=dg.AssetCheckSeverity.ERROR,
                                      description=run.blocked)
            return
        for region, reason in run.skipped.items():
            context.log.warning(f"{model.key} [{region}] not scored: {reason}")
        metadata = {"dagster/row_count": sum(run.rows.values()),
                    "rows_scored": sum(run.scored.values()),
                    **{f"rows_in_{region}": rows for region, rows in run.rows.items()},
                    **{f"{name}_{region}": value for region, metrics in run.metrics.items()
                       for name, value in metrics.items()},
                    "skipped_regions": dg.MetadataValue.json(run.skipped),
                    "held_back_regions": dg.MetadataValue.json({**run.held_back,
                                                                **run.drift_held}),
                    "duration_s": round(time.monotonic() - started, 3),
                    CPU_SECONDS: clock.seconds()}
        yield dg.MaterializeResult(metadata=metadata, check_results=[_judged(context, run)])

    return _consume


def _judged(context: dg.AssetExecutionContext, run) -> dg.AssetCheckResult:
    """The model's policy check: failed where a freshly fitted model fell below its floors,
    warning where the population drifts (held back past block_psi; its model_drift alert
    tells the on-call, so the check does not raise a second alert)."""
    model = run.model
    check = evaluate_policy(_key(model.key), model.relation, list(run.rows))
    drifting = {region: f"PSI {metrics['psi_max']:.3f}" for region, metrics in run.metrics.items()
                if metrics.get("drift") == WARN} | run.drift_held
    if run.held_back:
        context.log.error(f"{model.key} held back: {run.held_back}")
        return dg.AssetCheckResult(
            check_name=POLICY_CHECK, passed=False, severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(f"{region}: {why}" for region, why in run.held_back.items()))
    if check.passed and drifting:
        return dg.AssetCheckResult(
            check_name=POLICY_CHECK, passed=False, severity=dg.AssetCheckSeverity.WARN,
            description="the population scored drifts from the training one: " + "; ".join(
                f"{region}: {why}" for region, why in drifting.items()))
    return check


def _fairness_metadata(result: FairnessResult) -> dict:
    table = "\n".join(
        f"| {g.attribute} | {g.group} | {g.size} | {g.positive_rate:.3f} | "
        f"{'yes' if g.judged else 'too small'} |" for g in result.groups)
    return {
        "groups": dg.MetadataValue.md("| attribute | group | people | positive rate | judged |\n"
                                      "|---|---|---|---|---|\n" + table),
        **{f"disparate_impact_{a}": v for a, v in result.disparate_impact.items()
           if v is not None},
        **{f"positive_rate_gap_{a}": v for a, v in result.rate_gap.items() if v is not None},
        "min_disparate_impact": result.audit.min_disparate_impact,
        "max_positive_rate_gap": result.audit.max_positive_rate_gap,
    }


def build_fairness_check(audit: FairnessAudit) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=_key(audit.model), name=f"fairness__{audit.name}",
        description=f"Four-fifths rule and positive-rate gap of {audit.outcome} by "
                    f"{', '.join(audit.attributes)} (thresholds in policies/fairness.yaml; "
                    f"protected attributes read as {audit.consumer}).",
    )
    def _fairness() -> dg.AssetCheckResult:
        return timed_check(lambda: _fairness_result(audit))

    return _fairness


def _fairness_result(audit: FairnessAudit) -> dg.AssetCheckResult:
    try:
        result = measure(audit, load_rules().age_bands)
    except NotBuilt as reason:  # nothing scored to audit: say so, never pass silently
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                   description=f"not measured: {reason}")
    return dg.AssetCheckResult(
        passed=result.passed,
        severity=(dg.AssetCheckSeverity.ERROR if audit.on_breach == "error"
                  else dg.AssetCheckSeverity.WARN),
        description="; ".join(result.problems) or None,
        metadata=_fairness_metadata(result),
    )


def build_consumer_assets() -> list[dg.AssetsDefinition]:
    return [build_consumer_asset(model) for model in CONSUMER_MODELS]


def build_fairness_checks() -> list[dg.AssetChecksDefinition]:
    return [build_fairness_check(audit) for audit in load_rules().fairness.values()]
