"""Each kind of bad input is quarantined with a clear reason and never costs a good row, on
DuckDB files and on PostgreSQL alike."""

from __future__ import annotations

import re

import pytest

from orchestration.lib.governance.audit_log import entries
from tests.clock import stamp
from tests.conftest import run_steward
from tests.orchestration.ingest_helpers import (
    CUSTOMER_HEADER,
    SIGNED_UP,
    UPDATED,
    customer_ids,
    customer_row,
    load,
    quarantine,
    store_rows,
    write_customers,
)

pytestmark = pytest.mark.usefixtures("each_warehouse")

GOOD = [customer_row(1), customer_row(2, country="DE")]


def _loaded() -> list[int]:
    return sorted(customer_ids("eu") + customer_ids("us"))


def test_unclosed_quote_quarantines_only_its_line_and_keeps_the_rows_after_it(landing):
    write_customers(landing, "batch.csv", [
        customer_row(1), '2,"Unclosed name,x@example.com,+1,1980-01-01,male,US,'
        f'{SIGNED_UP},smb,{UPDATED}', customer_row(3), customer_row(4, "FR"),
    ])
    report = load()
    assert _loaded() == [1, 3, 4]
    [(file, line, reason, record)] = quarantine()
    assert (file, line) == ("crm/customers/batch.csv", 3)
    assert "unterminated quote" in reason and record.startswith('2,"Unclosed')
    assert report.reconciled


def test_wrong_column_count_is_quarantined_with_its_line(landing):
    write_customers(landing, "batch.csv", [*GOOD, "3,Short Row,s@example.com",
                                           customer_row(4) + ",surplus"])
    load()
    assert _loaded() == [1, 2]
    short, long = quarantine()
    assert short[1] == 4 and "Expected Number of Columns: 11 Found: 3" in short[2]
    assert long[1] == 5 and "Expected Number of Columns: 11 Found: 12" in long[2]


def test_wrong_type_names_the_column_and_value(landing):
    write_customers(landing, "batch.csv", [*GOOD, customer_row(3, birth_date="31/02/1980")])
    load()
    assert _loaded() == [1, 2]
    [(_, line, reason, _)] = quarantine()
    assert line == 4 and "birth_date" in reason and "31/02/1980" in reason


def test_non_utf8_bytes_are_quarantined(landing):
    body = "\n".join([CUSTOMER_HEADER, *GOOD]).encode() + b"\n"
    body += customer_row(3, name="Bj\xf6rn Latin1").encode("latin-1") + b"\n"
    write_customers(landing, "batch.csv", body)
    load()
    assert _loaded() == [1, 2]
    [(_, line, reason, _)] = quarantine()
    assert line == 4 and "utf-8" in reason.lower()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty (0 bytes)"),
        ((CUSTOMER_HEADER + "\n").encode(), "header but no data rows"),
    ],
    ids=["empty", "header-only"],
)
def test_empty_and_header_only_files_are_refused_whole(landing, content, expected):
    write_customers(landing, "a_good.csv", GOOD)
    write_customers(landing, "b_bad.csv", content)
    report = load()
    assert _loaded() == [1, 2]
    [(file, line, reason, _)] = quarantine()
    assert file == "crm/customers/b_bad.csv" and line is None and expected in reason
    assert list(report.files_refused) == ["crm/customers/b_bad.csv"]


def test_conflicting_rows_of_one_key_are_all_quarantined_naming_each_line(landing):
    write_customers(landing, "batch.csv", [*GOOD, customer_row(2, country="DE", name="Twin")])
    report = load()
    assert _loaded() == [1]  # neither version of 2 is a guess worth storing
    quarantined = quarantine()
    assert [line for _, line, _, _ in quarantined] == [3, 4]
    for _, _, reason, record in quarantined:
        assert reason.startswith("conflicting rows for primary key 2 (crm/customers/batch.csv "
                                 "line 3, crm/customers/batch.csv line 4)")
        assert '"customer_id":2' in record
    assert report.rows_quarantined == 2 and report.reconciled


def test_identical_copies_of_a_row_collapse_to_one(landing):
    write_customers(landing, "batch.csv", [*GOOD, GOOD[1], GOOD[1]])
    report = load()
    assert _loaded() == [1, 2] and quarantine() == []
    assert report.rows_superseded == 2 and report.reconciled


