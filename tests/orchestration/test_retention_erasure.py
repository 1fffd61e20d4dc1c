"""Retention and erasure on a real pipeline run: with the clock moved forward the purge deletes
exactly the expired rows; an erased customer leaves no row anywhere, also after a full
re-run from the landing files."""

from __future__ import annotations

import shutil
from datetime import datetime

import dagster as dg
import pytest

from orchestration.lib.governance.audit_log import entries
from orchestration.lib.settings import get_settings
from tests.clock import moment
from tests.conftest import write_tiny_estate
from tests.orchestration.ingest_helpers import store_rows

# The erasure test runs on what the purge test left: `--dist loadfile` (Makefile) keeps a
# module's tests on one worker, in order.
REGIONS = ("eu", "us")


def _pipeline() -> tuple[bool, list]:
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.operations.runner import run_pipeline

    keys = [key for asset in build_ingest_assets() for key in asset.keys]
    return run_pipeline(build_definitions(), list(REGIONS), keys)


@pytest.fixture(scope="module")
def estate(module_data_dir, dbt_manifest):
    write_tiny_estate(module_data_dir / "landing")
    success, _ = _pipeline()
    assert success
    return module_data_dir


def _count(region: str, table: str, where: str = "true") -> int:
    return store_rows(region, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]


def _stores(asset: str) -> tuple[str, ...]:
    """Where an asset is kept: each region's store, or the global one (Steward's telemetry)."""
    from orchestration.lib.governance.policy_adapter import project_evaluation

    return ("global",) if project_evaluation().effective[asset].region == "global" else REGIONS


def _split(asset: str, event_time: str, cutoff: datetime) -> dict[str, tuple[int, int]]:
    """(expired, kept) rows per store of one asset, counted straight from the stores."""
    from orchestration.lib.governance.registry import relations

    table = ".".join(f'"{part}"' for part in relations()[asset])
    return {r: (_count(r, table, f"{event_time} < '{cutoff}'"),
                _count(r, table, f"{event_time} >= '{cutoff}'")) for r in _stores(asset)}


def test_the_purge_deletes_exactly_the_expired_rows(estate, monkeypatch):
    from orchestration.lib.governance.policy_checks import evaluate_policy
    from orchestration.lib.governance.retention import purge
    from orchestration.lib.report.policy import retention as retention_section

    monkeypatch.setenv("STEWARD_NOW", moment(400).isoformat())  # past the 1y of telemetry
    plan = purge(dry_run=True)
    before = {t.asset: _split(t.asset, t.event_time, t.cutoff) for t in plan.plan.targets}
    assert {asset for asset, split in before.items()
            if any(expired for expired, _ in split.values())} >= {
        "web/events", "support/tickets", "marts/ticket_features", "telemetry/runs"}
    for item in plan.assets:  # the dry run counts exactly the expired rows and deletes nothing
        stores = _stores(item.asset)
        assert {r: item.rows[r] for r in stores} == {
            r: before[item.asset][r][0] for r in stores}, item.asset
    assert {t.asset: _split(t.asset, t.event_time, t.cutoff) for t in plan.plan.targets} == before
    # The report shows governance what the purge would delete, the global store's included.
    shown = {row["target"].asset: row["late"] for row in retention_section()["rows"]}
    assert shown == {asset: sum(expired for expired, _ in split.values())
                     for asset, split in before.items()}
    # The blocking policy check sees the expired rows before the purge, and none after.
    check = evaluate_policy(dg.AssetKey(["web", "events"]), ("raw_web", "events"), list(REGIONS))
    assert not check.passed and "retention.rows_past_limit" in check.description

    report = purge()
    for target in report.plan.targets:
        after = _split(target.asset, target.event_time, target.cutoff)
        assert after == {r: (0, before[target.asset][r][1]) for r in _stores(target.asset)}, (
            target.asset)
    check = evaluate_policy(dg.AssetKey(["web", "events"]), ("raw_web", "events"), list(REGIONS))
    assert check.passed, check.description
    # Landing files past the web retention are gone; one audit entry per purged asset.
    assert not list((get_settings().landing_dir / "web" / "events").glob("*"))
    assert list((get_settings().landing_dir / "crm" / "customers").glob("*"))
    purged = [e.subject for e in entries() if e.kind == "retention.purged"]
    assert sorted(purged) == sorted(a.asset for a in report.assets)


