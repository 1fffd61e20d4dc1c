"""Erasure of one data subject (right to be forgotten), following lineage and keys.

Where the subject is: every stored asset's column that carries its id (a source column
declared `subject: customer`, or a column derived from one under the same name), every column
that carries the key of one of its rows in a source (its tickets, invoices, payments, events:
the source's primary key, followed the same way), the quarantine, the landing files, the models
trained on its region, and any text column of any table (its email or phone inside a ticket
another customer wrote). It is matched by identifiers, never by a value another subject shares:
its id, its keys, and those of its names, emails and phones that no one else holds.

The order makes a crash harmless: the erasure is registered first (so no load brings the subject
back), with the trace a rerun needs once a store has already been erased; each region's store is
erased in one transaction; then the quarantine and the landing files; then what remains is
verified, the register keeps only the id, and a receipt is written. Running the same erasure
again after a crash resumes it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestration.lib import audit_log
from orchestration.lib.consumers.kept import SCHEMA as MODELS_SCHEMA
from orchestration.lib.consumers.kept import TABLE as MODELS_TABLE
from orchestration.lib.ingest.ledger import REGION_QUARANTINE, quarantines
from orchestration.lib.landing_erasure import erase_from_landing
from orchestration.lib.policy_adapter import project_catalog, project_evaluation, relations
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.sources import SourceTable, load_source_tables
from orchestration.lib.suppression import begin_erasure, finish_erasure
from orchestration.lib.warehouse import (
    connect,
    delete_where,
    exists,
    qualified,
    quote_ident,
    reader,
    store_path,
    table_exists,
)
from policies.redaction import mention_pattern
from policies.regions import region_names
from policies.rules import load_rules

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
    quarantined_redacted: int = 0
    landing_records: dict[str, int] = field(default_factory=dict)  # file → records removed
    models_dropped: dict[str, int] = field(default_factory=dict)  # region → kept models
    shared_values_kept: int = 0  # its names, emails, phones another subject also holds
    remaining: int = 0  # after the erasure; anything but 0 is a failure
    resumed: bool = False  # a crash had stopped this erasure; this run finished it
    dry_run: bool = False


@dataclass
class Trace:
    """Where the subject was found: keys per origin ("subject" → [id], "support/tickets" → its
    ticket ids) and the identifying values no other subject holds."""
    keys: dict[str, list[str]]
    identifiers: list[str]
    shared: int = 0


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


def _id_column(spec: SourceTable, subject: str) -> str | None:
    return next((c.name for c in spec.columns if c.subject == subject), None)


def _identifying_columns(spec: SourceTable) -> list[str]:
    """Names, emails, phones: text that identifies on its own (not a date, not a category)."""
    return [c.name for c in spec.columns if c.classification == IDENTIFYING
            and c.data_type == "VARCHAR" and c.mask is None]


def _subject_rows(spec: SourceTable, id_column: str, subject_id: str, region: str
                  ) -> tuple[list[str], set[str], set[str]]:
    """The subject's rows in one source table of one region: their keys, its identifying
    values, and those of them another subject holds too (in the same column)."""
    relation = (spec.schema, spec.table)
    path = store_path(region)
    if not exists(path):
        return [], set(), set()
    personal = _identifying_columns(spec)
    key = spec.primary_key[0] if len(spec.primary_key) == 1 else None
    is_subject = f"CAST({quote_ident(id_column)} AS VARCHAR) = ?"
    with reader(path) as con:
        if not table_exists(con, *relation):
            return [], set(), set()
        picked = [quote_ident(c) for c in [key, *personal] if c]
        rows = con.execute(f"SELECT {', '.join(picked)} FROM {qualified(*relation)} WHERE "
                           f"{is_subject}", [subject_id]).fetchall()
        values = {str(v) for row in rows for v in row[1 if key else 0:] if v is not None}
        shared = set()
        for column in personal:
            shared |= {v for (v,) in con.execute(
                f"SELECT DISTINCT CAST({quote_ident(column)} AS VARCHAR) FROM "
                f"{qualified(*relation)} WHERE NOT {is_subject} AND "
                f"CAST({quote_ident(column)} AS VARCHAR) IN (SELECT unnest(?::VARCHAR[]))",
                [subject_id, sorted(values)]).fetchall()}
    return [str(row[0]) for row in rows] if key else [], values, shared


def _locate(subject: str, subject_id: str) -> Trace:
    """The subject's keys and identifiers across every region (a value another subject holds
    in some region is never used to match)."""
    keys: dict[str, list[str]] = {"subject": [subject_id]}
    values: set[str] = set()
    shared: set[str] = set()
    for spec in load_source_tables():
        id_column = _id_column(spec, subject)
        if id_column is None:
            continue
        for region in region_names():
            found_keys, found_values, found_shared = _subject_rows(spec, id_column, subject_id,
                                                                   region)
            keys.setdefault(f"{spec.source}/{spec.table}", []).extend(found_keys)
            values |= {v for v in found_values if len(v) >= 4}
            shared |= found_shared
    identifiers = sorted(values - shared, key=len, reverse=True)
    return Trace(keys, identifiers, len(values & shared))


def _matches(columns: dict[str, str], keys: dict[str, list[str]]) -> tuple[str, list]:
    clauses, params = [], []
    for column, origin in columns.items():
        if keys.get(origin):
            clauses.append(f"CAST({quote_ident(column)} AS VARCHAR) IN "
                           f"(SELECT unnest(?::VARCHAR[]))")
            params.append(keys[origin])
    return " OR ".join(clauses) or "false", params


def _replaced(expression: str) -> str:
    """`expression` with every identifier replaced; twice, as one match uses up the separator
    an adjacent one would need."""
    once = f"regexp_replace({expression}, ?, '\\1{ERASED}\\3', 'g')"
    return f"regexp_replace({once}, ?, '\\1{ERASED}\\3', 'g')"


def _one_person_per_value() -> set[tuple[str, str, str]]:
    """(schema, table, column) of structured personal columns (names, emails, phones): each
    value there is one person's, so a partial match is someone else's ("Mary Anna Smith"),
    never a mention; the subject's own values there go with its rows."""
    effective, rules = project_evaluation().effective, load_rules()
    return {(*relation, name) for asset, relation in relations().items()
            for name, tags in (effective[asset].columns.items() if asset in effective else ())
            if tags.mask != "redaction" and rules.rank(tags.level) >= rules.rank(IDENTIFYING)}


