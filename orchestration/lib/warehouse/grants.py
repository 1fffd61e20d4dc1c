"""The policy compiled into PostgreSQL, so it holds for any client (psql, a BI tool, a notebook).

In each region's database, from the exposures the policy implies:
- a login role per consumer (`steward_consumer_<name>`), cluster-wide;
- nothing for PUBLIC: no CONNECT, no TEMP, no CREATE, no schema it may use;
- CONNECT only where the consumer may read something;
- column-level SELECT on the stored tables, on exactly the columns it may see raw, with row
  security hiding rows past their retention;
- a `security_barrier` view per dataset in the consumer's own schema (`consumer_<name>`, the
  view named by the dataset: `crm__customers`) that
  serves every exposed column, masked as the read path masks it: keyed hash (pgcrypto HMAC with
  the consumer's key, kept in `_steward_grants`, which no consumer may use) or redaction;
- pgaudit's audit role on every one of those tables and views, so the server logs each read.

`plan` compares that with what the catalogs say is granted (a manual GRANT shows as drift);
`apply` makes them equal. A dbt rebuild drops a table with its grants, policies and views, so
`apply` runs again after every build, under `rebuild_lock`, which `read_as` waits on.
`read_as` is Steward's own read on this backend: as the consumer's role (its login, or Steward
become it), from its view, so the server masks, filters and audits it.

Kept whole: plan and apply read and write the same set of grants; apart, they would drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa

from orchestration.lib.settings import consumer_password
from orchestration.lib.warehouse import pgaudit, postgres
from orchestration.lib.warehouse.postgres import Connection
from orchestration.lib.warehouse.sql import qualified, quote_ident, sql_literal

ROLE_PREFIX = "steward_consumer_"
ACTING_FOR = "steward for "  # the application_name of Steward's session acting as a consumer
VIEW_SCHEMA_PREFIX = "consumer_"
GRANTS_SCHEMA = "_steward_grants"
RETENTION_POLICY = "steward_retention"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
PASS, KEYED_HASH, REDACTION = "pass", "keyed_hash", "redaction"


def role_name(consumer: str) -> str:
    return ROLE_PREFIX + consumer


def view_schema(consumer: str) -> str:
    return VIEW_SCHEMA_PREFIX + consumer


def view_name(dataset: str) -> str:
    """A dataset's view in a consumer's schema: its key, unambiguous where two datasets share a
    table name (`crm/customers` → `crm__customers`)."""
    return dataset.replace("/", "__")


def view_dataset(view: str) -> str:
    """The dataset a consumer's view is named by (`view_name` undone)."""
    return view.replace("__", "/")


@dataclass(frozen=True)
class ExposedTable:
    """One dataset as stored in this database, and how one consumer may see each column."""
    dataset: str
    schema: str
    table: str
    columns: tuple[tuple[str, str], ...]  # (column, "pass" | "keyed_hash" | "redaction")
    event_time: str | None = None
    retention_days: int | None = None

    @property
    def view(self) -> str:
        return view_name(self.dataset)

    @property
    def raw(self) -> tuple[str, ...]:
        return tuple(name for name, action in self.columns if action == PASS)


@dataclass(frozen=True)
class DatabaseGrants:
    """What one region's database should grant: consumer → the tables it may read there."""
    consumers: dict[str, tuple[ExposedTable, ...]]
    keys: dict[str, bytes]  # consumer → its keyed-hash key
    redaction_sql: str  # an expression of $1 that redacts free text in this dialect


# A privilege is (privilege, object kind, object, role); the role is "PUBLIC" for everyone.
Privilege = tuple[str, str, str, str]


def _audited(grants: DatabaseGrants) -> set[tuple[str, str]]:
    """The relations whose every read the server audits: exposed tables and their views."""
    return {relation for consumer, tables in grants.consumers.items() for table in tables
            for relation in ((table.schema, table.table), (view_schema(consumer), table.view))}


def _desired(database: str, grants: DatabaseGrants) -> set[Privilege]:
    wanted: set[Privilege] = {("SELECT", "TABLE", ".".join(relation), pgaudit.AUDITOR)
                              for relation in _audited(grants)}
    for consumer, tables in grants.consumers.items():
        role = role_name(consumer)
        wanted |= {("CONNECT", "DATABASE", database, role),
                   ("USAGE", "SCHEMA", view_schema(consumer), role)}
        for table in tables:
            wanted.add(("SELECT", "TABLE", f"{view_schema(consumer)}.{table.view}", role))
            if table.raw:
                wanted.add(("USAGE", "SCHEMA", table.schema, role))
                wanted |= {("SELECT", "COLUMN", f"{table.schema}.{table.table}.{column}", role)
                           for column in table.raw}
    return wanted


