"""Loads are idempotent, incremental by file, reconciled, routed by region, and atomic, on
DuckDB files and on PostgreSQL alike."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import duckdb
import pytest

from orchestration.lib.estate import TABLES, estate_connection, write_table
from orchestration.lib.ingest.commit import StoredSchemaError
from orchestration.lib.ingest.loader import load_table
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import store_path, write_connection
from tests.clock import day, stamp
from tests.conftest import fresh_stores
from tests.orchestration.ingest_helpers import (
    customer_ids,
    customer_row,
    load,
    quarantine,
    spec,
    store_rows,
    write_customers,
)

pytestmark = pytest.mark.usefixtures("each_warehouse")


def test_rerun_over_the_same_files_loads_nothing(tiny_estate):
    first = load("web.events")
    second = load("web.events")
    assert sum(first.rows_loaded.values()) == first.rows_read > 0
    assert second.files_new == [] and second.rows_read == 0
    assert second.table_rows == first.table_rows


def test_a_new_file_loads_only_that_file(landing):
    write_customers(landing, "day1.csv", [customer_row(1), customer_row(2, "DE")])
    load()
    write_customers(landing, "day2.csv", [customer_row(3, "FR")])
    report = load()
    assert report.files_new == ["crm/customers/day2.csv"]
    assert report.rows_read == 1 and report.rows_loaded == {"eu": 1, "us": 0}
    assert customer_ids("eu") == [2, 3] and customer_ids("us") == [1]


def test_a_load_that_stopped_after_one_region_committed_loads_only_the_other(tiny_estate):
    # Tickets have no cursor, so nothing but the load log keeps eu's rows from loading again.
    first = load("support.tickets")
    with write_connection(store_path("us")) as con:  # as if it stopped before us committed
        con.execute("DELETE FROM raw_support.tickets")
        con.execute("DELETE FROM _steward.loaded_files")
    tickets = "SELECT ticket_id, _loaded_at FROM raw_support.tickets ORDER BY 1"
    stored_in_eu = store_rows("eu", tickets)
    report = load("support.tickets")
    assert report.rows_loaded == {"eu": 0, "us": first.rows_loaded["us"]} and report.reconciled
    assert report.rows_unchanged == first.rows_loaded["eu"] > 0
    assert store_rows("eu", tickets) == stored_in_eu
    assert report.table_rows == first.table_rows


def test_a_newly_declared_column_is_added_to_the_stored_table(landing):
    write_customers(landing, "day1.csv", [customer_row(1), customer_row(2, "DE")])
    load()
    for region in ("eu", "us"):  # as stored before lead_status was declared
        with write_connection(store_path(region)) as con:
            con.execute("ALTER TABLE raw_crm.customers DROP COLUMN lead_status")
    write_customers(landing, "day2.csv", [customer_row(3)])
    report = load()
    assert report.columns_added == {"eu": ["lead_status"], "us": ["lead_status"]}
    assert store_rows("us", "SELECT customer_id, lead_status FROM raw_crm.customers "
                            "ORDER BY 1") == [(1, None), (3, "open")]
    assert load().columns_added == {"eu": [], "us": []}


def test_a_declared_type_unlike_the_stored_one_is_a_clear_error_and_loses_nothing(landing):
    write_customers(landing, "day1.csv", [customer_row(1), customer_row(2, "DE")])
    load()
    declared = spec("crm.customers")
    retyped = replace(declared, columns=tuple(
        replace(c, data_type="VARCHAR") if c.name == "customer_id" else c
        for c in declared.columns))
    write_customers(landing, "day2.csv", [customer_row(3)])
    with pytest.raises(StoredSchemaError, match=r"stores customer_id as BIGINT, but "
                                                r"\S+ declares customer_id VARCHAR"):
        load_table(retyped, ["eu", "us"], run_id="test")
    assert customer_ids("us") == [1] and customer_ids("eu") == [2]
    assert load().rows_loaded == {"eu": 0, "us": 1}  # the declaration put back: loads


def test_a_newer_export_updates_and_an_older_one_is_ignored(landing):
    write_customers(landing, "day1.csv", [customer_row(1, updated_at=stamp(-60))])
    load()
    write_customers(landing, "day2.csv", [
        customer_row(1, name="Renamed", updated_at=stamp(-30))])
    write_customers(landing, "day0.csv", [
        customer_row(1, name="Ancient", updated_at=stamp(-400))])
    report = load()
    assert store_rows("us", "SELECT full_name FROM raw_crm.customers") == [("Renamed",)]
    assert report.reconciled and report.rows_read == 2
    assert report.rows_superseded + report.rows_unchanged == 1


def test_rows_land_only_in_their_regions_store(tiny_estate):
    load("crm.customers")
    eu = {c for (c,) in store_rows("eu", "SELECT DISTINCT country FROM raw_crm.customers")}
    us = {c for (c,) in store_rows("us", "SELECT DISTINCT country FROM raw_crm.customers")}
    assert us == {"US"} and eu and "US" not in eu


def test_reconciliation_is_recorded_per_load(tiny_estate):
    report = load("support.tickets")
    assert report.rows_read == report.accounted == sum(report.rows_loaded.values())


def test_a_clean_parquet_batch_logs_each_file_s_rows_as_each_region_stored_them(tiny_estate):
    # A clean Parquet batch is counted once by file and region, not once per region; each
    # region's load log must still say, file by file, the rows that region stored.
    report = load("billing.invoices")
    assert report.reconciled and report.rows_loaded["eu"] and report.rows_loaded["us"]
    for region in ("eu", "us"):
        logged = store_rows(region, "SELECT load_id, rows_loaded FROM _steward.loaded_files "
                                    "WHERE source_table = 'billing.invoices' ORDER BY 1")
        stored = store_rows(region, "SELECT _load_id, count(*) FROM raw_billing.invoices "
                                    "GROUP BY 1 ORDER BY 1")
        assert logged == stored and len(logged) == len(report.files_new)


def test_parquet_retyped_column_is_refused_as_drift(landing):
    folder = landing / "billing" / "invoices"
    folder.mkdir(parents=True)
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT 1::BIGINT AS invoice_id, 2::BIGINT AS customer_id, "
                    f"'US' AS billing_country, now()::TIMESTAMP AS issued_at, "
                    f"current_date AS due_date, 'ten' AS amount, 'USD' AS currency, "
                    f"'paid' AS status) TO '{folder / 'retyped.parquet'}' (FORMAT parquet)")
    report = load("billing.invoices")
    [(_, _, reason, _)] = quarantine()
    assert "amount is VARCHAR in the file but declared DECIMAL(12,2)" in reason
    assert report.files_refused and report.rows_read == 0


def test_jsonl_bad_lines_are_quarantined_with_their_line(landing):
    folder = landing / "web" / "events"
    folder.mkdir(parents=True)
    today = day()  # inside the 90 days web events are kept
    good = ('{"event_id": %d, "customer_id": 1, "ip_address": "10.0.0.1", "geo_country": "DE", '
            '"event_type": "page_view", "page": "/", "occurred_at": "' + today + ' 00:00:00"}')
    (folder / "events.jsonl").write_text("\n".join([
        good % 1, "{not json", good % 2, good.replace(today, "yesterday") % 3,
    ]) + "\n")
    report = load("web.events")
    assert report.rows_loaded == {"eu": 2, "us": 0}
    rows = quarantine()
    assert [(r[1], r[2]) for r in rows] == [
        (2, "not a JSON object"),
        (4, "occurred_at: cannot convert yesterday 00:00:00 to TIMESTAMP"),
    ]


def _write_big_customer_file(landing, rows: int) -> None:
    table = next(t for t in TABLES if t.table == "customers")
    con = estate_connection(seed=3, customers=rows)
    write_table(con, table, rows, 1, landing / "crm" / "customers")
    con.close()


KILL_SCRIPT = """
from tests.orchestration.ingest_helpers import load
load()
"""


def _load_in_child(kill_after: float | None = None) -> tuple[float, bool]:
    """Run a load into the current stores in a real subprocess; SIGKILL it after `kill_after`
    seconds if given. Returns the seconds it ran and whether it was still running when
    killed."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT], env=dict(os.environ),
                             cwd=os.getcwd())
    if kill_after is None:
        assert child.wait() == 0
        return time.monotonic() - started, False
    time.sleep(kill_after)
    still_running = child.poll() is None
    child.send_signal(signal.SIGKILL)
    child.wait()
    return time.monotonic() - started, still_running


