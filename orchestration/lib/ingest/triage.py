"""Triage of a batch read into the scratch engine: every row gets exactly one outcome before
anything is stored. Rows past the table's retention and rows of erased subjects are dropped
(counted); rows repeating a key are ordered by cursor, then file, and the older versions are
superseded while ties that differ are conflicts; rows without a key or a region, and conflicts,
are quarantined (commit.py writes them).
"""

from __future__ import annotations

from datetime import timedelta

from orchestration.lib.governance.suppression import erased_ids
from orchestration.lib.ingest.load_report import LoadReport
from orchestration.lib.settings import current_time
from orchestration.lib.sources import SourceTable
from orchestration.lib.warehouse import quote_ident, sql_literal, sql_text_list
from policies.rules import retention_days


def key_columns(spec: SourceTable, alias: str = "") -> list[str]:
    prefix = f"{alias}." if alias else ""
    return [prefix + quote_ident(k) for k in spec.primary_key]


def key_is_null(spec: SourceTable, alias: str = "") -> str:
    """A key part that is missing, or a text key spelled as nothing (`NULL`, blank): exports
    write those for an absent value, and such a key identifies no one."""
    tests = []
    for name, ref in zip(spec.primary_key, key_columns(spec, alias), strict=True):
        text = spec.column(name).data_type == "VARCHAR"
        tests.append(f"{ref} IS NULL OR upper(trim({ref})) IN ('', 'NULL')" if text
                     else f"{ref} IS NULL")
    return "(" + " OR ".join(tests) + ")"


def key_match(spec: SourceTable) -> str:
    return " AND ".join(f"t.{k} = b.{k}" for k in key_columns(spec))


def exclusions(spec: SourceTable) -> dict[str, str]:
    """SQL conditions on `incoming` for rows that must not be stored: "expired" (older than the
    table's retention) and "erased" (a subject in the erasure register)."""
    found = {}
    if spec.event_time and spec.retention:
        cutoff = current_time() - timedelta(days=retention_days(spec.retention))
        found["expired"] = (f"{quote_ident(spec.event_time)} < "
                            f"TIMESTAMP {sql_literal(cutoff.isoformat(sep=' '))}")
    for column in spec.columns:
        erased = erased_ids(column.subject) if column.subject else []
        if erased:
            found.setdefault("erased", "false")
            found["erased"] += (f" OR CAST({quote_ident(column.name)} AS VARCHAR) IN "
                                f"(SELECT unnest({sql_text_list(erased)}))")
    return found


def exclude(con, spec: SourceTable, report: LoadReport) -> None:
    """Drop expired and erased rows from the batch before anything is stored, counting them."""
    for reason, condition in exclusions(spec).items():
        counts = con.execute(f"SELECT _file, count(*) FROM incoming WHERE {condition} "
                             f"GROUP BY 1").fetchall()
        if counts:
            con.execute(f"DELETE FROM incoming WHERE {condition}")
            setattr(report, f"rows_{reason}",
                    getattr(report, f"rows_{reason}") + report.tally(reason, counts))


PLACES_NAMED = 5  # a conflict names this many of its rows; a key repeated a million times


def find_duplicate_keys(con, spec: SourceTable) -> None:
    """`dup_keys`: the keys more than one routable row of the batch carries."""
    keys = ", ".join(key_columns(spec))
    con.execute(f"CREATE OR REPLACE TEMP TABLE dup_keys AS SELECT {keys} FROM incoming "
                f"WHERE NOT {key_is_null(spec)} AND _region IS NOT NULL "
                f"GROUP BY {keys} HAVING count(*) > 1")


def to_quarantine_or_compare(spec: SourceTable) -> str:
    """Rows of `incoming i` that may be quarantined, so must name their line."""
    same_key = " AND ".join(f"d.{k} = i.{k}" for k in key_columns(spec))
    return (f"{key_is_null(spec, 'i')} OR i._region IS NULL OR "
            f"EXISTS (SELECT 1 FROM dup_keys d WHERE {same_key})")


def find_losers(con, spec: SourceTable) -> bool:
    """Rows of `dup_keys` that are not stored; returns whether there are any.

    The latest cursor wins, then the latest file (a later export is a later delivery): an
    older version is superseded (problem is NULL). Rows tied for latest are one row when
    identical (the copies are superseded) and a conflict when not: nothing says which is right,
    so every one of them is quarantined, naming where the others are. With a cursor declared,
    a row without a cursor value cannot be ordered and is quarantined too.
    """
    keys = ", ".join(key_columns(spec))
    cursor = quote_ident(spec.cursor) if spec.cursor else "NULL"
    key_text = " || ',' || ".join(f"{k}::VARCHAR" for k in key_columns(spec))
    content = ", ".join(f"{quote_ident(c)} := {quote_ident(c)}" for c in spec.column_names)
    order = f"ORDER BY {cursor} DESC NULLS LAST, _file DESC"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE dup_rows AS SELECT rowid AS rid, {keys}, _file, _line, "
        f"{cursor} AS cursor_value, hash(struct_pack({content})) AS content, "
        f"dense_rank() OVER (PARTITION BY {keys} {order}) AS tier, "
        f"row_number() OVER (PARTITION BY {keys} {order}, rowid) AS rank "
        f"FROM incoming SEMI JOIN dup_keys USING ({keys}) WHERE _region IS NOT NULL")
    unordered = ("'duplicate primary key ' || key_text || ' without a "
                 f"{spec.cursor} to order it'" if spec.cursor else "NULL")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE losers AS SELECT rid, _file, _line, CASE "
        f"WHEN tier = 1 AND versions > 1 THEN 'conflicting rows for primary key ' || key_text "
        f"|| ' (' || places || ') and nothing orders them: fix the export and deliver it again' "
        f"WHEN cursor_value IS NULL AND tier > 1 THEN {unordered} END AS problem "
        f"FROM dup_rows JOIN (SELECT {keys}, {key_text} AS key_text, "
        f"count(DISTINCT content) FILTER (WHERE tier = 1) AS versions, "
        f"list(_file || ' line ' || coalesce(_line::VARCHAR, '?') ORDER BY _file, _line) "
        f"FILTER (WHERE tier = 1) AS tied, array_to_string(tied[:{PLACES_NAMED}], ', ') || "
        f"CASE WHEN len(tied) > {PLACES_NAMED} THEN ' and ' || (len(tied) - {PLACES_NAMED}) "
        f"|| ' more' ELSE '' END AS places "
        f"FROM dup_rows GROUP BY ALL) USING ({keys}) WHERE rank > 1 OR versions > 1")
    return bool(con.execute("SELECT count(*) FROM losers").fetchall()[0][0])
