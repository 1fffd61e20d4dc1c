"""Fitted consumer models kept between runs in each region's store, and when one is retrained.

A model fitted on a region's rows stays in that region's store (`_steward.consumer_models`),
signed with Steward's key so an artifact altered outside Steward is never unpickled. A run
scores with the kept model unless retraining is due: none kept, a new version of the model's
code, older than RETRAIN_AFTER, inputs grown by RETRAIN_GROWTH since, or rows forgotten since
(an erasure or a retention purge: a model must not keep learning from what the data no longer
holds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import duckdb

from orchestration.lib import audit_log
from orchestration.lib.pseudonyms import master_key
from orchestration.lib.store import rows_if_present, store_path

SCHEMA, TABLE = "_steward", "consumer_models"
RETRAIN_AFTER = timedelta(days=7)
RETRAIN_GROWTH = 0.10
FORGETTING = ("erasure.completed", "retention.purged")


@dataclass(frozen=True)
class Kept:
    version: str
    trained_at: datetime
    rows_seen: int  # input rows when it was trained
    forgotten: int  # erasures and purges logged when it was trained
    training: dict  # its training metrics
    model: Any = None


def _signature(artifact: bytes) -> str:
    return hmac.new(master_key(), b"consumer-model:" + artifact, hashlib.sha256).hexdigest()


def forgotten_so_far() -> int:
    """Erasures and retention purges in the audit log: a new one makes kept models stale."""
    [(count,)] = rows_if_present(
        audit_log.audit_store(), audit_log.TABLE,
        f"SELECT count(*) FROM {audit_log.TABLE} WHERE kind IN "
        f"({', '.join('?' * len(FORGETTING))})",
        FORGETTING) or [(0,)]
    return count


def load(name: str, region: str) -> Kept | None:
    """The model kept for `name` in `region`, None when there is none; its `model` is None when
    the artifact's signature does not hold."""
    found = rows_if_present(
        store_path(region), TABLE,
        f"SELECT version, trained_at, rows_seen, forgotten, training, artifact, signature "
        f"FROM {SCHEMA}.{TABLE} WHERE name = ?", [name], schema=SCHEMA)
    if not found:
        return None
    version, trained_at, rows_seen, forgotten, training, artifact, signature = found[0]
    signed = hmac.compare_digest(_signature(artifact), signature)
    return Kept(version, trained_at, rows_seen, forgotten, json.loads(training),
                pickle.loads(artifact) if signed else None)  # never unpickled unsigned


def retrain_reason(kept: Kept | None, version: str, rows: int, now: datetime) -> str | None:
    """Why the model must be trained again, or None to score with the kept one."""
    if kept is None:
        return "no trained model kept"
    if kept.model is None:
        return "the kept model's signature does not hold: it was not loaded"
    if kept.version != version:
        return f"model code changed ({kept.version} → {version})"
    if now - kept.trained_at > RETRAIN_AFTER:
        return f"trained over {RETRAIN_AFTER.days} days ago"
    if rows > kept.rows_seen * (1 + RETRAIN_GROWTH):
        return f"inputs grew by over {RETRAIN_GROWTH:.0%} ({kept.rows_seen:,} → {rows:,} rows)"
    if forgotten_so_far() != kept.forgotten:
        return "rows erased or purged since training"
    return None


def save(con: duckdb.DuckDBPyConnection, name: str, kept: Kept) -> None:
    """Keep `kept` in the store `con` writes, inside the caller's transaction."""
    artifact = pickle.dumps(kept.model)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (name VARCHAR PRIMARY KEY, "
                "version VARCHAR, trained_at TIMESTAMP, rows_seen BIGINT, forgotten BIGINT, "
                "training VARCHAR, artifact BLOB, signature VARCHAR)")
    con.execute(f"INSERT OR REPLACE INTO {SCHEMA}.{TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [name, kept.version, kept.trained_at, kept.rows_seen, kept.forgotten,
                 json.dumps(kept.training), artifact, _signature(artifact)])
