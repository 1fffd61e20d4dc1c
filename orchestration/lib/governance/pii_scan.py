"""Running the policy engine's PII detectors over stored data: every row of a load as it
is stored, and a sample of any stored table.

At load, DuckDB picks the values of the scanned columns that the detectors' PREFILTER matches
(one pass over each column); only those distinct values reach the detectors. Names are not in
the prefilter (they need a dictionary), so they are found from the sample.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from orchestration.lib.ingest.ledger import FINDINGS_TABLE
from orchestration.lib.warehouse import (
    Connection,
    qualified,
    quote_ident,
    sample,
    sql_literal,
    table_columns,
    table_exists,
)
from policies.detection import (
    FULL_SCAN_KINDS,
    PREFILTER,
    Findings,
    scan,
    scan_counted,
)
from policies.engine import DETECTED_LEVEL
from policies.rules import load_rules

SAMPLE_ROWS = 500
TEXT_TYPES = ("VARCHAR",)
# Distinct candidate values judged per column and load: a column with more is full of PII-like
# text already, and the first this many say so.
MAX_CANDIDATES = 50_000
PROBE_ROWS = 10_000  # the first rows of a load, read to tell a column of few values


def columns_below_detection(columns: Iterable[tuple[str, str, str]]) -> list[str]:
    """Of (name, type, classification), the text columns whose classification would not admit
    the PII a detector finds: the ones worth scanning."""
    rules = load_rules()
    return [name for name, data_type, level in columns if data_type.upper() in TEXT_TYPES
            and rules.rank(level) < rules.rank(DETECTED_LEVEL)]


def _repeats_few_values(con: Connection, relation: str, name: str) -> bool:
    """Whether the column's first PROBE_ROWS rows hold at most one distinct value in ten."""
    [(distinct, rows)] = con.execute(
        f"SELECT count(DISTINCT {name}), count(*) FROM "
        f"(SELECT {name} FROM {relation} LIMIT {PROBE_ROWS})").fetchall()
    return distinct * 10 <= rows


def _candidates_query(con: Connection, relation: str, name: str) -> str:
    """The values the prefilter matches, counted by region and file. A column that repeats a
    few values (countries, statuses) is counted first and each value matched once: at 10M
    rows 0.2 s instead of 0.7 s. Any other is matched row by row, so that counting does not
    hold millions of distinct texts; either way the same values and counts."""
    matches = f"regexp_matches({name}, {sql_literal(PREFILTER)})"
    if _repeats_few_values(con, relation, name):
        return (f"SELECT * FROM (SELECT _region, _file, {name}, count(*) FROM {relation} "
                f"GROUP BY 1, 2, 3) WHERE {matches} LIMIT {MAX_CANDIDATES}")
    return (f"SELECT _region, _file, {name}, count(*) FROM {relation} WHERE {matches} "
            f"GROUP BY 1, 2, 3 LIMIT {MAX_CANDIDATES}")


def scan_every_row(con: Connection, relation: str,
                   columns: list[str]) -> dict[tuple[str, str, str], Findings]:
    """Findings by (region, file, column) over every row of `relation`, which carries
    `_region` and `_file`."""
    found: dict[tuple[str, str, str], Findings] = {}
    for column in columns:
        candidates = con.execute(_candidates_query(con, relation, quote_ident(column))).fetchall()
        by_place = defaultdict(list)
        for region, file, value, rows in candidates:
            by_place[(region, file)].append((value, rows))
        for (region, file), counted in by_place.items():
            findings = scan_counted(counted, FULL_SCAN_KINDS)
            if findings.detected:
                found[(region, file, column)] = findings
    return found


def loaded_findings(con: Connection, schema: str,
                    table: str) -> dict[str, Findings]:
    """What the scans at load found in the raw table `schema.table`, by column: the findings
    of every load that still has rows stored (one whose rows were all replaced or purged
    since no longer counts)."""
    if not table_exists(con, *FINDINGS_TABLE.split(".")):
        return {}
    relation = qualified(schema, table)
    rows = con.execute(
        f"SELECT column_name, kind, sum(hits), min(example) FROM {FINDINGS_TABLE} f "
        f"WHERE load_id IN (SELECT DISTINCT _load_id FROM {relation}) GROUP BY 1, 2").fetchall()
    if not rows:
        return {}
    [(stored,)] = con.execute(f"SELECT count(*) FROM {relation}").fetchall()
    found: dict[str, Findings] = {}
    for column, kind, hits, example in rows:
        findings = found.setdefault(column, Findings(sampled=stored, scope="loaded"))
        findings.hits[kind] = int(hits)
        findings.examples[kind] = example
    return found


def scan_relation(con: Connection, schema: str, table: str,
                  sample_rows: int = SAMPLE_ROWS) -> dict[str, Findings]:
    """Findings per text column, from a repeatable reservoir sample of the relation."""
    columns = [name for name, kind in table_columns(con, schema, table).items()
               if kind in TEXT_TYPES and not name.startswith("_")]
    if not columns:
        return {}
    rows = con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in columns)} FROM "
        f"{sample(qualified(schema, table), sample_rows)}").fetchall()
    return {column: scan(row[i] for row in rows) for i, column in enumerate(columns)}
