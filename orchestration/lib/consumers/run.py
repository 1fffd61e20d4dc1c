"""One run of a consumer model: decide every input, then read, train and score per region.

Nothing is read until every input is allowed, so a consumer denied one dataset reads none. Each
region is trained and scored on its own rows and its scores stay in its own store (residency);
the table is replaced in one transaction, so a failed run leaves the previous scores readable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from orchestration.lib import audit_log
from orchestration.lib.consumers.models import NotEnoughData
from orchestration.lib.consumers.specs import ConsumerModel
from orchestration.lib.governed_read import NotBuilt, decision_for, read_dataset
from orchestration.lib.store import qualified, quote_ident, store_path, write_connection


@dataclass
class ConsumerRun:
    model: ConsumerModel
    blocked: str | None = None  # why the policy denied an input, if it did
    metrics: dict[str, dict] = field(default_factory=dict)  # region → training metrics
    rows: dict[str, int] = field(default_factory=dict)  # region → rows scored
    skipped: dict[str, str] = field(default_factory=dict)  # region → why it was not scored


def _write(model: ConsumerModel, region: str, scored: pa.Table) -> None:
    casts = ", ".join(f"CAST({quote_ident(o.name)} AS {o.data_type}) AS {quote_ident(o.name)}"
                      for o in model.outputs)
    with write_connection(store_path(region)) as con:
        con.register("scored", scored)
        con.execute("BEGIN")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(model.relation[0])}")
        con.execute(f"CREATE OR REPLACE TABLE {qualified(*model.relation)} AS "
                    f"SELECT {casts} FROM scored")
        con.execute("COMMIT")


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
    for region in model.regions:
        try:
            inputs = {dataset: read_dataset(dataset, model.consumer, list(columns), [region])
                      .to_pandas() for dataset, columns in model.inputs.items()}
            scored = model.train(inputs)
        except (NotBuilt, NotEnoughData) as reason:
            run.skipped[region] = str(reason)
            continue
        _write(model, region, pa.Table.from_pandas(scored.rows, preserve_index=False))
        run.metrics[region] = scored.metrics
        run.rows[region] = len(scored.rows)
    audit_log.append("consumer.run", model.key, {
        "consumer": model.consumer, "rows": run.rows, "metrics": run.metrics,
        "skipped": run.skipped})
    return run
