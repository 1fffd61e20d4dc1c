"""Great Expectations suites run inside the store, DuckDB file or PostgreSQL database: real
observed values, the right failures for seeded bad data, and a validation that errors never
counts as a pass."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import dagster as dg
import pytest
import sqlalchemy

from orchestration.lib.quality import reuse
from orchestration.lib.quality.checks import run_suite
from orchestration.lib.quality.suites import ExpectationSpec, load_suites
from orchestration.lib.quality.validate import validate
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import store_path, write_connection
from tests.clock import stamp
from tests.orchestration.ingest_helpers import (
    customer_row,
    load,
    quarantine,
    store_rows,
    write_customers,
)

KEY = dg.AssetKey(["crm", "customers"])
pytestmark = pytest.mark.usefixtures("each_warehouse")


def _suite(name: str):
    return next(s for s in load_suites() if s.name == name)


@pytest.fixture
def customers(landing):
    write_customers(landing, "batch.csv", [customer_row(i, "US") for i in range(1, 21)])
    load()


def test_every_expectation_reports_what_it_observed(customers):
    outcome = validate(_suite("crm_customers"), "us", "raw_crm", "customers")
    by_label = {o.spec.label: o for o in outcome.outcomes}
    assert outcome.passed and len(by_label) == 10
    assert by_label["expect_table_row_count_to_be_between"].observed == 20
    assert by_label["expect_column_values_to_be_in_set(gender)"].unexpected_count == 0
    assert by_label["expect_column_proportion_of_unique_values_to_be_between(email)"
                    ].observed == 1.0
    assert all(o.error is None for o in outcome.outcomes)


def test_seeded_bad_values_fail_exactly_their_expectations(landing):
    bad_gender = customer_row(2).replace(",female,", ",unknown,")
    bad_email = customer_row(3).replace("a3@example.com", "not-an-email")
    write_customers(landing, "batch.csv", [customer_row(1), bad_gender, bad_email])
    load()
    outcome = validate(_suite("crm_customers"), "us", "raw_crm", "customers")
    failed = {o.spec.label: o for o in outcome.outcomes if not o.success}
    assert set(failed) == {"expect_column_values_to_be_in_set(gender)",
                           "unexpected_rows_expectation(email looks like an address)"}
    assert failed["expect_column_values_to_be_in_set(gender)"].unexpected_sample == ["unknown"]
    assert failed["unexpected_rows_expectation(email looks like an address)"].observed == 1
    assert outcome.blocking


def test_an_unexpected_rows_query_scans_the_table_once_for_a_summary(customers):
    """GE's own form fetches the rows and counts them, two scans; a summary shows the count."""
    statements = []

    def record(conn, cursor, statement, *_) -> None:
        statements.append(statement)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", record)
    try:
        outcome = validate(_suite("crm_customers"), "us", "raw_crm", "customers")
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", record)
    assert outcome.passed
    email_checks = [s for s in statements if "A-Za-z" in s and "email" in s]  # its pattern
    assert len(email_checks) == 1 and "count(" in email_checks[0].lower()


def test_a_validation_that_errors_is_a_failure_not_a_pass(customers):
    broken = dataclasses.replace(_suite("crm_customers"), expectations=(
        ExpectationSpec("expect_column_values_to_not_be_null", {"column": "no_such_column"},
                        "error"),))
    [outcome] = validate(broken, "us", "raw_crm", "customers").outcomes
    assert not outcome.success and outcome.error


def test_warnings_report_without_blocking_and_history_is_kept(customers):
    suite = dataclasses.replace(_suite("crm_customers"), expectations=(
        ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 1000}, "warning"),))
    result = run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], "run-1")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "observed 20" in str(result.metadata["expectations"].value)
    [(success, observed, run_id)] = store_rows(
        "us", "SELECT success, observed, run_id FROM _steward.quality_results")
    assert (success, observed, run_id) == (False, "20", "run-1")


