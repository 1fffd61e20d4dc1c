"""Fitted consumer models kept between runs in each region's store, and when one is retrained.

A model fitted on a region's rows stays in that region's store (`_steward.consumer_models`) as
data, not code: a skops file, loaded with scikit-learn's and NumPy's trusted types only (unlike a
pickle, loading one cannot run anything), and signed with the `models` key so an artifact
altered outside Steward is not even parsed. One that fails either is refused, audited
(`consumer.model_rejected`) and retrained. A run
scores with the kept model unless retraining is due: none kept, a new version of the model's
code, older than RETRAIN_AFTER, inputs grown by RETRAIN_GROWTH since, or an erasure, a
retention purge or a change of the rule files since (a model must not keep what the data no
longer holds, nor what the consumer may no longer see). A run whose inputs are the rows the kept
model last scored, and which is not due to retrain, keeps the scores it has.

Reading a kept file with trusted types costs seconds (importing skops imports all of
scikit-learn; the ticket-routing model is 50 MB), so it is done once per file: a file read
whole with trusted types only is marked so (`trusted`, signed with the `models` key over its
signature and the versions of the libraries that judged it), and a run whose scores stand
never reads it. Any other file (a new one, one signed again, a library upgraded since) is read
before the run decides, and so refused at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib.metadata
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.governed_read import NotBuilt
from orchestration.lib.governance.registry import relations
from orchestration.lib.security.keys import purpose_key
from orchestration.lib.warehouse import (
    Connection,
    add_missing_column,
    columns_or_null,
    content_digest,
    reader,
    rows_if_present,
    store_path,
    table_columns,
    table_exists,
    table_if_present,
    write_connection,
)
from policies.regions import region_names

SCHEMA, TABLE = "_steward", "consumer_models"
REFERENCE = "drift_reference"  # kept in the training JSON, apart from the metrics
RETRAIN_AFTER = timedelta(days=7)
RETRAIN_GROWTH = 0.10
INVALIDATING = ("erasure.completed", "retention.purged", "policy.changed")


@dataclass(frozen=True)
class Kept:
    version: str
    trained_at: datetime
    rows_seen: int  # input rows when it was trained
    invalidations: int  # erasures, purges and rule changes logged when it was trained
    training: dict  # its training metrics
    fitted: Any = None  # the model as fitted or read; see `model`
    scored_inputs: str | None = None  # the digest of the inputs it last scored
    refused: str | None = None  # why the stored artifact was not loaded
    reference: dict | None = None  # its training population's bins, to measure drift against
    artifact: bytes | None = None  # the stored file it was loaded from; None once fitted anew
    trusted: bool = False  # its stored file was read whole with trusted types only

    @functools.cached_property
    def model(self) -> Any:
        """The fitted model; one kept in a file already found trusted is read when first used.
        None when refused."""
        if self.fitted is not None or self.refused or self.artifact is None:
            return self.fitted
        model, refused = _read(self.artifact)
        if refused:  # the file changed under the same signature and mark: never score blind
            raise ValueError(f"the kept model's file, marked trusted, cannot be read: {refused}")
        return model


@dataclass(frozen=True)
class Inputs:
    rows: int
    digest: str  # equal digests: the same rows in the columns the model reads


def _signature(artifact: bytes, key: bytes | None = None) -> str:
    return hmac.new(key or purpose_key("models"), b"consumer-model:" + artifact,
                    hashlib.sha256).hexdigest()


def resign(old: bytes, new: bytes) -> int:
    """Sign again under `new` every kept model whose signature holds under `old` (a key
    rotation); one that does not hold is left to be refused and retrained. Returns how many."""
    signed = 0
    for region in region_names():
        with table_if_present(store_path(region), SCHEMA, TABLE, write=True) as con:
            if con is None:
                continue
            for name, artifact, signature in con.execute(
                    f"SELECT name, artifact, signature FROM {SCHEMA}.{TABLE}").fetchall():
                if hmac.compare_digest(_signature(artifact, old), signature):
                    con.execute(f"UPDATE {SCHEMA}.{TABLE} SET signature = ? WHERE name = ?",
                                [_signature(artifact, new), name])
                    signed += 1
    return signed


def _trust_mark(signature: str) -> str:
    """What marks a signed file as read whole with trusted types by these library versions."""
    versions = [importlib.metadata.version(p) for p in ("skops", "scikit-learn", "numpy", "scipy")]
    return hmac.new(purpose_key("models"), f"trusted:{signature}:{versions}".encode(),
                    hashlib.sha256).hexdigest()


class Opened(NamedTuple):
    """A kept artifact as its signature and trust mark let it be opened."""
    model: Any  # None when refused, or while a file already found trusted waits to be used
    refused: str | None  # why it may not be used
    trusted: bool  # known to name trusted types only


def _model_of(artifact: bytes, signature: str, mark: str | None = None) -> Opened:
    if not hmac.compare_digest(_signature(artifact), signature):
        return Opened(None, "its signature does not hold", trusted=False)
    if mark and hmac.compare_digest(_trust_mark(signature), mark):
        return Opened(None, None, trusted=True)
    model, refused = _read(artifact)
    return Opened(model, refused, trusted=refused is None)


def _read(artifact: bytes) -> tuple[Any, str | None]:
    """The model a signed artifact holds, read with trusted types only, or None and why not."""
    import skops.io  # imports all of scikit-learn: only a step that scores pays for it

    try:
        return skops.io.loads(artifact), None  # trusted types only: nothing it names runs
    except skops.io.exceptions.UntrustedTypesFoundException as untrusted:
        return None, f"it names types that are not trusted: {untrusted}"
    except Exception as unreadable:  # a signed artifact that is no skops file at all
        return None, f"it is not a model file ({type(unreadable).__name__})"


def invalidations_so_far() -> int:
    """Erasures, purges and rule changes in the audit log: a new one makes kept models stale."""
    [(count,)] = rows_if_present(
        audit_log.audit_store(), audit_log.TABLE,
        f"SELECT count(*) FROM {audit_log.TABLE} WHERE kind IN "
        f"({', '.join('?' * len(INVALIDATING))})",
        INVALIDATING) or [(0,)]
    return count


def inputs_in_store(region: str, inputs: dict[str, tuple[str, ...]]) -> Inputs:
    """Rows and digest of the columns a model reads in `region`, from the store itself (one
    scan each; nothing is handed to the consumer)."""
    parts, rows = [], 0
    with reader(store_path(region)) as con:
        for dataset, columns in sorted(inputs.items()):
            relation = relations()[dataset]
            if not table_exists(con, *relation):
                raise NotBuilt(f"{dataset} is not built in {region} yet")
            stored = table_columns(con, *relation)
            if missing := [c for c in columns if c not in stored]:
                raise NotBuilt(f"{dataset} in {region} has no {', '.join(missing)} yet: its "
                               "last good build predates the column(s)")
            count, total = content_digest(con, *relation, columns)
            parts.append(f"{dataset}:{count}:{total}")
            rows += count
    return Inputs(rows, hashlib.sha256("|".join(parts).encode()).hexdigest())


def load(name: str, region: str) -> Kept | None:
    """The model kept for `name` in `region`, None when there is none; its `model` is None, and
    `refused` says why, when the artifact is not signed or not a model of trusted types."""
    with table_if_present(store_path(region), SCHEMA, TABLE) as con:
        if con is None:
            return None
        # A store written before files were marked has no mark to read.
        columns = columns_or_null(con, SCHEMA, TABLE, (
            "version", "trained_at", "rows_seen", "invalidations", "training", "artifact",
            "signature", "scored_inputs", "trusted"))
        found = con.execute(f"SELECT {columns} FROM {SCHEMA}.{TABLE} WHERE name = ?",
                            [name]).fetchall()
    if not found:
        return None
    (version, trained_at, rows_seen, invalidations, training, artifact, signature,
     scored_inputs, mark) = found[0]
    model, refused, trusted = _model_of(artifact, signature, mark)
    metrics = json.loads(training)
    reference = metrics.pop(REFERENCE, None)
    return Kept(version, trained_at, rows_seen, invalidations, metrics, model, scored_inputs,
                refused, reference, None if refused else artifact, trusted)


def retrain_reason(kept: Kept | None, version: str, rows: int, now: datetime) -> str | None:
    """Why the model must be trained again, or None to score with the kept one."""
    if kept is None:
        return "no trained model kept"
    if kept.refused:
        return f"the kept model was refused: {kept.refused}"
    if kept.version != version:
        return f"model code changed ({kept.version} → {version})"
    if now - kept.trained_at > RETRAIN_AFTER:
        return f"trained over {RETRAIN_AFTER.days} days ago"
    if rows > kept.rows_seen * (1 + RETRAIN_GROWTH):
        return f"inputs grew by over {RETRAIN_GROWTH:.0%} ({kept.rows_seen:,} → {rows:,} rows)"
    if invalidations_so_far() != kept.invalidations:
        return "an erasure, a retention purge or a rule change since training"
    return None


def _with_trust_marks(con: Connection) -> None:
    """The models table of a store written before files were marked gains the column."""
    add_missing_column(con, SCHEMA, TABLE, "trusted", "VARCHAR")


def remember_trusted(name: str, region: str, kept: Kept) -> None:
    """Mark the stored file of a model this run read whole with trusted types, when it was not
    marked yet (a store from before marks, a key rotated since), so later runs need not read it
    to decide."""
    if kept.artifact is None or not kept.trusted or kept.fitted is None:
        return  # refused, fitted anew, or known trusted from its mark without reading it
    signature = _signature(kept.artifact)
    with write_connection(store_path(region)) as con:
        _with_trust_marks(con)
        con.execute(f"UPDATE {SCHEMA}.{TABLE} SET trusted = ? WHERE name = ? AND signature = ?",
                    [_trust_mark(signature), name, signature])


def save(con: Connection, name: str, kept: Kept) -> None:
    """Keep `kept` in the store `con` writes, inside the caller's transaction. A model loaded
    from there and not fitted again keeps its stored file: only its record changes (a text
    model's file can be tens of MB, serialized and written again for nothing). A new file is
    read back with trusted types before it is marked trusted."""
    import skops.io

    artifact = kept.artifact
    if artifact is None:
        artifact = skops.io.dumps(kept.model)
        if refused := _read(artifact)[1]:
            raise ValueError(f"{name}: the model just fitted cannot be read back: {refused}")
    signature = _signature(artifact)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{TABLE} (name VARCHAR PRIMARY KEY, "
                "version VARCHAR, trained_at TIMESTAMP, rows_seen BIGINT, invalidations BIGINT, "
                "training VARCHAR, artifact BYTEA, signature VARCHAR, scored_inputs VARCHAR, "
                "trusted VARCHAR)")
    _with_trust_marks(con)
    record = {"version": kept.version, "trained_at": kept.trained_at,
              "rows_seen": kept.rows_seen, "invalidations": kept.invalidations,
              "training": json.dumps({**kept.training, REFERENCE: kept.reference}),
              "scored_inputs": kept.scored_inputs,
              "trusted": _trust_mark(signature) if kept.artifact is None or kept.trusted
              else None}
    if kept.artifact is not None and con.execute(
            f"UPDATE {SCHEMA}.{TABLE} SET {', '.join(f'{column} = ?' for column in record)} "
            "WHERE name = ? AND signature = ? RETURNING name",
            [*record.values(), name, signature]).fetchall():
        return
    replaced = ", ".join(f"{column} = excluded.{column}"
                         for column in (*record, "artifact", "signature"))
    con.execute(f"INSERT INTO {SCHEMA}.{TABLE} (name, {', '.join(record)}, artifact, signature) "
                f"VALUES ({', '.join('?' * (len(record) + 3))}) "
                f"ON CONFLICT (name) DO UPDATE SET {replaced}",
                [name, *record.values(), artifact, signature])
