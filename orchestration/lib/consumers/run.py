"""One run of a consumer model: decide every input, then read, train and score per region.

Nothing is read until the model's version is approved and every input is allowed, so a consumer
denied one dataset reads none. New scores are written only from a newly fitted model that meets
its approval's held-out minimums, a population not drifted past its block_psi from the one the
model was trained on (`policies/drift.py`), and, where the approval requires it, scores that
pass the model's fairness audit; else the region keeps its previous scores and model and every
row scored waits for a person. Rows the model should not decide on (`policies/review.py`), and
every row of a region whose inputs are stale past their freshness objective, get the declared
conservative decision and wait in the review queue. Each region is trained and scored on its
own rows and its scores and fitted model stay in its own store (residency); a kept model scores
until retraining is due (see kept.py). The table is replaced in one transaction, so a failed run
leaves the previous scores readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa

from orchestration.lib.consumer_models import ConsumerModel
from orchestration.lib.consumers import drift, fairness, kept, models, review
from orchestration.lib.consumers.kept import Kept
from orchestration.lib.consumers.models import NotEnoughData
from orchestration.lib.governance import audit_log
from orchestration.lib.governance.database_grants import rebuilding, restore
from orchestration.lib.governance.governed_read import (
    AccessDenied,
    NotBuilt,
    decision_for,
    read_dataset,
)
from orchestration.lib.operations import alerts
from orchestration.lib.operations.health import staleness
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    column_type,
    enforced_in_database,
    qualified,
    quote_ident,
    replace_table,
    rows_if_present,
    stage_arrow,
    store_path,
    write_connection,
)
from policies.approvals import (
    fairness_refusal,
    model_refusal,
    too_few_to_judge,
    validation_refusal,
)
from policies.drift import BLOCK, MODEL_DRIFTED, WARN, DriftVerdict, DriftWatch, verdict
from policies.review import STALE_INPUTS, ReviewRule
from policies.rules import load_rules


@dataclass
class ConsumerRun:
    model: ConsumerModel
    blocked: str | None = None  # why the policy denied an input, if it did
    metrics: dict[str, dict] = field(default_factory=dict)  # region → training and scoring
    rows: dict[str, int] = field(default_factory=dict)  # region → rows in its scores table
    scored: dict[str, int] = field(default_factory=dict)  # region → rows scored by this run
    skipped: dict[str, str] = field(default_factory=dict)  # region → why it was not scored
    # region → why it kept its previous scores: a newly fitted model below its approval's
    # floors (a failed check), or a kept one facing a population drifted past its block_psi
    # (a warning check and a model_drift alert: the data moved, nothing is broken)
    held_back: dict[str, str] = field(default_factory=dict)
    drift_held: dict[str, str] = field(default_factory=dict)


class HeldBack(Exception):
    """The model may not score this region's rows now: the region keeps its last scores."""


class Drifted(HeldBack):
    """Held back because the population moved past the model's block_psi."""


def _write(model: ConsumerModel, region: str, scored: pa.Table, used: Kept) -> None:
    """Replace the scores, and keep the model that scored them, in one transaction."""
    casts = ", ".join(f"CAST({quote_ident(o.name)} AS {column_type(o.data_type)}) AS "
                      f"{quote_ident(o.name)}"
                      for o in model.outputs)
    with rebuilding(region):
        with write_connection(store_path(region)) as con:
            stage_arrow(con, "scored", scored)
            con.execute("BEGIN")
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(model.relation[0])}")
            # Consumers' masking views over the scores go with the old table; restored below.
            replace_table(con, qualified(*model.relation), f"AS SELECT {casts} FROM scored",
                          drop_views=True)
            kept.save(con, model.name, used)
            con.execute("COMMIT")
        if enforced_in_database():  # the new table came without the grants and views of the old
            restore(region)


NOT_DUE = "not due: kept model scored"
KEPT_SCORES = "kept: the inputs are the rows last scored"


def _alert_drift(model: ConsumerModel, region: str, judged: DriftVerdict,
                 moved: dict[str, float], bands: dict[str, float]) -> None:
    """One incident per level the drift reached (the block one an error), each resolved once
    the drift is back under its level."""
    where = f"drift:{model.key}:{region}:"
    reached = {WARN: judged.level in (WARN, BLOCK), BLOCK: judged.level == BLOCK}
    for level in (level for level, met in reached.items() if met):
        alerts.fire(where + level, "model_drift",
                    f"{judged.reason(model.key)} in {region}"
                    f"{': scores held back' if level == BLOCK else ''}",
                    {"region": region, "psi": moved, "bands": bands},
                    severity="error" if level == BLOCK else None)
    alerts.resolve(where, {where + level for level, met in reached.items() if met})


