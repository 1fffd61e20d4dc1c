"""The governed read path: the one way an automation team reads a shared dataset.

`read_dataset` asks the policy decision (`policies.access.decide`) first and reads nothing when
it denies. An allowed read opens only the region stores the consumer may read, masks in DuckDB
(keyed hash or redaction) so raw values of masked columns never reach Python, leaves out rows
past their retention on Steward's clock, and returns Arrow straight from DuckDB. A column
whose keyed hash counting would reverse (few values, each repeated) is left out, or the read
denied when it names the column. Every decision, allowed, masked or denied, is appended to the
audit log.

Where the database holds the policy itself (PostgreSQL: roles, column grants, masking views),
the rows come from the consumer's own view, read by logging in as its role: the server masks
and hides expired rows on its clock, and logs the read, so Steward serves exactly what psql
would show that consumer.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pyarrow as pa

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.pseudonyms import consumer_key, hmac_sql
from orchestration.lib.governance.registry import relations
from orchestration.lib.operations.health import staleness
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    distinct_count,
    enforced_in_database,
    held_in,
    qualified,
    quote_ident,
    read_as,
    select_arrow,
    store_path,
)
from policies.access import (
    DEFAULT_MASK,
    PASS,
    UNKNOWN_CONSUMER,
    Decision,
    Spread,
    decide,
    guard_keyed_hashes,
)
from policies.redaction import redaction_rules
from policies.retention import expiry
from policies.rules import load_rules, policies_dir

DECISION_METADATA = b"steward.decision"
STALE_METADATA = b"steward.stale"  # region → since and why, where this is the last good version
WITHHELD_METADATA = b"steward.withheld"  # region → rows not served: past their retention


class AccessDenied(PermissionError):
    """The policy denied this read; nothing was read. The message says why and how to fix."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"{decision.consumer} may not read {decision.dataset}: "
                         f"{decision.reason} [{decision.rule}]. Fix: {decision.fix}")
        self.decision = decision


class NotBuilt(LookupError):
    """The dataset is allowed but has no table yet in any store the consumer may read."""


def _redact_sql(expression: str) -> tuple[str, list[str]]:
    sql, params = expression, []
    for pattern, placeholder in redaction_rules():
        sql = f"regexp_replace({sql}, ?, ?, 'g')"
        params += [pattern, placeholder]
    return sql, params


def _select(decision: Decision) -> tuple[str, list[str]]:
    """The projection that applies the decision's masks, with its bound parameters."""
    parts, params = [], []
    key = consumer_key(decision.consumer) if decision.masked else b""
    for column in decision.columns:
        name = quote_ident(column.name)
        if column.action == PASS:
            parts.append(name)
            continue
        if column.action == "redaction":
            sql, bound = _redact_sql(f"CAST({name} AS VARCHAR)")
        else:
            sql, bound = hmac_sql(name, key)
        parts.append(f"{sql} AS {name}")
        params += bound
    return ", ".join(parts), params


def decision_for(consumer: str, dataset: str, columns=None, regions=None) -> Decision:
    """What the policy decides for this read, without reading or recording anything."""
    rules = load_rules()
    declared = rules.consumers.get(consumer)
    if declared is None:
        return Decision(consumer, dataset, False, UNKNOWN_CONSUMER,
                        f"no consumer {consumer!r} is declared",
                        f"declare it in policies/consumers.yaml (known: "
                        f"{', '.join(sorted(rules.consumers))})")
    return decide(rules, declared, dataset, project_evaluation().effective.get(dataset),
                  tuple(columns) if columns else None, tuple(regions) if regions else None)


def _spreads(decision: Decision, relation: tuple[str, str], min_distinct: int
             ) -> dict[str, Spread]:
    """Rows and distinct values of each column the read would hash, per region store; a column
    whose values are few and repeated in any region counts as such."""
    hashed = [name for name, action in decision.masked.items() if action == DEFAULT_MASK]
    spreads: dict[str, Spread] = {}
    for _, con in held_in(decision.regions if hashed else (), relation):
        rows, *distinct = con.execute(
            "SELECT count(*), " + ", ".join(distinct_count(quote_ident(c)) for c in hashed)
            + f" FROM {qualified(*relation)}").fetchone()
        for column, count in zip(hashed, distinct, strict=True):
            if column not in spreads or not spreads[column].reversible(min_distinct):
                spreads[column] = Spread(rows, count)
    return spreads