@pytest.mark.parametrize("fraction", [0.5, 0.85])
def test_a_load_killed_midway_then_rerun_has_no_duplicates_and_no_loss(landing, fraction,
                                                                        monkeypatch):
    rows = 400_000
    _write_big_customer_file(landing, rows)
    # Time a whole load first (into other stores) so the kill lands inside the load on any
    # machine, not during the interpreter's start.
    fresh_stores(landing.parent / "timing-store", monkeypatch)
    full, _ = _load_in_child()
    for attempt in range(4):  # a busy machine can make the timed load the slow one: kill sooner
        fresh_stores(landing.parent / f"store-{attempt}", monkeypatch)
        _, still_running = _load_in_child(full * fraction * 0.8 ** attempt)
        if still_running:
            break
    assert still_running, "the load finished before the kill, four times"
    load()
    total = 0
    for region in ("eu", "us"):
        [(count, distinct)] = store_rows(
            region, "SELECT count(*), count(DISTINCT customer_id) FROM raw_crm.customers")
        assert count == distinct
        total += count
    assert total == rows


def test_loading_file_by_file_gives_the_same_tables_as_one_batch(tiny_estate, monkeypatch):
    whole = load("web.events")
    fresh_stores(tiny_estate.parent / "store-by-file", monkeypatch)
    monkeypatch.setenv("STEWARD_INGEST_BATCH_BYTES", "1")
    by_file = load("web.events")
    assert by_file.table_rows == whole.table_rows and by_file.reconciled
    assert len(by_file.files_new) == 2


def test_the_reconciliation_check_fails_when_rows_go_missing(tiny_estate):
    from orchestration.defs.ingest.assets import reconciliation_result

    report = load("support.tickets")
    assert reconciliation_result(report).passed
    report.rows_loaded["us"] -= 1  # a row read but neither loaded nor quarantined
    failed = reconciliation_result(report)
    assert not failed.passed and "accounted for" in failed.description


def test_rows_past_retention_on_arrival_are_counted_not_stored(tiny_estate, monkeypatch):
    monkeypatch.setenv("STEWARD_NOW", day(365))  # every web event is past its 90 days
    report = load("web.events")
    assert report.rows_read > 0 and report.rows_expired == report.rows_read
    assert report.reconciled and report.table_rows == {"eu": 0, "us": 0}


def test_an_erased_subject_is_not_loaded_again(landing):
    from orchestration.lib.governance.suppression import begin_erasure

    write_customers(landing, "day1.csv", [customer_row(1), customer_row(2, "DE")])
    # Registered, still pending: that alone keeps the subject out.
    begin_erasure("customer", "2", current_time(), "receipt-test", "{}")
    report = load()
    assert report.rows_erased == 1 and report.reconciled
    assert customer_ids("eu") == [] and customer_ids("us") == [1]
