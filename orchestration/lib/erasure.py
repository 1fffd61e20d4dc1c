"""Erasure of one data subject (right to be forgotten), following lineage and keys.

Where the subject is: every stored asset's column that carries its id (a source column
declared `subject: customer`, or a column derived from one under the same name), every column
that carries the key of one of its rows in a source (its tickets, invoices, payments, events:
the source's primary key, followed the same way), the quarantine (records naming it), and free
text anywhere (its name, email and phone inside a ticket another customer wrote). Its rows
are deleted, its personal values inside free text replaced by `[ERASED]`, the subject is
added to the erasure register so no later load brings it back, nothing remaining is
verified, and a receipt is written.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestration.lib import audit_log
from orchestration.lib.ingest.ledger import QUARANTINE_TABLE
from orchestration.lib.policy_adapter import project_catalog, project_evaluation, relations
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.sources import SourceTable, load_source_tables
from orchestration.lib.store import (
    qualified,
    quote_ident,
    reader,
    store_path,
    table_exists,
    write_connection,
)
from orchestration.lib.suppression import record_erasure
from policies.regions import region_names

ERASED = "[ERASED]"
IDENTIFYING = "personal"


@dataclass
class Receipt:
    receipt_id: str
    subject: str
    subject_id: str
    started_at: str
    finished_at: str = ""
    rows_deleted: dict[str, dict[str, int]] = field(default_factory=dict)  # asset → region → n
    texts_redacted: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantined_deleted: int = 0
    remaining: int = 0  # after the erasure; anything but 0 is a failure
    dry_run: bool = False


def _keyed_columns(subject: str) -> dict[str, dict[str, str]]:
    """asset → {column: origin}, where origin is "subject" (the subject's id) or a source
    whose primary key the column carries; lineage is followed while the name stays the same."""
    origins: dict[tuple[str, str], str] = {}
    for spec in load_source_tables():
        key = f"{spec.source}/{spec.table}"
        for column in spec.columns:
            if column.subject == subject:
                origins[(key, column.name)] = "subject"
        if len(spec.primary_key) == 1 and any(c.subject == subject for c in spec.columns):
            origins.setdefault((key, spec.primary_key[0]), key)
    for asset in project_catalog().topological():
        for column in asset.columns.values():
            inherited = next((origins[pair] for pair in column.derived_from
                              if pair in origins and pair[1] == column.name), None)
            if inherited:
                origins.setdefault((asset.key, column.name), inherited)
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for (asset, column), origin in origins.items():
        if project_catalog().assets[asset].stored:
            found[asset][column] = origin
    return found


def _free_text_columns() -> dict[str, list[str]]:
    effective = project_evaluation().effective
    return {asset.key: [name for name, tags in effective[asset.key].columns.items()
                        if tags.mask == "redaction"]
            for asset in project_catalog().assets.values()
            if asset.stored and any(t.mask == "redaction"
                                    for t in effective[asset.key].columns.values())}


def _subject_rows(spec: SourceTable, subject: str, subject_id: str, region: str
                  ) -> tuple[list[str], list[str]]:
    """The subject's rows in one source table of one region: their keys and the identifying
    values (names, emails, phones) to look for in free text."""
    path = store_path(region)
    relation = (spec.schema, spec.table)
    if not path.exists():
        return [], []
    id_column = next(c.name for c in spec.columns if c.subject == subject)
    # Names, emails, phones: text that identifies on its own (not a date, not a category).
    personal = [c.name for c in spec.columns if c.classification == IDENTIFYING
                and c.data_type == "VARCHAR" and c.mask is None]
    key = spec.primary_key[0] if len(spec.primary_key) == 1 else None
    with reader(path) as con:
        if not table_exists(con, *relation):
            return [], []
        picked = [quote_ident(c) for c in [key, *personal] if c]
        rows = con.execute(f"SELECT {', '.join(picked)} FROM {qualified(*relation)} WHERE "
                           f"CAST({quote_ident(id_column)} AS VARCHAR) = ?",
                           [subject_id]).fetchall()
    keys = [str(row[0]) for row in rows] if key else []
    values = [str(v) for row in rows for v in row[1 if key else 0:] if v is not None]
    return keys, values


def _locate(subject: str, subject_id: str) -> tuple[dict[str, list[str]], list[str]]:
    """Keys per origin ("subject" → [id], "support/tickets" → its ticket ids, ...) and the
    subject's identifying values, across every region."""
    keys: dict[str, list[str]] = {"subject": [subject_id]}
    values: set[str] = set()
    for spec in load_source_tables():
        if not any(c.subject == subject for c in spec.columns):
            continue
        for region in region_names():
            found_keys, found_values = _subject_rows(spec, subject, subject_id, region)
            keys.setdefault(f"{spec.source}/{spec.table}", []).extend(found_keys)
            values.update(v for v in found_values if len(v) >= 4)
    return keys, sorted(values, key=len, reverse=True)


def _matches(columns: dict[str, str], keys: dict[str, list[str]]) -> tuple[str, list]:
    clauses, params = [], []
    for column, origin in columns.items():
        if keys.get(origin):
            clauses.append(f"CAST({quote_ident(column)} AS VARCHAR) IN "
                           f"(SELECT unnest(?::VARCHAR[]))")
            params.append(keys[origin])
    return " OR ".join(clauses) or "false", params


def _erase_in_store(region: str, keyed: dict[str, dict[str, str]], texts: dict[str, list[str]],
                    keys: dict[str, list[str]], values: list[str], receipt: Receipt,
                    delete: bool) -> None:
    path = store_path(region)
    if not path.exists():
        return
    opener = write_connection if delete else reader
    with opener(path) as con:
        if delete:
            con.execute("BEGIN")
        for asset, columns in keyed.items():
            relation = relations().get(asset)
            if relation is None or not table_exists(con, *relation):
                continue
            condition, params = _matches(columns, keys)
            verb = "DELETE" if delete else "SELECT count(*)"
            count = con.execute(f"{verb} FROM {qualified(*relation)} WHERE {condition}",
                                params).fetchone()[0]
            receipt.rows_deleted.setdefault(asset, {})[region] = count
        for asset, columns in texts.items():
            relation = relations().get(asset)
            if not values or relation is None or not table_exists(con, *relation):
                continue
            for column in columns:
                mentioned = " OR ".join([f"contains({quote_ident(column)}, ?)"] * len(values))
                count = con.execute(f"SELECT count(*) FROM {qualified(*relation)} WHERE "
                                    f"{mentioned}", values).fetchone()[0]
                if delete and count:
                    replaced = quote_ident(column)
                    for _ in values:
                        replaced = f"replace({replaced}, ?, '{ERASED}')"
                    con.execute(f"UPDATE {qualified(*relation)} SET {quote_ident(column)} = "
                                f"{replaced} WHERE {mentioned}", [*values, *values])
                receipt.texts_redacted.setdefault(f"{asset}.{column}", {})[region] = count
        if delete:
            con.execute("COMMIT")


def _erase_quarantine(subject: str, subject_id: str, delete: bool) -> int:
    """Quarantined records naming the subject in any of its id columns."""
    path = get_settings().quarantine_store
    if not path.exists():
        return 0
    id_columns = sorted({c.name for s in load_source_tables() for c in s.columns
                         if c.subject == subject})
    condition = " OR ".join(f"json_extract_string(record, '$.{c}') = ?" for c in id_columns)
    opener = write_connection if delete else reader
    with opener(path) as con:
        if not table_exists(con, "main", QUARANTINE_TABLE):
            return 0
        verb = "DELETE" if delete else "SELECT count(*)"
        return con.execute(f"{verb} FROM {QUARANTINE_TABLE} WHERE {condition}",
                           [subject_id] * len(id_columns)).fetchone()[0]


def _remaining(subject: str, subject_id: str, keyed: dict[str, dict[str, str]],
               texts: dict[str, list[str]], keys: dict[str, list[str]],
               values: list[str]) -> int:
    check = Receipt("", subject, subject_id, "")
    for region in region_names():
        _erase_in_store(region, keyed, texts, keys, values, check, delete=False)
    return (sum(n for regions in check.rows_deleted.values() for n in regions.values())
            + sum(n for regions in check.texts_redacted.values() for n in regions.values())
            + _erase_quarantine(subject, subject_id, delete=False))


def erase(subject_id: str, subject: str = "customer", dry_run: bool = False) -> Receipt:
    """Erase (or, dry, count) every trace of one subject; returns the receipt."""
    started = current_time()
    receipt = Receipt(f"{subject}-{subject_id}-{started:%Y%m%dT%H%M%S}", subject, subject_id,
                      started.isoformat(sep=" "), dry_run=dry_run)
    keyed = _keyed_columns(subject)
    texts = _free_text_columns()
    keys, values = _locate(subject, subject_id)
    for region in region_names():
        _erase_in_store(region, keyed, texts, keys, values, receipt, delete=not dry_run)
    receipt.quarantined_deleted = _erase_quarantine(subject, subject_id, delete=not dry_run)
    if not dry_run:
        record_erasure(subject, subject_id, started, receipt.receipt_id)
        receipt.remaining = _remaining(subject, subject_id, keyed, texts, keys, values)
    receipt.finished_at = current_time().isoformat(sep=" ")
    for asset, regions in receipt.rows_deleted.items():
        if any(regions.values()):
            audit_log.append("erasure.dry_run" if dry_run else "erasure.deleted", asset,
                             {"receipt": receipt.receipt_id, "rows": regions})
    audit_log.append("erasure.dry_run" if dry_run else "erasure.completed",
                     f"{subject}:{subject_id}", {"receipt": receipt.receipt_id,
                                                 "remaining": receipt.remaining,
                                                 "texts_redacted": receipt.texts_redacted,
                                                 "quarantined": receipt.quarantined_deleted})
    return receipt


def write_receipt(receipt: Receipt) -> Path:
    folder = get_settings().data_dir / "reports" / "erasures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{receipt.receipt_id}.json"
    path.write_text(json.dumps(asdict(receipt), indent=2, sort_keys=True), encoding="utf-8")
    return path
