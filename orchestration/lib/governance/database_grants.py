"""The policy's exposures, for one region's PostgreSQL database, ready for the warehouse to
grant: which stored table each consumer may read there, each column raw or masked, the keys the
masks use, the retention that hides old rows. Keyed hashes that counting would reverse (few
distinct values) are withheld, as the read path suppresses them."""

from __future__ import annotations

from collections import defaultdict
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.policy_adapter import project_catalog, project_evaluation
from orchestration.lib.governance.pseudonyms import consumer_key
from orchestration.lib.governance.registry import relations
from orchestration.lib.operations import alerts
from orchestration.lib.settings import postgres_dsn
from orchestration.lib.warehouse import (
    enforced_in_database,
    postgres,
    qualified,
    quote_ident,
    store_path,
)
from orchestration.lib.warehouse.grants import (
    GRANTS_SCHEMA,
    KEYED_HASH,
    DatabaseGrants,
    ExposedTable,
    apply,
    beyond_policy,
    plan,
    rebuild_lock,
)
from orchestration.lib.warehouse.regex import postgres_regex, redaction_expression
from policies.access import Spread
from policies.exposure import Exposure, exposures
from policies.redaction import redaction_rules
from policies.rules import load_rules


def _reversible(con: postgres.Connection, relation: tuple[str, str], hashed: list[str],
                min_distinct: int) -> set[str]:
    if not hashed or not min_distinct:
        return set()
    rows, *distinct = con.execute(
        "SELECT count(*), " + ", ".join(postgres.distinct_count(quote_ident(c)) for c in hashed)
        + f" FROM {qualified(*relation)}").fetchone()
    return {c for c, n in zip(hashed, distinct, strict=True)
            if Spread(rows, n).reversible(min_distinct)}


def _exposed(con: postgres.Connection, exposure: Exposure, min_distinct: int
             ) -> ExposedTable | None:
    relation = relations().get(exposure.dataset)
    stored = postgres.table_columns(con, *relation) if relation else {}
    if not stored:
        return None  # not a stored dataset, or not built in this database yet
    columns = [(c.name, c.action) for c in exposure.columns if c.name in stored]
    hashed = [name for name, action in columns if action == KEYED_HASH]
    reversible = _reversible(con, relation, hashed, min_distinct)
    asset = project_catalog().assets[exposure.dataset]
    return ExposedTable(exposure.dataset, *relation,
                        tuple(c for c in columns if c[0] not in reversible),
                        asset.event_time, project_evaluation().effective[
                            exposure.dataset].retention_days)


def database_grants(con: postgres.Connection, region: str, judge_hashes: bool = True
                    ) -> DatabaseGrants:
    """What the database of `region` (reached through `con`) should grant. Without
    `judge_hashes` no table is scanned for keyed hashes counting would reverse: what it may
    read raw, and where, does not depend on them."""
    rules = load_rules()
    min_distinct = (rules.transforms[KEYED_HASH].min_distinct_values or 0) if judge_hashes else 0
    tables: dict[str, list[ExposedTable]] = defaultdict(list)
    for exposure in exposures(rules, project_evaluation().effective):
        if region in exposure.regions and (table := _exposed(con, exposure, min_distinct)):
            tables[exposure.consumer].append(table)
    return DatabaseGrants(
        {consumer: tuple(found) for consumer, found in tables.items()},
        {consumer: consumer_key(consumer) for consumer in tables},
        redaction_expression("$1", redaction_rules(), postgres_regex))


@dataclass(frozen=True)
class Enforced:
    database: str
    beyond_policy: list[str]  # what the database granted that the policy does not: drift
    applied: list[str]


def enforce(region: str) -> Enforced:
    """Make the database of `region` grant exactly what the policy implies, as every build
    must (dbt drops a rebuilt table with its grants, row security and views). What it granted
    beyond the policy beforehand was given outside Steward (a manual GRANT): it is taken back
    and reported. Audited as `grants.applied` when anything changed."""
    with postgres.write_connection(postgres_dsn(region)) as con:
        [(database,)] = con.execute("SELECT current_database()").fetchall()
        wanted = database_grants(con, region)
        # Before Steward first governed the database, what it granted was the server's
        # defaults (CONNECT and TEMP for PUBLIC), not anyone's doing.
        governed = postgres.table_exists(con, GRANTS_SCHEMA, "consumer_keys")
        beyond = [change for change in plan(con, database, wanted)
                  if governed and change.startswith("- ")]
        applied = apply(con, database, wanted)
    if applied:
        audit_log.append("grants.applied", database,
                         {"region": region, "changes": applied, "drift": beyond})
    return Enforced(database, beyond, applied)


def _alert_drift(region: str, database: str, drift: list[str]) -> None:
    alerts.fire(f"grants:{region}", "grants_drift",
                f"{database}: grants beyond the policy taken back", {"drift": drift})


def restore(region: str) -> Enforced:
    """`enforce`, as every write that may drop a governed table must be followed by: drift
    found there fires the `grants_drift` alert, none resolves it."""
    enforced = enforce(region)
    if enforced.beyond_policy:
        _alert_drift(region, enforced.database, enforced.beyond_policy)
    else:
        alerts.resolve(f"grants:{region}", set())
    return enforced


def rebuilding(region: str) -> AbstractContextManager:
    """Held around a write that may drop the region's governed tables, up to and including
    its `restore`: consumers' reads through the database wait for their views to be back.
    Nothing to hold where the database does not serve the policy."""
    return rebuild_lock(store_path(region)) if enforced_in_database() else nullcontext()


def take_back(region: str, relation: tuple[str, str]) -> list[str]:
    """Revoke at once what the region's database grants on `relation` beyond the policy (a
    manual GRANT), audited and alerted as drift; what was revoked. The policy check of the
    asset runs this, and fails when anything was; it reads the catalogs alone otherwise."""
    with postgres.reader(postgres_dsn(region)) as con:
        [(database,)] = con.execute("SELECT current_database()").fetchall()
        revokes = beyond_policy(con, database, database_grants(con, region, judge_hashes=False),
                                *relation)
    if not revokes:
        return []
    with postgres.write_connection(postgres_dsn(region)) as con:
        con.execute("BEGIN")
        for statement in revokes:
            con.execute(statement)
        con.execute("COMMIT")
    changes = [f"- {statement}" for statement in revokes]
    audit_log.append("grants.applied", database,
                     {"region": region, "changes": changes, "drift": changes})
    _alert_drift(region, database, changes)
    return revokes