_GRANTEES = f"""
    SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE r.rolname END AS role, a.privilege_type
    FROM aclexplode({{acl}}) a LEFT JOIN pg_roles r ON r.oid = a.grantee
    WHERE a.grantee = 0 OR r.rolname LIKE '{ROLE_PREFIX}%' OR r.rolname = '{pgaudit.AUDITOR}'"""


def _actual(con: Connection) -> set[Privilege]:
    """Every privilege PUBLIC, a consumer role or the audit role holds in this database, from
    the catalogs."""
    found: set[Privilege] = set()
    for database, role, privilege in con.execute(
            "SELECT d.datname, g.role, g.privilege_type FROM pg_database d, LATERAL ("
            + _GRANTEES.format(acl="coalesce(d.datacl, acldefault('d', d.datdba))")
            + ") g WHERE d.datname = current_database()").fetchall():
        found.add((privilege, "DATABASE", database, role))
    system = ", ".join(sql_literal(s) for s in SYSTEM_SCHEMAS)
    for schema, role, privilege in con.execute(
            "SELECT n.nspname, g.role, g.privilege_type FROM pg_namespace n, LATERAL ("
            + _GRANTEES.format(acl="coalesce(n.nspacl, acldefault('n', n.nspowner))")
            + f") g WHERE n.nspname NOT IN ({system}) AND n.nspname NOT LIKE 'pg_temp%' "
            "AND n.nspname NOT LIKE 'pg_toast%'").fetchall():
        found.add((privilege, "SCHEMA", schema, role))
    for schema, table, role, privilege in con.execute(
            "SELECT n.nspname, c.relname, g.role, g.privilege_type FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace, LATERAL ("
            + _GRANTEES.format(acl="c.relacl") + f") g WHERE n.nspname NOT IN ({system})"
            ).fetchall():
        found.add((privilege, "TABLE", f"{schema}.{table}", role))
    for schema, table, column, role, privilege in con.execute(
            "SELECT n.nspname, c.relname, a.attname, g.role, g.privilege_type FROM pg_attribute a"
            " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace,"
            " LATERAL (" + _GRANTEES.format(acl="a.attacl") + f") g WHERE n.nspname NOT IN "
            f"({system}) AND a.attnum > 0").fetchall():
        found.add((privilege, "COLUMN", f"{schema}.{table}.{column}", role))
    return found


def _secured_tables(con: Connection, grants: DatabaseGrants) -> list[str]:
    """Exposed stored tables whose row security is off, or whose retention policy is gone."""
    tables = sorted({f"{t.schema}.{t.table}" for ts in grants.consumers.values() for t in ts
                     if t.raw})
    secured = {f"{schema}.{table}" for schema, table in con.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
        "c.relnamespace JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relrowsecurity AND "
        "p.polname = ?", [RETENTION_POLICY]).fetchall()}
    return [t for t in tables if t not in secured]


def _missing_views(con: Connection, grants: DatabaseGrants) -> list[str]:
    present = {f"{schema}.{name}" for schema, name in con.execute(
        "SELECT table_schema, table_name FROM information_schema.views").fetchall()}
    return sorted({f"{view_schema(c)}.{t.view}" for c, ts in grants.consumers.items()
                   for t in ts} - present)


def _statements(sign: str, privileges: set[Privilege]) -> list[str]:
    """GRANT (`+`) or REVOKE (`-`) statements for `privileges`, one per object and role (the
    columns of one table together)."""
    verb, preposition = ("GRANT", "TO") if sign == "+" else ("REVOKE", "FROM")
    columns: dict[tuple[str, str, str], list[str]] = {}
    statements = []
    for action, kind, target, role in sorted(privileges):
        grantee = role if role == "PUBLIC" else quote_ident(role)
        if kind == "COLUMN":
            schema, table, column = target.split(".")
            columns.setdefault((action, qualified(schema, table), grantee), []).append(
                quote_ident(column))
            continue
        name = qualified(*target.split(".")) if kind == "TABLE" else quote_ident(target)
        on = "" if kind == "TABLE" else f"{kind} "
        statements.append(f"{verb} {action} ON {on}{name} {preposition} {grantee}")
    statements += [f"{verb} {action} ({', '.join(names)}) ON {table} {preposition} {grantee}"
                   for (action, table, grantee), names in columns.items()]
    return statements