def _text_columns(con) -> list[tuple[str, str, str]]:
    """Every text column of every table in the store, declared free text or not (a mention
    can be anywhere), but those holding one person's value per row."""
    found = con.execute(
        "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_catalog, table_schema, table_name) "
        "WHERE t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR' "
        "ORDER BY 1, 2, 3").fetchall()
    quarantine = tuple(REGION_QUARANTINE.split("."))  # its own rules: _erase_quarantine
    skipped = _one_person_per_value()
    return [place for place in found if place not in skipped and place[:2] != quarantine]


def _erase_in_store(region: str, keyed: dict[str, dict[str, str]], trace: Trace,
                    receipt: Receipt, delete: bool) -> None:
    path = store_path(region)
    if not exists(path):
        return
    assets = {relation: asset for asset, relation in relations().items()}
    with connect(path, write=delete) as con:
        if delete:
            con.execute("BEGIN")
        for asset, columns in keyed.items():
            relation = relations().get(asset)
            if relation is None or not table_exists(con, *relation):
                continue
            condition, params = _matches(columns, trace.keys)
            count = delete_where(con, qualified(*relation), condition, params,
                                 count_only=not delete)
            receipt.rows_deleted.setdefault(asset, {})[region] = count
        pattern = mention_pattern(trace.identifiers) if trace.identifiers else None
        for schema, table, column in _text_columns(con) if pattern else ():
            name, where = quote_ident(column), f"regexp_matches({quote_ident(column)}, ?)"
            # An UPDATE answers with the rows it changed: one pass erases and counts.
            if delete:
                count = con.execute(f"UPDATE {qualified(schema, table)} SET {name} = "
                                    f"{_replaced(name)} WHERE {where}",
                                    [pattern, pattern, pattern]).fetchone()[0]
            else:
                count = con.execute(f"SELECT count(*) FROM {qualified(schema, table)} "
                                    f"WHERE {where}", [pattern]).fetchone()[0]
            if not count:
                continue
            label = assets.get((schema, table), f"{schema}.{table}")
            receipt.texts_redacted.setdefault(f"{label}.{column}", {})[region] = count
        # A model trained on the subject's rows keeps what it learnt from them: drop it, and
        # the next run trains again without them.
        if any(receipt.rows_deleted.get(a, {}).get(region) for a in keyed) and table_exists(
                con, MODELS_SCHEMA, MODELS_TABLE):
            receipt.models_dropped[region] = delete_where(
                con, qualified(MODELS_SCHEMA, MODELS_TABLE), "true", count_only=not delete)
        if delete:
            con.execute("COMMIT")


def _erase_quarantine(subject: str, trace: Trace, receipt: Receipt, delete: bool) -> None:
    """Quarantined records of the subject go, in every region's quarantine and the unrouted
    one; its identifiers inside others' are replaced. A record is the row as JSON, or the raw
    line when it could not be read as one."""
    id_columns = sorted({_id_column(spec, subject) for spec in load_source_tables()} - {None})
    subject_id = trace.keys["subject"][0]
    as_field = f"(^|,)\"?{re.escape(subject_id)}\"?(,|$)"  # the id as one field of a raw line
    own = "coalesce(" + " OR ".join(
        [f"CASE WHEN json_valid(record) THEN json_extract_string(record, '$.{c}') = ? END"
         for c in id_columns] + ["(NOT json_valid(record) AND regexp_matches(record, ?))"]
    ) + ", false)"
    params = [*[subject_id] * len(id_columns), as_field]
    pattern = mention_pattern(trace.identifiers) if trace.identifiers else None
    for _, path, schema, table in quarantines():
        if not exists(path):
            continue
        with connect(path, write=delete) as con:
            if not table_exists(con, schema, table):
                continue
            relation = qualified(schema, table)
            if delete:
                con.execute("BEGIN")
            receipt.quarantined_deleted += delete_where(con, relation, own, params,
                                                        count_only=not delete)
            if pattern and delete:
                receipt.quarantined_redacted += con.execute(
                    f"UPDATE {relation} SET record = {_replaced('record')} WHERE "
                    f"regexp_matches(record, ?)", [pattern, pattern, pattern]).fetchone()[0]
            elif pattern:
                receipt.quarantined_redacted += con.execute(
                    f"SELECT count(*) FROM {relation} WHERE regexp_matches(record, ?) AND NOT "
                    f"{own}", [pattern, *params]).fetchone()[0]
            if delete:
                con.execute("COMMIT")


