"""Seeded bad values in a real run: exactly the right suites fail, the quarantine-mode suite
moves its bad rows out, and the block-mode suite holds back everything downstream."""

from __future__ import annotations

import duckdb
import pytest

from tests.clock import day, stamp
from tests.conftest import write_tiny_estate
from tests.orchestration.ingest_helpers import quarantine, store_rows

BAD_INVOICE = ("SELECT 999999::BIGINT AS invoice_id, 1::BIGINT AS customer_id, "
               "'US' AS billing_country, TIMESTAMP '{issued}' AS issued_at, "
               "DATE '{due}' AS due_date, 12.50::DECIMAL(12,2) AS amount, "
               "'XXX' AS currency, 'paid' AS status")


def bad_ticket() -> str:
    """A support export whose ticket has a priority outside the allowed set."""
    return ("ticket_id,customer_id,customer_country,opened_at,channel,priority,subject,body,"
            f"status\n999999,1,US,{stamp(-60)},email,whenever,Hello,Please help,open\n")


@pytest.fixture(scope="module")
def seeded_run(module_data_dir, dbt_manifest):
    landing = write_tiny_estate(module_data_dir / "landing")
    with duckdb.connect() as con:
        invoice = BAD_INVOICE.format(issued=stamp(-60), due=day(-30))
        con.execute(f"COPY ({invoice}) TO '{landing}/billing/invoices/invoices_bad.parquet' "
                    "(FORMAT parquet)")
    tickets = landing / "support" / "tickets"
    (tickets / "tickets_bad.csv").write_text(bad_ticket())
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.operations.runner import run_pipeline

    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    success, outcomes = run_pipeline(build_definitions(), ["eu", "us"], keys)
    return success, {(o.asset, o.region): o for o in outcomes}


def test_quarantine_mode_moves_the_bad_invoice_and_passes(seeded_run):
    _, outcomes = seeded_run
    assert outcomes[("billing/invoices", "us")].status == "ok"
    assert store_rows("us", "SELECT count(*) FROM raw_billing.invoices "
                            "WHERE invoice_id = 999999") == [(0,)]
    # In the quarantine of the invoice's own region, nowhere else.
    reasons = [reason for _, _, reason, record in quarantine("us") if "999999" in record]
    assert reasons == ["quality billing_invoices: expect_column_values_to_be_in_set(currency)"]
    assert not [r for r in quarantine("eu") + quarantine("unrouted") if "999999" in str(r)]


def test_block_mode_fails_only_its_suite_and_holds_back_what_reads_tickets(seeded_run):
    success, outcomes = seeded_run
    assert not success
    tickets = outcomes[("support/tickets", "us")]
    assert tickets.status == "FAILED CHECKS" and tickets.checks_failed == 1
    for region in ("eu", "us"):
        for held in ("staging/stg_support__tickets", "intermediate/int_tickets_redacted",
                     "marts/ticket_features", "marts/customer_features"):
            assert outcomes[(held, region)].blocked == (
                "upstream check failed: support/tickets quality__support_tickets")
        # invoice_features does not read tickets: it still builds.
        assert outcomes[("marts/invoice_features", region)].rows > 0


def test_exactly_the_seeded_expectations_failed(seeded_run):
    failed = {row for region in ("eu", "us") for row in store_rows(
        region, "SELECT suite, expectation, unexpected_sample FROM _steward.quality_results "
                "WHERE NOT success")}
    assert failed == {
        ("billing_invoices", "expect_column_values_to_be_in_set(currency)", '["XXX"]'),
        ("support_tickets", "expect_column_values_to_be_in_set(priority)", '["whenever"]'),
    }