def _run_all(con: Connection, statements: list[str], batch: int = 2000) -> None:
    """Run DDL statements a batch per round trip: one anonymous block holds many (ADBC sends
    each call as one prepared statement)."""
    for start in range(0, len(statements), batch):
        body = ";\n".join(statements[start:start + batch])
        con.execute(f"DO $steward_ddl$ BEGIN\n{body};\nEND $steward_ddl$")


def plan(con: Connection, database: str, grants: DatabaseGrants) -> list[str]:
    """What `apply` would change, one line each: `+` to add, `-` to take away. Empty when the
    database grants exactly what the policy implies."""
    desired, actual = _desired(database, grants), _actual(con)
    return sorted(
        [f"+ CREATE VIEW {view}" for view in _missing_views(con, grants)]
        + [f"+ ROW SECURITY ON {table}" for table in _secured_tables(con, grants)]
        + [f"+ {statement}" for statement in _statements("+", desired - actual)]
        + [f"- {statement}" for statement in _statements("-", actual - desired)])


def beyond_policy(con: Connection, database: str, grants: DatabaseGrants, schema: str,
                  table: str) -> list[str]:
    """The REVOKEs that take back what the database grants on one table (or its columns)
    beyond what the policy implies, read from the catalogs alone."""
    target = f"{schema}.{table}"
    return _statements("-", {privilege for privilege in _actual(con) - _desired(database, grants)
                             if privilege[1] in ("TABLE", "COLUMN") and (
                                 privilege[2] == target or privilege[2].startswith(target + "."))})


def _ensure_roles(con: Connection, consumers: Iterable[str]) -> None:
    existing = {name for (name,) in con.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE ?", [f"{ROLE_PREFIX}%"]).fetchall()}
    for consumer in sorted(set(consumers)):
        role = quote_ident(role_name(consumer))
        if role_name(consumer) not in existing:
            # A login role with no password: the operator gives it one (or a certificate).
            con.execute(f"CREATE ROLE {role} LOGIN NOINHERIT")
        # Steward may become the role to read for the consumer (acting_as), and no more.
        if not con.execute("SELECT pg_has_role(current_user, ?, 'MEMBER')",
                           [role_name(consumer)]).fetchall()[0][0]:
            con.execute(f"GRANT {role} TO CURRENT_USER")


def _ensure_grants_schema(con: Connection, grants: DatabaseGrants) -> None:
    schema = quote_ident(GRANTS_SCHEMA)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA {schema}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.consumer_keys "
                "(consumer text PRIMARY KEY, key bytea NOT NULL)")
    for consumer, key in sorted(grants.keys.items()):
        con.execute(f"INSERT INTO {schema}.consumer_keys VALUES (?, decode(?, 'hex')) "
                    "ON CONFLICT (consumer) DO UPDATE SET key = excluded.key",
                    [consumer, key.hex()])
    con.execute(f"CREATE OR REPLACE FUNCTION {schema}.redact(text) RETURNS text "
                f"LANGUAGE sql IMMUTABLE AS $redact$ SELECT {grants.redaction_sql} $redact$")


def _not_expired(table: ExposedTable) -> str:
    if not table.event_time or table.retention_days is None:
        return "true"
    return (f"NOT coalesce({quote_ident(table.event_time)} < (now() AT TIME ZONE 'UTC') - "
            f"interval '{int(table.retention_days)} days', false)")


def _masked(consumer: str, column: str, action: str) -> str:
    name, schema = quote_ident(column), quote_ident(GRANTS_SCHEMA)
    if action == KEYED_HASH:
        key = (f"(SELECT key FROM {schema}.consumer_keys WHERE consumer = "
               f"{sql_literal(consumer)})")
        return (f"encode({schema}.hmac(convert_to(CAST({name} AS text), 'UTF8'), {key}, "
                f"'sha256'), 'hex') AS {name}")
    if action == REDACTION:
        return f"{schema}.redact(CAST({name} AS text)) AS {name}"
    return name


def _views(consumer: str, tables: tuple[ExposedTable, ...]) -> list[str]:
    schema = quote_ident(view_schema(consumer))
    statements = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
    for table in tables:
        columns = ", ".join(_masked(consumer, c, action) for c, action in table.columns)
        view = f"{schema}.{quote_ident(table.view)}"
        statements += [f"DROP VIEW IF EXISTS {view}",
                       f"CREATE VIEW {view} WITH (security_barrier) AS SELECT {columns} FROM "
                       f"{qualified(table.schema, table.table)} WHERE {_not_expired(table)}"]
    return statements


