"""The policy's exposures, for one region's PostgreSQL database, ready for the warehouse to
grant: which stored table each consumer may read there, each column raw or masked, the keys the
masks use, the retention that hides old rows. Keyed hashes that counting would reverse (few
distinct values) are withheld, as the read path suppresses them."""

from __future__ import annotations

from collections import defaultdict

from orchestration.lib.policy_adapter import project_catalog, project_evaluation, relations
from orchestration.lib.pseudonyms import consumer_key
from orchestration.lib.warehouse import postgres, qualified, quote_ident
from orchestration.lib.warehouse.grants import KEYED_HASH, DatabaseGrants, ExposedTable
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
        "SELECT count(*), " + ", ".join(f"count(DISTINCT {quote_ident(c)})" for c in hashed)
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


def database_grants(con: postgres.Connection, region: str) -> DatabaseGrants:
    """What the database of `region` (reached through `con`) should grant."""
    rules = load_rules()
    min_distinct = rules.transforms[KEYED_HASH].min_distinct_values or 0
    tables: dict[str, list[ExposedTable]] = defaultdict(list)
    for exposure in exposures(rules, project_evaluation().effective):
        if region in exposure.regions and (table := _exposed(con, exposure, min_distinct)):
            tables[exposure.consumer].append(table)
    return DatabaseGrants(
        {consumer: tuple(found) for consumer, found in tables.items()},
        {consumer: consumer_key(consumer) for consumer in tables},
        redaction_expression("$1", redaction_rules(), postgres_regex))
