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

Kept whole: finding the subject and erasing it share the traces a rerun resumes from.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.consumers.kept import SCHEMA as MODELS_SCHEMA
from orchestration.lib.consumers.kept import TABLE as MODELS_TABLE
from orchestration.lib.consumers.review import SCHEMA as REVIEW_SCHEMA
from orchestration.lib.governance import audit_log
from orchestration.lib.governance.landing_erasure import erase_from_landing
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.registry import relations
from orchestration.lib.governance.suppression import begin_erasure, finish_erasure
from orchestration.lib.ingest.ledger import REGION_QUARANTINE, quarantines
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.sources import SourceTable, load_source_tables
from orchestration.lib.warehouse import (
    connect,
    delete_where,
    exists,
    qualified,
    quote_ident,
    regex,
    regex_match,
    store_path,
    table_exists,
    table_if_present,
    text_columns,
    update_where,
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
    personal = _identifying_columns(spec)
    key = spec.primary_key[0] if len(spec.primary_key) == 1 else None
    is_subject = f"CAST({quote_ident(id_column)} AS VARCHAR) = ?"
    with table_if_present(store_path(region), *relation) as con:
        if con is None:
            return [], set(), set()
        picked = [quote_ident(c) for c in [key, *personal] if c]
        rows = con.execute(f"SELECT {', '.join(picked)} FROM {qualified(*relation)} WHERE "
                           f"{is_subject}", [subject_id]).fetchall()
        values = {str(v) for row in rows for v in row[1 if key else 0:] if v is not None}
        shared = set()
        for column in personal if values else ():
            held, params = _among(quote_ident(column), sorted(values))
            shared |= {v for (v,) in con.execute(
                f"SELECT DISTINCT CAST({quote_ident(column)} AS VARCHAR) FROM "
                f"{qualified(*relation)} WHERE NOT {is_subject} AND {held}",
                [subject_id, *params]).fetchall()}
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


def _among(expression: str, values: list[str]) -> tuple[str, list[str]]:
    """A condition: `expression`, as text, is one of `values` (bound one by one)."""
    if not values:
        return "false", []
    return (f"CAST({expression} AS VARCHAR) IN ({', '.join('?' * len(values))})",
            list(values))


def _matches(columns: dict[str, str], keys: dict[str, list[str]]) -> tuple[str, list]:
    clauses, params = [], []
    for column, origin in columns.items():
        if keys.get(origin):
            clause, bound = _among(quote_ident(column), keys[origin])
            clauses.append(clause)
            params += bound
    return " OR ".join(clauses) or "false", params


def _replaced(expression: str) -> str:
    """`expression` with every identifier replaced; twice, as one match uses up the separator
    an adjacent one would need. Binds the pattern twice."""
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
    quarantine = tuple(REGION_QUARANTINE.split("."))  # its own rules: _erase_quarantine
    skipped = _one_person_per_value()
    return [place for place in text_columns(con)
            if place not in skipped and place[:2] != quarantine]


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
        _erase_review_items(con, region, keyed, trace, receipt, delete)
        pattern = regex(mention_pattern(trace.identifiers)) if trace.identifiers else None
        for schema, table, column in _text_columns(con) if pattern else ():
            name = quote_ident(column)
            count = update_where(con, qualified(schema, table), f"{name} = {_replaced(name)}",
                                 regex_match(name), [pattern], count_only=not delete,
                                 set_params=[pattern, pattern])
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


def _erase_review_items(con, region: str, keyed: dict[str, dict[str, str]], trace: Trace,
                        receipt: Receipt, delete: bool) -> None:
    """The subject's rows waiting for (or resolved by) a reviewer: each queue's row key is the
    key column of its model's scores."""
    rules = load_rules().review
    for model in CONSUMER_MODELS:
        rule = rules.get(model.key)
        origin = keyed.get(model.key, {}).get(rule.key) if rule else None
        if origin and table_exists(con, REVIEW_SCHEMA, model.name):
            condition, params = _matches({"row_key": origin}, trace.keys)
            receipt.rows_deleted.setdefault(f"{REVIEW_SCHEMA}/{model.name}", {})[region] = (
                delete_where(con, qualified(REVIEW_SCHEMA, model.name), condition, params,
                             count_only=not delete))


def _as_text(value) -> str | None:
    """A JSON value as text, as SQL's JSON functions give it (`42`, `true`, the string)."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _own_record(record: str, id_columns: list[str], subject_id: str) -> bool:
    """Whether a quarantined record is the subject's: a row (JSON) naming it in an id column,
    or a raw line, which could not be read as one, holding its id as one field."""
    try:
        row = json.loads(record)
    except ValueError:
        return bool(re.search(f'(^|,)"?{re.escape(subject_id)}"?(,|$)', record))
    return isinstance(row, dict) and subject_id in (_as_text(row.get(c)) for c in id_columns)


def _own_records(con, relation: str, id_columns: list[str], subject_id: str
                 ) -> tuple[str, list]:
    """A condition picking the subject's quarantined records, told apart here rather than in
    each engine's JSON dialect; only records holding its id are looked at."""
    own = [row for row in con.execute(
        f"SELECT file, line, record FROM {relation} WHERE strpos(record, ?) > 0",
        [subject_id]).fetchall() if _own_record(row[2], id_columns, subject_id)]
    condition = " OR ".join(["(file IS NOT DISTINCT FROM ? AND line IS NOT DISTINCT FROM ? "
                             "AND record = ?)"] * len(own))
    return f"({condition or 'false'})", [value for row in own for value in row]


def _erase_quarantine(subject: str, trace: Trace, receipt: Receipt, delete: bool) -> None:
    """Quarantined records of the subject go, in every region's quarantine and the unrouted
    one; its identifiers inside others' are replaced. A record is the row as JSON, or the raw
    line when it could not be read as one."""
    id_columns = sorted({_id_column(spec, subject) for spec in load_source_tables()} - {None})
    subject_id = trace.keys["subject"][0]
    pattern = regex(mention_pattern(trace.identifiers)) if trace.identifiers else None
    for _, path, schema, table in quarantines():
        with table_if_present(path, schema, table, write=delete) as con:
            if con is None:
                continue
            relation = qualified(schema, table)
            if delete:
                con.execute("BEGIN")
            own, params = _own_records(con, relation, id_columns, subject_id)
            receipt.quarantined_deleted += delete_where(con, relation, own, params,
                                                        count_only=not delete)
            if pattern:
                receipt.quarantined_redacted += update_where(
                    con, relation, f"record = {_replaced('record')}",
                    f"{regex_match('record')} AND NOT {own}", [pattern, *params],
                    count_only=not delete, set_params=[pattern, pattern])
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
