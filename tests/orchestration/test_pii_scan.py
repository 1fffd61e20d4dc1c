"""The scan at load counts the values the detectors judge the same way whatever the column."""

from __future__ import annotations

from orchestration.lib.governance.pii_scan import _repeats_few_values, scan_every_row
from orchestration.lib.warehouse.duckdb import engine


def test_a_column_of_few_values_and_one_of_distinct_texts_give_the_same_findings():
    con = engine()
    # Two emails planted in 20,000 rows: among three repeated statuses, and among notes that
    # are each different.
    con.execute("""
        CREATE TABLE loaded AS SELECT 'eu' AS _region, 'export.csv' AS _file,
            CASE WHEN i IN (7777, 15001) THEN 'write to jo.doe@example.com'
                 ELSE ['open', 'closed', 'won'][i % 3 + 1] END AS status,
            CASE WHEN i IN (7777, 15001) THEN 'write to jo.doe@example.com'
                 ELSE 'note number ' || i END AS note
        FROM range(20000) AS rows(i)""")
    assert _repeats_few_values(con, "loaded", "status")
    assert not _repeats_few_values(con, "loaded", "note")
    found = scan_every_row(con, "loaded", ["status", "note"])
    by_status, by_note = (found[("eu", "export.csv", column)] for column in ("status", "note"))
    assert by_status.hits == by_note.hits and sum(by_status.hits.values()) == 2
    con.close()
