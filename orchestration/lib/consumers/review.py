"""Each consumer model's review queue: the rows it should not decide on (`policies/review.py`),
each with its reason, its key and the inputs a reviewer may see, kept in the region's store
(they are the region's data); a reviewer resolves each with a decision, audited.

A row deferred to a person gets the declared conservative decision in the scores until then.
A row already waiting for the same reason is not queued twice, and one a later scoring no longer
defers for that reason is superseded: the scores carry the model's decision again, so nothing
waits on a person (the queue holds exactly the rows decided conservatively).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

import pandas as pd
import pyarrow as pa

from orchestration.lib.consumer_models import ConsumerModel
from orchestration.lib.consumers import drift
from orchestration.lib.governance import audit_log
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    insert_rows,
    qualified,
    rows_if_present,
    stage_arrow,
    store_path,
    write_connection,
)
from policies.review import MODEL_HELD, OUTSIDE_TRAINING, UNCERTAIN, ReviewRule

SCHEMA = "review"
OPEN, RESOLVED, SUPERSEDED = "open", "resolved", "superseded"
STATUSES = (OPEN, RESOLVED, SUPERSEDED)  # every status an item can have
# What a queued item is written with; a reviewer's decision fills in the rest.
_QUEUED = ("item_id BIGINT, row_key VARCHAR, reason VARCHAR, detail VARCHAR, inputs VARCHAR, "
           "queued_at TIMESTAMP, status VARCHAR")
_COLUMNS = (f"{_QUEUED}, resolved_by VARCHAR, resolved_at TIMESTAMP, decision VARCHAR, "
            "note VARCHAR")


@dataclass(frozen=True)
class Deferred:
    key: str
    reason: str  # UNCERTAIN, OUTSIDE_TRAINING, MODEL_HELD or STALE_INPUTS
    detail: str


@dataclass(frozen=True)
class Item:
    model: str
    region: str
    item_id: int
    row_key: str
    reason: str
    detail: str
    inputs: dict
    queued_at: datetime
    status: str
    resolved_by: str | None
    resolved_at: datetime | None
    decision: str | None
    note: str | None

    @property
    def name(self) -> str:
        return f"{self.region}-{self.item_id}"

    @property
    def shown(self) -> str:
        """The inputs as a reviewer reads them: a rate to four places, not sixteen."""
        return ", ".join(f"{name}={round(value, 4) if isinstance(value, float) else value}"
                         for name, value in self.inputs.items())


class ReviewRefused(ValueError):
    """No such item, or it is resolved already."""


def _outside(series: pd.Series, span: list[float]) -> pd.Series:
    numbers = drift.as_numbers(series)
    return (numbers < span[0]) | (numbers > span[1])


def deferred(rule: ReviewRule, scored: pd.DataFrame, values: dict[str, pd.Series],
             reference: dict) -> list[Deferred]:
    """The scored rows the model should not decide on, one reason each (the first found).
    Only the flagged rows are visited: a scoring may read millions of rows and defer a few."""
    keys = scored[rule.key].astype(str).to_numpy()
    found: dict[str, Deferred] = {}
    if rule.uncertain:
        score, low, high = rule.uncertain
        unsure = scored[score].astype(float).between(low, high).to_numpy()
        for key, value in zip(keys[unsure], scored[score].to_numpy()[unsure], strict=True):
            found.setdefault(key, Deferred(key, UNCERTAIN, f"{score} {float(value):.3f} "
                                                           f"within [{low}, {high}]"))
    for column in rule.outside_training:
        span = (reference.get(column) or {}).get("range")
        if span is None or column not in values:
            continue  # a model kept before ranges were: judged once it is retrained
        outside = _outside(values[column], span).to_numpy()
        for key, value in zip(keys[outside], values[column].to_numpy()[outside], strict=True):
            found.setdefault(key, Deferred(key, OUTSIDE_TRAINING,
                                           f"{column} {value} outside the training range "
                                           f"[{span[0]:g}, {span[1]:g}]"))
    return list(found.values())


def every_row(rule: ReviewRule, scored: pd.DataFrame, why: str, reason: str = MODEL_HELD
              ) -> list[Deferred]:
    """Every scored row: the model is held back as a whole, or its inputs are too old."""
    return [Deferred(key, reason, why) for key in scored[rule.key].astype(str)]


def with_fallback(rule: ReviewRule, scored: pd.DataFrame, items: list[Deferred]
                  ) -> pd.DataFrame:
    """The scores with each deferred row's decision replaced by the conservative one."""
    held = scored[rule.key].astype(str).isin({item.key for item in items})
    decided = scored.copy()
    for column, value in rule.fallback.items():
        decided[column] = decided[column].astype(object)
        decided.loc[held, column] = value
    return decided


def _relation(model: ConsumerModel) -> str:
    return qualified(SCHEMA, model.name)


def _inputs_of(shown: pd.DataFrame, key: str, keys: set[str]) -> dict[str, dict]:
    """The inputs shown for the rows `keys`, as JSON-ready records by key: only those rows are
    converted, as a scoring may read millions and defer a few."""
    picked = shown[shown[key].astype(str).isin(keys)]
    records = json.loads(picked.to_json(orient="records", date_format="iso"))
    return dict(zip(picked[key].astype(str), records, strict=True))