def test_quarantine_mode_moves_failing_rows_and_keeps_the_good_ones(landing):
    bad_gender = customer_row(2).replace(",female,", ",unknown,")
    bad_email = customer_row(3).replace("a3@example.com", "not-an-email")
    write_customers(landing, "batch.csv", [customer_row(1), bad_gender, bad_email,
                                           customer_row(4)])
    load()
    suite = _suite("crm_customers")
    assert suite.failing_rows == "quarantine"
    result = run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], "run-q", ("customer_id",))
    assert result.passed and result.metadata["rows_quarantined"].value == 2
    assert store_rows("us", "SELECT customer_id FROM raw_crm.customers ORDER BY 1") == [(1,), (4,)]
    reasons = {r[2] for r in quarantine()}
    assert reasons == {"quality crm_customers: expect_column_values_to_be_in_set(gender)",
                       "quality crm_customers: unexpected_rows_expectation(email looks like an "
                       "address)"}


def test_quarantine_mode_moves_every_failing_row_however_many_ge_would_list(landing):
    # On SQL, GE lists 20 of a column expectation's failing rows and 200 of a query's.
    bad_genders = [customer_row(i).replace(",female,", ",unknown,") for i in range(1, 31)]
    bad_emails = [customer_row(i).replace(f"a{i}@example.com", "not-an-email")
                  for i in range(31, 261)]
    write_customers(landing, "batch.csv", [*bad_genders, *bad_emails, customer_row(261)])
    load()
    result = run_suite(KEY, _suite("crm_customers"), ("raw_crm", "customers"), ["us"], "run-q",
                       ("customer_id",))
    assert result.passed and result.metadata["rows_quarantined"].value == 260
    assert store_rows("us", "SELECT customer_id FROM raw_crm.customers") == [(261,)]
    assert len(quarantine()) == 260


def test_block_mode_keeps_rows_and_fails_the_check(landing):
    write_customers(landing, "batch.csv", [customer_row(1), customer_row(2).replace(
        ",female,", ",unknown,")])
    load()
    suite = dataclasses.replace(_suite("crm_customers"), failing_rows="block")
    result = run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], "run-b", ("customer_id",))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert len(store_rows("us", "SELECT * FROM raw_crm.customers")) == 2


def test_the_quality_page_shows_the_latest_results(landing, data_dir, mid_hour):
    from orchestration.lib.quality.docs import write_quality_docs

    write_customers(landing, "batch.csv", [customer_row(1), customer_row(2).replace(
        ",female,", ",unknown,")])
    load()
    suite = dataclasses.replace(_suite("crm_customers"), failing_rows="block")
    run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], "run-page", ("customer_id",))
    page = write_quality_docs(data_dir / "reports" / "quality.html").read_text()
    assert "crm_customers · crm/customers · us" in page and "run-page" in page
    assert 'failed (error)</span></td><td></td><td>1</td><td><code>[&quot;unknown&quot;]' in page
    assert "not validated again" not in page
    # A history written before outcomes were kept, without kept_from, still shows.
    _change("ALTER TABLE _steward.quality_results DROP COLUMN kept_from")
    assert "run run-page at " in write_quality_docs(data_dir / "reports" / "quality.html"
                                                    ).read_text()
    run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], "run-again", ("customer_id",))
    again = write_quality_docs(data_dir / "reports" / "quality.html").read_text()
    assert "run run-again at " in again and "not validated again, the outcome of " in again


def test_the_history_is_read_as_far_back_as_asked(customers, mid_hour):
    from orchestration.lib.quality.history import recorded

    suite = _suite("crm_customers")
    for run_id in ("run-1", "run-2", "run-3"):
        _check(suite, run_id)
    assert [row.run_id for row in recorded("us", 2)] == ["run-3"] * len(suite.expectations) + [
        "run-2"] * len(suite.expectations)
    assert {row.run_id for row in recorded("us", 5)} == {"run-1", "run-2", "run-3"}


@pytest.fixture
def mid_hour(monkeypatch):
    """Steward's clock running from half past its hour: a test's seconds never cross into the
    next hour, which a suite reading {now} would take for a change."""
    now = datetime.now(UTC).replace(tzinfo=None)
    half_past = current_time().replace(minute=30, second=0, microsecond=0)
    monkeypatch.setenv("STEWARD_NOW", f"{(half_past - now).total_seconds():+.0f}s")