def _row_security(grants: DatabaseGrants) -> list[str]:
    """Row security on each table a consumer reads raw columns of: rows past retention are
    hidden from those consumers (the owner, who builds the table, is not bound by it)."""
    readers: dict[str, tuple[ExposedTable, set[str]]] = {}
    for consumer, tables in grants.consumers.items():
        for table in tables:
            if table.raw:
                entry = readers.setdefault(f"{table.schema}.{table.table}", (table, set()))
                entry[1].add(quote_ident(role_name(consumer)))
    statements = []
    for table, roles in readers.values():
        relation = qualified(table.schema, table.table)
        statements += [f"ALTER TABLE {relation} ENABLE ROW LEVEL SECURITY",
                       f"DROP POLICY IF EXISTS {RETENTION_POLICY} ON {relation}",
                       f"CREATE POLICY {RETENTION_POLICY} ON {relation} FOR SELECT TO "
                       f"{', '.join(sorted(roles))} USING ({_not_expired(table)})"]
    return statements


def apply(con: Connection, database: str, grants: DatabaseGrants) -> list[str]:
    """Make the database grant exactly what the policy implies, in one transaction; returns
    the plan it carried out."""
    changes = plan(con, database, grants)
    _ensure_roles(con, grants.consumers)
    con.execute("BEGIN")
    _ensure_grants_schema(con, grants)
    pgaudit.prepare(con, database)
    _run_all(con, [statement for consumer, tables in sorted(grants.consumers.items())
                   for statement in _views(consumer, tables)] + _row_security(grants))
    desired = _desired(database, grants)
    _run_all(con, _statements("-", _actual(con) - desired))
    # Read again: revoking a table-level privilege takes its column privileges with it.
    _run_all(con, _statements("+", desired - _actual(con)))
    con.execute("COMMIT")
    return changes


REBUILD_LOCK = f"SELECT {{}}(hashtext({sql_literal('steward: views rebuilding')}))"


@contextmanager
def rebuild_lock(store: postgres.Store) -> Iterator[None]:
    """Hold the database's rebuild lock, around a write that drops governed tables (and the
    consumers' views over them) until the grants are applied again: a consumer's read waits
    for its view to be back instead of finding it gone. The server releases the lock if this
    process dies, so a killed build never leaves readers waiting."""
    with postgres.write_connection(store) as con:
        con.execute(REBUILD_LOCK.format("pg_advisory_lock"))
        yield


class NotGranted(PermissionError):
    """The database does not serve this dataset to the consumer: its grants were not applied
    since the table was built."""


@contextmanager
def acting_as(store: postgres.Store, consumer: str) -> Iterator[Connection]:
    """Steward's own connection to the store's database become the consumer's role (SET ROLE,
    as a member of it): the server holds every statement to exactly the consumer's grants, and
    the session names the consumer (`application_name`) for the audit."""
    with postgres.reader(store) as con:
        con.execute(f"SET application_name = {sql_literal(ACTING_FOR + consumer)}")
        con.execute(f"SET ROLE {quote_ident(role_name(consumer))}")
        yield con


def read_as(store: postgres.Store, consumer: str, dataset: str, columns: list[str]) -> pa.Table:
    """`columns` of `dataset` as the consumer's role reads them in the store's database: from
    its view, masked and filtered by the server, and in the server's audit log. The role logs
    in with the consumer's own credentials where Steward was given them
    (`settings.consumer_password`); otherwise Steward acts as it (`acting_as`)."""
    password = consumer_password(consumer)
    view = qualified(view_schema(consumer), view_name(dataset))
    with (postgres.reader(postgres.login_dsn(store, role_name(consumer), password)) if password
          else acting_as(store, consumer)) as con:
        con.execute(REBUILD_LOCK.format("pg_advisory_lock_shared"))  # released on close
        try:
            return postgres.select_arrow(
                con, f"SELECT {', '.join(map(quote_ident, columns))} FROM {view}")
        except postgres.Error as refused:
            if getattr(refused, "sqlstate", None) not in ("42P01", "42501", "42703"):
                raise
            raise NotGranted(f"{role_name(consumer)} cannot read {view} in this database "
                             f"({str(refused).splitlines()[0]}): the grants were not applied "
                             "since it was built; run `steward grants apply`") from None
