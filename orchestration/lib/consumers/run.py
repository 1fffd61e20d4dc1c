"""One run of a consumer model: decide every input, then read, train and score per region.

Nothing is read until every input is allowed, so a consumer denied one dataset reads none. Each
region is trained and scored on its own rows and its scores and fitted model stay in its own
store (residency); a kept model scores until retraining is due (see kept.py). The table is
replaced in one transaction, so a failed run leaves the previous scores readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import pyarrow as pa

from orchestration.lib import audit_log
from orchestration.lib.consumers import kept
from orchestration.lib.consumers.kept import Kept
from orchestration.lib.consumers.models import NotEnoughData, Scored
from orchestration.lib.consumers.specs import ConsumerModel
from orchestration.lib.governed_read import NotBuilt, decision_for, read_dataset
from orchestration.lib.settings import current_time
from orchestration.lib.store import qualified, quote_ident, store_path, write_connection


@dataclass
class ConsumerRun:
    model: ConsumerModel
    blocked: str | None = None  # why the policy denied an input, if it did
    metrics: dict[str, dict] = field(default_factory=dict)  # region → training metrics
    rows: dict[str, int] = field(default_factory=dict)  # region → rows scored
    skipped: dict[str, str] = field(default_factory=dict)  # region → why it was not scored


def _write(model: ConsumerModel, region: str, scored: pa.Table, trained: Kept | None) -> None:
    """Replace the scores, and keep a newly trained model, in one transaction."""
    casts = ", ".join(f"CAST({quote_ident(o.name)} AS {o.data_type}) AS {quote_ident(o.name)}"
                      for o in model.outputs)
    with write_connection(store_path(region)) as con:
        con.register("scored", scored)
        con.execute("BEGIN")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(model.relation[0])}")
        con.execute(f"CREATE OR REPLACE TABLE {qualified(*model.relation)} AS "
                    f"SELECT {casts} FROM scored")
        if trained is not None:
            kept.save(con, model.name, trained)
        con.execute("COMMIT")


def _score(model: ConsumerModel, region: str, inputs: dict[str, pd.DataFrame], now: datetime
           ) -> tuple[Scored, Kept, str | None]:
    """Score with the kept model, or train first when retraining is due (and say why)."""
    rows = sum(len(frame) for frame in inputs.values())
    found = kept.load(model.name, region)
    reason = kept.retrain_reason(found, model.version, rows, now)
    if reason is None:
        return model.train(inputs, found.model), found, None
    scored = model.train(inputs, None)
    return scored, Kept(model.version, now, rows, kept.forgotten_so_far(), scored.training,
                        scored.model), reason


def run_consumer(model: ConsumerModel) -> ConsumerRun:
    run = ConsumerRun(model)
    decisions = [decision_for(model.consumer, dataset, columns, model.regions)
                 for dataset, columns in model.inputs.items()]
    denied = [d for d in decisions if not d.allowed]
    if denied:
        run.blocked = "; ".join(f"{d.dataset}: {d.reason} [{d.rule}]" for d in denied)
        audit_log.append("consumer.blocked", model.key, {
            "consumer": model.consumer, "denied": [
                {"dataset": d.dataset, "rule": d.rule, "reason": d.reason} for d in denied]})
        return run
    now = current_time().replace(microsecond=0)
    for region in model.regions:
        try:
            inputs = {dataset: read_dataset(dataset, model.consumer, list(columns), [region])
                      .to_pandas() for dataset, columns in model.inputs.items()}
            scored, used, retrained = _score(model, region, inputs, now)
        except (NotBuilt, NotEnoughData) as reason:
            run.skipped[region] = str(reason)
            continue
        rows = scored.rows.assign(model_version=model.version, scored_at=now)
        _write(model, region, pa.Table.from_pandas(rows, preserve_index=False),
               used if retrained else None)
        run.metrics[region] = {**used.training, **scored.metrics,
                               "trained_at": used.trained_at.isoformat(sep=" "),
                               "trained_because": retrained or "not due: kept model scored"}
        run.rows[region] = len(rows)
    audit_log.append("consumer.run", model.key, {
        "consumer": model.consumer, "rows": run.rows, "metrics": run.metrics,
        "skipped": run.skipped})
    return run