def enqueue(model: ConsumerModel, region: str, rule: ReviewRule, items: list[Deferred],
            shown: pd.DataFrame, now: datetime) -> int:
    """Queue the deferred rows not already waiting for the same reason; how many were."""
    if not items:
        return 0
    with write_connection(store_path(region)) as con:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        con.execute(f"CREATE TABLE IF NOT EXISTS {_relation(model)} ({_COLUMNS})")
        waiting = set(con.execute(f"SELECT row_key, reason FROM {_relation(model)} "
                                  "WHERE status = ?", [OPEN]).fetchall())
        [(last,)] = con.execute(f"SELECT coalesce(max(item_id), 0) FROM {_relation(model)}"
                                ).fetchall()
        new = [item for item in items if (item.key, item.reason) not in waiting]
        if not new:
            return 0
        inputs = _inputs_of(shown, rule.key, {item.key for item in new})
        insert_rows(con, _relation(model), _QUEUED, [
            (last + number, item.key, item.reason, item.detail,
             json.dumps({k: v for k, v in inputs.get(item.key, {}).items() if k != rule.key},
                        default=str), now, OPEN)
            for number, item in enumerate(new, start=1)])
    return len(new)


def supersede(model: ConsumerModel, region: str, still_deferred: list[Deferred],
              now: datetime) -> int:
    """Close each open item a scoring just written no longer defers for its reason; audited
    as `review.superseded`. How many were."""
    waiting = {(item.key, item.reason) for item in still_deferred}
    # Only what the comparison needs: a queue at scale holds tens of thousands of open items,
    # and reading each one's inputs (JSON) took most of a second.
    waiting_now = rows_if_present(store_path(region), model.name,
                                  f"SELECT item_id, row_key, reason FROM {_relation(model)} "
                                  "WHERE status = ?", [OPEN], schema=SCHEMA)
    moot = [(item_id, reason) for item_id, key, reason in waiting_now
            if (key, reason) not in waiting]
    if not moot:
        return 0
    reasons = sorted({reason for _, reason in moot})
    with write_connection(store_path(region)) as con:
        stage_arrow(con, "review_moot", pa.table({
            "item_id": pa.array([item_id for item_id, _ in moot], pa.int64())}))
        for reason in reasons:  # a statement per reason
            con.execute(f"UPDATE {_relation(model)} SET status = ?, resolved_at = ?, note = ? "
                        "WHERE reason = ? AND item_id IN (SELECT item_id FROM review_moot)",
                        [SUPERSEDED, now, f"scored at {now:%Y-%m-%d %H:%M}: no longer {reason}, "
                                          "the model decides", reason])
    audit_log.append("review.superseded", model.key, {
        "consumer": model.consumer, "region": region,
        "items": {reason: sum(found == reason for _, found in moot) for reason in reasons}})
    return len(moot)


def _item(model: ConsumerModel, region: str, row: tuple) -> Item:
    item_id, key, reason, detail, inputs, queued, status, by, at, decision, note = row
    return Item(model.key, region, int(item_id), key, reason, detail, json.loads(inputs),
                queued, status, by, at, decision, note)


def items(model: ConsumerModel, region: str, status: str | None = None) -> list[Item]:
    where, params = ("WHERE status = ?", [status]) if status else ("", [])
    return [_item(model, region, row) for row in rows_if_present(
        store_path(region), model.name, f"SELECT * FROM {_relation(model)} {where} "
        "ORDER BY item_id", params, schema=SCHEMA)]


def queued_since(model: ConsumerModel, region: str, since: datetime
                 ) -> list[tuple[str, str, datetime, datetime | None]]:
    """(reason, status, queued_at, resolved_at) of each item queued since `since`: how the
    queue moves, without the rows' inputs, which telemetry must not hold (nor parse)."""
    return rows_if_present(store_path(region), model.name,
                           f"SELECT reason, status, queued_at, resolved_at FROM "
                           f"{_relation(model)} WHERE queued_at >= ? ORDER BY item_id", [since],
                           schema=SCHEMA)


def resolve(model: ConsumerModel, region: str, item_id: int, by: str, decision: str,
            note: str) -> Item:
    """A reviewer's decision on one item; audited as `review.resolved`."""
    found = [i for i in items(model, region) if i.item_id == item_id]
    if not found:
        raise ReviewRefused(f"{model.key} has no review item {region}-{item_id}")
    item = found[0]
    if item.status == RESOLVED:
        raise ReviewRefused(f"{item.name} is already resolved, by {item.resolved_by} at "
                            f"{item.resolved_at:%Y-%m-%d %H:%M}: {item.decision}")
    if item.status == SUPERSEDED:
        raise ReviewRefused(f"{item.name} no longer waits: {item.note}")
    now = current_time()
    with write_connection(store_path(region)) as con:
        con.execute(f"UPDATE {_relation(model)} SET status = ?, resolved_by = ?, "
                    "resolved_at = ?, decision = ?, note = ? WHERE item_id = ?",
                    [RESOLVED, by, now, decision, note, item_id])
    audit_log.append("review.resolved", model.key, {
        "consumer": model.consumer, "region": region, "item": item.name,
        "row_key": item.row_key, "reason": item.reason, "decision": decision, "note": note,
        "by": by, "hours_waited": round((now - item.queued_at).total_seconds() / 3600, 2)})
    return replace(item, status=RESOLVED, resolved_by=by, resolved_at=now, decision=decision,
                   note=note)