def _erase_landing(subject: str, trace: Trace, receipt: Receipt, delete: bool) -> None:
    for spec in load_source_tables():
        id_column = _id_column(spec, subject)
        if id_column is not None:
            receipt.landing_records.update(erase_from_landing(
                spec, id_column, trace.keys["subject"][0], trace.identifiers, delete))


def _erase_everywhere(subject: str, keyed: dict[str, dict[str, str]], trace: Trace,
                      receipt: Receipt, delete: bool) -> None:
    for region in region_names():
        _erase_in_store(region, keyed, trace, receipt, delete)
    _erase_quarantine(subject, trace, receipt, delete)
    _erase_landing(subject, trace, receipt, delete)


def _traces_left(receipt: Receipt) -> int:
    return (sum(n for regions in receipt.rows_deleted.values() for n in regions.values())
            + sum(n for regions in receipt.texts_redacted.values() for n in regions.values())
            + receipt.quarantined_deleted + receipt.quarantined_redacted
            + sum(receipt.landing_records.values()))


def _merged(trace: Trace, earlier: str) -> Trace:
    """The trace found now, with what the interrupted run had found (stores it erased no
    longer show the subject's keys and identifiers)."""
    before = json.loads(earlier)
    keys = {origin: sorted(set(found) | set(before["keys"].get(origin, [])))
            for origin, found in {**before["keys"], **trace.keys}.items()}
    identifiers = sorted(set(trace.identifiers) | set(before["identifiers"]), key=len,
                         reverse=True)
    return Trace(keys, identifiers, max(trace.shared, before["shared"]))


def erase(subject_id: str, subject: str = "customer", dry_run: bool = False) -> Receipt:
    """Erase (or, dry, count) every trace of one subject; returns the receipt. Run again after
    a crash, it finishes the erasure the crash stopped."""
    started = current_time()
    receipt = Receipt(f"{subject}-{subject_id}-{started:%Y%m%dT%H%M%S}", subject, subject_id,
                      started.isoformat(sep=" "), dry_run=dry_run)
    keyed = _keyed_columns(subject)
    trace = _locate(subject, subject_id)
    if not dry_run:
        pending = begin_erasure(subject, subject_id, started, receipt.receipt_id,
                                json.dumps(asdict(trace)))
        if pending:
            receipt.receipt_id, receipt.resumed = pending[0], True
            trace = _merged(trace, pending[1])
        audit_log.append("erasure.started", f"{subject}:{subject_id}",
                         {"receipt": receipt.receipt_id, "resumed": receipt.resumed})
    receipt.shared_values_kept = trace.shared
    _erase_everywhere(subject, keyed, trace, receipt, delete=not dry_run)
    if not dry_run:
        check = Receipt("", subject, subject_id, "")
        _erase_everywhere(subject, keyed, trace, check, delete=False)
        receipt.remaining = _traces_left(check)
        if receipt.remaining == 0:
            finish_erasure(subject, subject_id)
    receipt.finished_at = current_time().isoformat(sep=" ")
    for asset, regions in receipt.rows_deleted.items():
        if any(regions.values()):
            audit_log.append("erasure.dry_run" if dry_run else "erasure.deleted", asset,
                             {"receipt": receipt.receipt_id, "rows": regions})
    audit_log.append("erasure.dry_run" if dry_run else "erasure.completed",
                     f"{subject}:{subject_id}", {
                         "receipt": receipt.receipt_id, "remaining": receipt.remaining,
                         "texts_redacted": receipt.texts_redacted,
                         "quarantined": receipt.quarantined_deleted,
                         "quarantined_redacted": receipt.quarantined_redacted,
                         "landing_records": receipt.landing_records,
                         "models_dropped": receipt.models_dropped,
                         "shared_values_kept": receipt.shared_values_kept,
                         "resumed": receipt.resumed})
    return receipt


def write_receipt(receipt: Receipt) -> Path:
    folder = get_settings().data_dir / "reports" / "erasures"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{receipt.receipt_id}.json"
    path.write_text(json.dumps(asdict(receipt), indent=2, sort_keys=True), encoding="utf-8")
    return path