def _audit(decision: Decision, **details) -> None:
    kind = ("access.denied" if not decision.allowed
            else "access.masked" if decision.masked else "access.allowed")
    purpose = load_rules().consumers.get(decision.consumer)
    audit_log.append(kind, decision.dataset, {
        "consumer": decision.consumer,
        "purpose": purpose.purpose if purpose else None,
        "rule": decision.rule, "reason": decision.reason or None,
        "regions": list(decision.regions), "masked": decision.masked,
        "columns": [c.name for c in decision.columns],
        "suppressed": list(decision.suppressed) or None,
        "rules_version": audit_log.rules_version(policies_dir()), **details})


def read_dataset(dataset: str, consumer: str, columns: list[str] | None = None,
                 regions: list[str] | None = None, credential: str | None = None) -> pa.Table:
    """The rows of `dataset` that `consumer` may read, masked as the policy says. `credential`
    is the id of the token that proved the consumer (the read service's reads), for the audit.

    Raises AccessDenied (nothing read) or NotBuilt; on PostgreSQL, LoginRefused or NotGranted
    when the database will not let the consumer's role read its view. The decision travels
    with the table in its schema metadata under `steward.decision`; where a failure upstream
    kept the last good version, `steward.stale` says since when and why (the read still
    succeeds)."""
    # A rule-file change is on record before any decision is taken under it.
    audit_log.record_policy_files(policies_dir())
    decision = decision_for(consumer, dataset, columns, regions)
    relation = relations().get(dataset)
    if decision.allowed:
        min_distinct = load_rules().transforms[DEFAULT_MASK].min_distinct_values or 0
        decision = guard_keyed_hashes(decision, _spreads(decision, relation, min_distinct),
                                      min_distinct, named=bool(columns))
    via = {"credential": credential} if credential else {}
    if not decision.allowed:
        _audit(decision, **via)
        raise AccessDenied(decision)
    # Where the database holds the policy it masks; Steward's keys and patterns stay unused.
    in_database = enforced_in_database()
    projection, params = ("", []) if in_database else _select(decision)
    # Rows past the retention are never served, whatever clock the store was written under.
    expired = expiry(project_catalog().assets[dataset], project_evaluation().effective[dataset],
                     current_time())
    past = f"{quote_ident(expired.event_time)} < ?" if expired else "false"
    cutoff = [expired.cutoff] if expired else []
    parts, rows_by_region, withheld = [], {}, {}
    for region, con in held_in(decision.regions, relation):
        table = (read_as(store_path(region), decision.consumer, dataset,
                         [column.name for column in decision.columns])
                 if in_database else
                 select_arrow(con, f"SELECT {projection} FROM {qualified(*relation)} "
                              f"WHERE NOT coalesce({past}, false)", [*params, *cutoff]))
        if expired:
            [(withheld[region],)] = con.execute(
                f"SELECT count(*) FROM {qualified(*relation)} WHERE {past}", cutoff
            ).fetchall()
        rows_by_region[region] = table.num_rows
        parts.append(table)
    if not parts:
        raise NotBuilt(f"{dataset} has no table in {', '.join(decision.regions)} yet; "
                       "run the pipeline first (make run)")
    stale = staleness(dataset, decision.regions)
    withheld = {region: rows for region, rows in withheld.items() if rows}
    _audit(decision, rows=rows_by_region, stale=stale or None,
           withheld_past_retention=withheld or None, **via)
    result = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    return result.replace_schema_metadata({
        **(result.schema.metadata or {}),
        DECISION_METADATA: json.dumps(asdict(decision), default=list).encode(),
        STALE_METADATA: json.dumps(stale).encode(),
        WITHHELD_METADATA: json.dumps(withheld).encode()})