def _judge_drift(model: ConsumerModel, region: str, watch: DriftWatch, used: Kept,
                 values: dict, scored_rows, now: datetime) -> dict:
    """Measure the population scored against the model's training population, record it,
    alert on it; the run's drift metrics. Raises HeldBack past the model's block_psi, unless a
    person accepted that much drift for this kept model (`steward drift accept`)."""
    moved = drift.indices(used.reference or {}, values)
    bands = drift.band_shares(scored_rows, watch.bands)
    rules = load_rules()
    judged = verdict(watch, moved, len(scored_rows), rules.drift_min_rows)
    drift.record(model.key, region, moved, bands, len(scored_rows), now)
    acceptance = (drift.accepted(model.key, region, used.trained_at)
                  if judged.level == BLOCK else None)
    if acceptance and judged.psi <= acceptance.up_to_psi:
        judged = replace(judged, level=WARN)  # still moved, and still said: not held back
    _alert_drift(model, region, judged, moved, bands)
    if judged.level == BLOCK:
        raise Drifted(f"{judged.reason(model.key)} ≥ block_psi {watch.block_psi} "
                      f"[{MODEL_DRIFTED}]")
    accepted_by = ({"drift_accepted_by": acceptance.accepted_by,
                    "drift_accepted_up_to": acceptance.up_to_psi} if acceptance else {})
    return {"drift": judged.level, "psi_max": judged.psi, **accepted_by,
            **{f"share_{band}": share for band, share in bands.items()}}


def _shown(frames: dict[str, pd.DataFrame], rule: ReviewRule) -> pd.DataFrame:
    """The row key and the inputs a reviewer may see, as the consumer read them (masked)."""
    shown = None
    for frame in frames.values():
        columns = [c for c in rule.show if c in frame.columns]
        if rule.key in frame.columns and columns:
            part = frame[[rule.key, *columns]]
            shown = part if shown is None else shown.merge(part, on=rule.key, how="outer")
    return shown if shown is not None else pd.DataFrame({rule.key: []})


def _stale_past_slo(model: ConsumerModel, region: str, now: datetime) -> str | None:
    """Why the region's inputs are too old to decide on: one kept at its last good version
    (a failure upstream) for longer than its freshness objective allows."""
    slos = load_rules().slos
    for dataset in model.inputs:
        mark, slo = staleness(dataset, [region]).get(region), slos.get(dataset)
        if mark and slo and now - datetime.fromisoformat(mark["since"]) > timedelta(
                hours=slo.freshness_hours):
            return (f"{dataset} is its last good version since {mark['since']} "
                    f"({mark['reason']}), past its {slo.freshness_hours:g}h freshness objective")
    return None


def _judge_fairness(model: ConsumerModel, region: str, scored_rows: pd.DataFrame) -> dict:
    """Audit the scores about to be written where the model's approval requires a fairness
    audit; raises HeldBack on a breach, so unfair scores never go live."""
    rules = load_rules()
    approval = rules.decision_rights.models.get(model.key)
    audits = [a for a in rules.fairness.values() if a.model == model.key]
    if approval is None or not approval.fairness_audited or not audits:
        return {}
    within_chance = []  # measured, yet within what chance makes of groups this size
    for audit in audits:
        proposed = pa.Table.from_pandas(scored_rows[[audit.key, audit.outcome]],
                                        preserve_index=False)
        try:
            result = fairness.measure(audit, rules.age_bands, proposed, [region])
        except AccessDenied as denied:
            raise HeldBack(f"its fairness audit {audit.name} may not read "
                           f"{denied.decision.dataset}: {denied.decision.reason}") from denied
        refusal = fairness_refusal(rules.decision_rights, model.key, audit.name,
                                   result.beyond_doubt)
        if refusal:
            raise HeldBack(f"{refusal.reason} [{refusal.rule}]")
        within_chance += result.problems
    return {"fairness": "within sampling error: " + "; ".join(within_chance)
            if within_chance else "passed"}