def test_a_later_export_supersedes_the_same_key_in_an_earlier_one(landing):
    write_customers(landing, "day1.csv", [customer_row(1, name="Old Name")])
    write_customers(landing, "day2.csv", [customer_row(1, name="New Name")])
    report = load()
    assert store_rows("us", "SELECT full_name FROM raw_crm.customers") == [("New Name",)]
    assert report.rows_superseded == 1 and quarantine() == [] and report.reconciled


def test_older_version_of_a_row_is_superseded_not_quarantined(landing):
    write_customers(landing, "batch.csv", [
        customer_row(1, updated_at=stamp(-365), name="Old Name"),
        customer_row(1, updated_at=stamp(-180), name="New Name"),
    ])
    report = load()
    assert store_rows("us", "SELECT full_name FROM raw_crm.customers") == [("New Name",)]
    assert report.rows_superseded == 1 and quarantine() == [] and report.reconciled


def test_null_key_is_quarantined(landing):
    write_customers(landing, "batch.csv", [*GOOD, customer_row("", country="US")])
    load()
    assert _loaded() == [1, 2]
    [(_, line, reason, record)] = quarantine()
    assert reason == "primary key customer_id is empty" and '"customer_id":null' in record
    assert line == 4


def test_unknown_country_is_quarantined_not_guessed(landing):
    write_customers(landing, "batch.csv", [*GOOD, customer_row(3, country="XX")])
    load()
    assert _loaded() == [1, 2]
    [(_, line, reason, _)] = quarantine()
    assert "country XX" in reason and "policies/regions.yaml" in reason and line == 4


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (CUSTOMER_HEADER + ",loyalty_tier", "undeclared column(s) loyalty_tier"),
        (CUSTOMER_HEADER.replace(",phone", ""), "declared column(s) phone missing"),
    ],
    ids=["extra-column", "missing-column"],
)
def test_schema_drift_refuses_the_file_with_what_to_do(landing, header, expected):
    write_customers(landing, "a_good.csv", GOOD)
    write_customers(landing, "b_drift.csv", ["9,x"], header=header)
    load()
    assert _loaded() == [1, 2]
    [(file, _, reason, _)] = quarantine()
    assert file == "crm/customers/b_drift.csv"
    assert expected in reason and "_crm__sources.yml" in reason


def test_reordered_columns_load_by_name(landing):
    columns = CUSTOMER_HEADER.split(",")
    reordered = [columns[-1], *columns[:-1]]
    values = customer_row(5).split(",")
    write_customers(landing, "batch.csv", [",".join([values[-1], *values[:-1]])],
                    header=",".join(reordered))
    load()
    assert _loaded() == [5]


def test_bad_file_in_one_source_does_not_stop_another(tiny_estate):
    write_customers(tiny_estate, "zz_broken.csv", b"\x00\x01 not a csv at all")
    customers = load("crm.customers")
    tickets = load("support.tickets")
    assert "crm/customers/zz_broken.csv" in customers.files_refused
    assert sum(tickets.rows_loaded.values()) == tickets.rows_read > 0


def test_a_quarantined_row_stays_in_its_regions_quarantine(landing):
    # An EU resident's refused rows never leave the EU store; what no region can be told for
    # (a country no region holds, a line that cannot be read) goes to the unrouted quarantine.
    write_customers(landing, "batch.csv", [
        customer_row(1, "DE"), customer_row(1, "DE", name="Twin"),
        customer_row(2, "US"), customer_row(2, "US", name="Twin"),
        customer_row(3, "ZZ"), '4,"never closed,x@example.com',
        customer_row(5, "DE", birth_date="not-a-date")])
    report = load()
    assert report.rows_quarantined == 7 and report.reconciled
    # A line refused as unreadable but with every field in place still shows its country.
    assert [(line, '"country":"DE"' in record) for _, line, _, record in quarantine("eu")] == [
        (2, True), (3, True), (8, False)]
    assert [line for _, line, _, _ in quarantine("us")] == [4, 5]
    assert [line for _, line, _, _ in quarantine("unrouted")] == [6, 7]
    # Governance sees each quarantine, and a look at the records is on the record.
    shown = run_steward(["quarantine", "--records", "eu"], landing.parent)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^eu +crm\.customers +2 +since", shown.stdout, re.M)
    assert re.search(r"^unrouted +crm\.customers +1 ", shown.stdout, re.M)
    assert shown.stdout.count('"country":"DE"') == 2 and "Twin" in shown.stdout
    assert [(e.kind, e.subject) for e in entries()][-1] == ("quarantine.read", "eu")
