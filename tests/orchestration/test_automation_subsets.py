"""Declarative automation builds a region's models in subsets: a model rebuilt alone has its
dbt tests run with it, and a relationships test of it reads another model. In a new store that
other model may not exist yet; the test cannot run, which is not the subset's failure (it is
judged once both are built), while a test that runs and fails still fails the build."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.warehouse import store_path, write_connection
from tests.conftest import write_tiny_estate

INVOICES = [dg.AssetKey(["staging", "stg_billing__invoices"]),
            dg.AssetKey(["staging", "stg_billing__payments"]),
            dg.AssetKey(["intermediate", "int_payments_aggregated_to_invoices"]),
            dg.AssetKey(["marts", "invoice_features"])]
RELATIONSHIP = "relationships_invoice_features_customer_id"


def _build_eu(keys: list[dg.AssetKey]) -> tuple[dg.ExecuteInProcessResult, str]:
    """The run, and the tests it said it did not judge."""
    from orchestration.definitions import build_definitions

    instance = dg.DagsterInstance.ephemeral()
    job = build_definitions().resolve_implicit_global_asset_job_def()
    result = job.get_subset(asset_selection=set(keys)).execute_in_process(
        instance=instance, partition_key="eu", raise_on_error=False)
    return result, " ".join(entry.user_message for entry in instance.all_logs(result.run_id)
                            if "not judged in this run" in entry.user_message)


def _relationship_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [evaluation] = [e.event_specific_data for e in result.all_events
                    if e.event_type_value == "ASSET_CHECK_EVALUATION"
                    and e.event_specific_data.check_name.startswith(RELATIONSHIP)]
    return evaluation


def test_a_model_rebuilt_before_the_model_its_relationship_test_reads_exists(data_dir,
                                                                             dbt_manifest):
    write_tiny_estate(data_dir / "landing")
    from orchestration.lib.ingest.loader import load_table
    from orchestration.lib.sources import load_source_tables

    for spec in load_source_tables():
        load_table(spec, ["eu"], run_id="test")
    alone, unjudged = _build_eu(INVOICES)
    assert alone.success
    assert not _relationship_check(alone).passed  # it could not read customer_features
    assert RELATIONSHIP in unjudged

    with write_connection(store_path("eu")) as con:  # an invoice of a customer no one knows
        con.execute("UPDATE raw_billing.invoices SET customer_id = -1 WHERE invoice_id = "
                    "(SELECT min(invoice_id) FROM marts.invoice_features)")
    both, unjudged = _build_eu([*INVOICES, dg.AssetKey(["marts", "customer_features"]),
                      dg.AssetKey(["staging", "stg_crm__customers"]),
                      dg.AssetKey(["staging", "stg_web__events"]),
                      dg.AssetKey(["staging", "stg_support__tickets"])])
    assert not _relationship_check(both).passed  # it ran, and found the unknown customer
    assert RELATIONSHIP not in unjudged