def _run_region(model: ConsumerModel, region: str, now: datetime, run: ConsumerRun) -> None:
    """Score one region: train first when due, keep the scores when the inputs are the rows
    the kept model last scored (and are not too old to decide on)."""
    found = kept.load(model.name, region)
    if found is not None and found.refused:
        audit_log.append("consumer.model_rejected", model.key, {
            "consumer": model.consumer, "region": region, "reason": found.refused})
    inputs = kept.inputs_in_store(region, model.inputs)
    reason = kept.retrain_reason(found, model.version, inputs.rows, now)
    rules = load_rules()
    if reason is None and found.reference is None and model.key in rules.drift:
        reason = "no drift reference kept with it"
    rule = rules.review.get(model.key)
    stale = _stale_past_slo(model, region, now) if rule else None
    unchanged = reason is None and not stale and found.scored_inputs == inputs.digest
    stored = rows_if_present(store_path(region), model.relation[1],
                             f"SELECT count(*) FROM {qualified(*model.relation)}",
                             schema=model.relation[0]) if unchanged else []
    if stored:
        kept.remember_trusted(model.name, region, found)
        run.rows[region] = stored[0][0]
        run.metrics[region] = {**found.training, "trained_at": found.trained_at.isoformat(sep=" "),
                               "trained_because": NOT_DUE, "scores": KEPT_SCORES}
        return
    frames = {dataset: read_dataset(dataset, model.consumer, list(columns), [region])
              .to_pandas() for dataset, columns in model.inputs.items()}
    scored = models.TRAINERS[model.name](frames, None if reason else found.model)
    watch = rules.drift.get(model.key)
    values = drift.population(frames, scored.rows, (*watch.watch, watch.score)) if watch else {}
    used, validation = found, {}
    try:
        if reason:
            short = validation_refusal(rules.decision_rights, model.key, scored.training)
            if short:
                raise HeldBack(f"{short.reason} [{short.rule}]")
            unjudged = too_few_to_judge(rules.decision_rights, model.key, scored.training)
            validation = {"validation": unjudged} if unjudged else {}
            used = Kept(model.version, now, inputs.rows, kept.invalidations_so_far(),
                        scored.training, scored.model,
                        reference=drift.reference(values, rules.drift_bins) if watch else None)
        watched = _judge_drift(model, region, watch, used, values, scored.rows,
                               now) if watch else {}
        audited = _judge_fairness(model, region, scored.rows)
    except HeldBack as held:  # the region keeps its last scores; the new rows wait for a person
        if rule:
            review.enqueue(model, region, rule, review.every_row(rule, scored.rows, str(held)),
                           _shown(frames, rule), now)
        raise
    decided, deferred = scored.rows, {}
    if rule:
        items = review.deferred(rule, scored.rows, drift.population(
            frames, scored.rows, rule.outside_training), used.reference or {})
        if stale:  # every row, for this reason too
            items += review.every_row(rule, scored.rows, stale, STALE_INPUTS)
        decided = review.with_fallback(rule, scored.rows, items)
        deferred = {"deferred_to_review": len({item.key for item in items}),
                    "queued_for_review": review.enqueue(model, region, rule, items,
                                                        _shown(frames, rule), now)}
    rows = decided.assign(model_version=model.version, scored_at=now)
    # Scores decided on stale inputs are scored again once the inputs are fresh.
    _write(model, region, pa.Table.from_pandas(rows, preserve_index=False),
           replace(used, scored_inputs=None if stale else inputs.digest))
    if rule:  # what the model decides again no longer waits for a person
        deferred["superseded_reviews"] = review.supersede(model, region, items, now)
    run.metrics[region] = {**used.training, **scored.metrics, **validation, **watched, **audited,
                           **deferred, **({"inputs_stale": stale} if stale else {}),
                           "trained_at": used.trained_at.isoformat(sep=" "),
                           "trained_because": reason or NOT_DUE}
    run.rows[region] = run.scored[region] = len(rows)


def _refusals(model: ConsumerModel) -> list[tuple[str, str, str]]:
    """(what, rule, reason) for the model's version if unapproved, and each input denied."""
    unapproved = model_refusal(load_rules().decision_rights, model.key, model.version)
    if unapproved:
        return [(model.key, unapproved.rule, unapproved.reason)]
    decisions = [decision_for(model.consumer, dataset, columns, model.regions)
                 for dataset, columns in model.inputs.items()]
    return [(d.dataset, d.rule, d.reason) for d in decisions if not d.allowed]


def run_consumer(model: ConsumerModel) -> ConsumerRun:
    run = ConsumerRun(model)
    refused = _refusals(model)
    if refused:
        run.blocked = "; ".join(f"{what}: {reason} [{rule}]" for what, rule, reason in refused)
        audit_log.append("consumer.blocked", model.key, {
            "consumer": model.consumer, "denied": [
                {"dataset": what, "rule": rule, "reason": reason}
                for what, rule, reason in refused]})
        return run
    now = current_time().replace(microsecond=0)
    for region in model.regions:
        try:
            _run_region(model, region, now, run)
        except (NotBuilt, NotEnoughData) as reason:
            run.skipped[region] = str(reason)
        except Drifted as reason:
            run.drift_held[region] = str(reason)
        except HeldBack as reason:
            run.held_back[region] = str(reason)
    audit_log.append("consumer.run", model.key, {
        "consumer": model.consumer, "rows": run.rows, "metrics": run.metrics,
        "skipped": run.skipped, "held_back": {**run.held_back, **run.drift_held}})
    return run