def _subject_with_tickets() -> tuple[str, int]:
    for region in REGIONS:
        rows = store_rows(region, "SELECT customer_id, count(*) FROM raw_support.tickets "
                                  "GROUP BY 1 HAVING count(*) > 0 ORDER BY 2 DESC LIMIT 1")
        if rows:
            return str(rows[0][0]), rows[0][1]
    raise AssertionError("no customer with tickets")


def _traces(subject: str, ticket_ids: list) -> int:
    """Rows naming the subject or one of its tickets, in every table of every store."""
    found = 0
    for region in REGIONS:
        for schema, table, column in store_rows(region, """
                SELECT table_schema, table_name, column_name FROM information_schema.columns
                WHERE column_name IN ('customer_id', 'ticket_id') AND table_schema NOT LIKE '\\_%'
                ESCAPE '\\' AND table_name IN (SELECT table_name FROM information_schema.tables
                                             WHERE table_type = 'BASE TABLE')"""):
            values = [subject] if column == "customer_id" else [str(t) for t in ticket_ids]
            if values:
                found += store_rows(region, f'SELECT count(*) FROM "{schema}"."{table}" WHERE '
                                            f'CAST("{column}" AS VARCHAR) IN '
                                            f"({', '.join(repr(v) for v in values)})")[0][0]
    return found


def test_an_erased_customer_leaves_no_row_even_after_a_full_rerun(estate):
    from orchestration.lib.governance.erasure import erase, write_receipt

    subject, _ = _subject_with_tickets()
    tickets = [t for r in REGIONS for (t,) in store_rows(
        r, f"SELECT ticket_id FROM raw_support.tickets WHERE customer_id = {subject}")]
    assert _traces(subject, tickets) > 0
    receipt = erase(subject)
    assert receipt.remaining == 0
    assert sum(n for regions in receipt.rows_deleted.values() for n in regions.values()) > 0
    assert _traces(subject, tickets) == 0
    receipt_file = write_receipt(receipt)
    assert subject in receipt_file.read_text()
    assert any(e.kind == "erasure.completed" and e.subject == f"customer:{subject}"
               for e in entries())

    # A full re-run from the landing files: the erasure register keeps the subject out.
    store = get_settings().store_dir
    for name in ("eu.duckdb", "us.duckdb", "quarantine.duckdb"):
        (store / name).unlink()
    shutil.rmtree(get_settings().landing_dir)
    write_tiny_estate(get_settings().landing_dir)
    success, _ = _pipeline()
    assert success
    assert _traces(subject, tickets) == 0
    assert _count("eu", "raw_crm.customers") + _count("us", "raw_crm.customers") > 0


def test_the_purge_and_erasure_run_as_dagster_jobs(estate):
    from orchestration.defs.governance.jobs import erase_subject_job, retention_purge_job

    purged = retention_purge_job.execute_in_process(
        run_config={"ops": {"purge_expired": {"config": {"dry_run": True}}}})
    assert purged.success
    subject = store_rows("us", "SELECT min(customer_id) FROM raw_crm.customers")[0][0]
    erased = erase_subject_job.execute_in_process(
        run_config={"ops": {"erase_one_subject": {"config": {"subject_id": str(subject)}}}})
    assert erased.success
    assert store_rows("us", f"SELECT count(*) FROM raw_crm.customers WHERE customer_id = "
                            f"{subject}") == [(0,)]
    assert list((get_settings().data_dir / "reports" / "erasures").glob(f"customer-{subject}-*"))