def _check(suite, run_id: str) -> dg.AssetCheckResult:
    return run_suite(KEY, suite, ("raw_crm", "customers"), ["us"], run_id, ("customer_id",))


def _change(sql: str) -> None:
    with write_connection(store_path("us")) as con:
        con.execute(sql)


def test_an_unchanged_table_keeps_its_outcome_and_any_change_validates_it_again(customers,
                                                                                mid_hour,
                                                                                monkeypatch):
    suite = _suite("crm_customers")
    first = _check(suite, "run-1")
    assert first.passed and first.metadata["not_validated_again"].value == "none"
    validations = []
    monkeypatch.setattr(reuse, "validate", lambda *args: validations.append(args) or
                        validate(*args))
    again = _check(suite, "run-2")
    assert again.passed and again.metadata["not_validated_again"].value == "us"
    assert validations == [] and "not validated again" in again.description
    assert again.metadata["validated_at"].value == first.metadata["validated_at"].value
    assert store_rows("us", "SELECT count(DISTINCT run_id) FROM _steward.quality_results") == [
        (2,)]
    # The history says the second run kept the first run's outcome, and from when.
    [(first_at, kept_from)] = store_rows(
        "us", "SELECT DISTINCT v.validated_at, k.kept_from FROM _steward.quality_results v, "
        "_steward.quality_results k WHERE v.run_id = 'run-1' AND k.run_id = 'run-2'")
    assert kept_from == first_at
    assert store_rows("us", "SELECT count(*) FROM _steward.quality_results WHERE "
                      "run_id = 'run-1' AND kept_from IS NOT NULL") == [(0,)]
    # A value changed in the store by hand, not by a load, is seen: validated, and failing.
    _change("UPDATE raw_crm.customers SET gender = 'unknown' WHERE customer_id = 3")
    changed = run_suite(KEY, dataclasses.replace(suite, failing_rows="block"),
                        ("raw_crm", "customers"), ["us"], "run-3")
    assert not changed.passed and changed.metadata["not_validated_again"].value == "none"
    assert len(validations) == 1
    # So is a column added, even empty, and a row deleted.
    _change("UPDATE raw_crm.customers SET gender = 'female' WHERE customer_id = 3")
    _check(suite, "run-4")
    _change("ALTER TABLE raw_crm.customers ADD COLUMN note VARCHAR")
    assert _check(suite, "run-5").metadata["not_validated_again"].value == "none"
    _change("DELETE FROM raw_crm.customers WHERE customer_id = 20")
    fewer = _check(suite, "run-6")
    assert fewer.metadata["not_validated_again"].value == "none" and len(validations) == 4
    assert "observed 19" in str(fewer.metadata["expectations"].value)


def test_a_changed_suite_or_a_new_hour_for_a_clock_reading_suite_validates_again(customers,
                                                                                 mid_hour,
                                                                                 monkeypatch):
    suite = _suite("crm_customers")
    reads_now = [spec for spec in suite.expectations if "{now}" in str(spec.kwargs)]
    clockless = dataclasses.replace(suite, name="crm_customers_clockless", expectations=tuple(
        spec for spec in suite.expectations if spec not in reads_now))
    assert reads_now and len(clockless.expectations) < len(suite.expectations)
    for each in (suite, clockless):
        _check(each, "run-1")
    with monkeypatch.context() as later:
        later.setenv("STEWARD_NOW", stamp(days=1 / 24))  # an hour on: another hour
        assert _check(suite, "run-2").metadata["not_validated_again"].value == "none"
        assert _check(clockless, "run-2").metadata["not_validated_again"].value == "us"
    stricter = dataclasses.replace(clockless, failing_rows="block", expectations=(
        ExpectationSpec("expect_table_row_count_to_be_between", {"min_value": 21}, "error"),
        *clockless.expectations[1:]))
    changed_suite = run_suite(KEY, stricter, ("raw_crm", "customers"), ["us"], "run-3")
    assert not changed_suite.passed
    assert changed_suite.metadata["not_validated_again"].value == "none"
