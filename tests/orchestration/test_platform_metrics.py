"""Platform metrics are dbt models over real telemetry: what they count is what the runs did,
read back from the stores, Dagster's history and the audit log; a pinned baseline splits the
runs before it from the runs after it."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.lib.operations.metrics import read_metrics
from orchestration.lib.warehouse import reader, store_path
from tests.conftest import run_steward, use_data_dir, write_tiny_estate
from tests.orchestration.ingest_helpers import customer_row, store_rows, write_customers

SOURCES = {"crm/customers": "raw_crm.customers", "support/tickets": "raw_support.tickets",
           "billing/invoices": "raw_billing.invoices", "billing/payments": "raw_billing.payments",
           "web/events": "raw_web.events"}


def _records(table: str) -> list[dict]:
    columns, rows = read_metrics()[table]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _global(sql: str) -> list[tuple]:
    with reader(store_path("global")) as con:
        return con.execute(sql).fetchall()


def test_source_metrics_count_the_rows_the_stores_hold(pipeline_run):
    by_asset = {r["asset"]: r for r in _records("source_metrics")}
    assert set(by_asset) == set(SOURCES)
    for asset, table in SOURCES.items():
        stored = sum(store_rows(region, f"SELECT count(*) FROM {table}")[0][0]
                     for region in ("eu", "us"))
        quarantined = store_rows("quarantine", "SELECT count(*) FROM quarantine WHERE "
                                 f"source_table = '{asset.replace('/', '.')}'")[0][0]
        metrics = by_asset[asset]
        assert metrics["rows_loaded"] == stored > 0
        assert metrics["rows_quarantined"] == quarantined
        assert metrics["rows_read"] >= stored + quarantined
        assert metrics["runs"] == 1 and metrics["checks_failed"] == 0
        assert metrics["checks_passed"] > 0 and metrics["cpu_seconds"] > 0


def test_run_metrics_hold_every_finished_run_with_its_cost(pipeline_run, built_estate):
    instance = dg.DagsterInstance.from_config(str(built_estate[0] / "dagster"))
    finished = {r.dagster_run.run_id: r.dagster_run for r in instance.get_run_records(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))}
    runs = {r["run_id"]: r for r in _records("run_metrics")}
    # Every run but the one that built the metrics, which was still going when they were taken.
    assert set(runs) < set(finished) and len(finished) - len(runs) == 1
    assert all(r["trigger"] == "steward run" and r["status"] == "SUCCESS" for r in runs.values())
    assert all(r["cpu_seconds"] > 0 and r["assets"] > 0 for r in runs.values())
    scored = sum(store_rows("us", "SELECT count(*) FROM consumers.lead_scores")[0])
    lead = next(r for r in _records("consumer_metrics") if r["consumer"] == "lead_scoring")
    assert lead["runs"] == 1 and lead["rows_scored"] == scored > 0
    assert lead["checks_passed"] + lead["checks_warned"] == 2  # policy and fairness


def test_consumer_reads_are_counted_from_the_audit_log(pipeline_run):
    from orchestration.lib.governance.audit_log import entries

    collected = _global("SELECT max(seq) FROM telemetry.audit")[0][0]
    by_consumer = {r["consumer"]: r for r in _records("consumer_metrics")}
    for consumer, metrics in by_consumer.items():
        logged = [e.kind for e in entries()
                  if e.seq <= collected and e.details.get("consumer") == consumer]
        assert metrics["reads_allowed"] == logged.count("access.allowed")
        assert metrics["reads_masked"] == logged.count("access.masked")
        assert metrics["reads_denied"] == logged.count("access.denied")
    assert by_consumer["fairness_audit"]["runs"] == 0  # it reads, it has no model
    assert by_consumer["fairness_audit"]["reads_allowed"] + (
        by_consumer["fairness_audit"]["reads_masked"]) > 0


def test_model_drift_holds_each_scoring_run_s_worst_column(pipeline_run):
    """Each consumer model's scoring runs, from the drift measures kept in the ops store."""
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers.drift import history

    runs = {(r["model"], r["region"], r["measured_at"]): r for r in _records("model_drift")}
    expected = {}
    for model in CONSUMER_MODELS:
        for at, region, measure, value in history(model.key):
            run = expected.setdefault((model.key, region, at), {"psi": {}, "rows": None})
            if measure.startswith("psi:"):
                run["psi"][measure.removeprefix("psi:")] = value
            elif measure == "rows":
                run["rows"] = value
    assert set(runs) == set(expected) and len(runs) >= 4  # every model and region scored
    for key, run in expected.items():
        worst = max(run["psi"], key=run["psi"].__getitem__)
        assert runs[key]["worst_column"] == worst
        assert runs[key]["psi_max"] == pytest.approx(run["psi"][worst], abs=1e-4)
        assert runs[key]["rows_scored"] == run["rows"] > 0
        assert runs[key]["psi_change"] is None  # each the model's first run there


def test_rows_sent_to_review_are_counted_per_consumer(pipeline_run):
    from orchestration.lib.consumer_models import CONSUMER_MODELS
    from orchestration.lib.consumers import review

    by_consumer = {r["consumer"]: r for r in _records("consumer_metrics")}
    for consumer in {model.consumer for model in CONSUMER_MODELS}:
        queued = [item for model in CONSUMER_MODELS if model.consumer == consumer
                  for region in model.regions for item in review.items(model, region)]
        assert by_consumer[consumer]["sent_to_review"] == len(queued)
        assert by_consumer[consumer]["reviews_resolved"] == 0  # nobody has resolved any
        assert by_consumer[consumer]["review_hours_median"] is None


def test_telemetry_carries_no_stored_value(pipeline_run):
    """Only level-none facts reach the global store: no customer name, email or key."""
    names = {row[0] for row in store_rows("eu", "SELECT full_name FROM raw_crm.customers")}
    text = " ".join(str(value) for table in ("steps", "checks", "audit", "alerts", "runs")
                    for row in _global(f"SELECT * FROM telemetry.{table}") for value in row)
    assert names and not any(name in text for name in names)
    assert "@" not in text


@pytest.fixture(scope="module")
def twice_run(tmp_path_factory: pytest.TempPathFactory, dbt_manifest):
    """A pipeline run, a pinned baseline, a bad export file, and a second run."""
    path = tmp_path_factory.mktemp("metrics")
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_data_dir(path, monkeypatch)
        (path / "dagster").mkdir()
        monkeypatch.setenv("DAGSTER_HOME", str(path / "dagster"))
        write_tiny_estate(path / "landing")
        from orchestration.definitions import build_definitions
        from orchestration.defs.ingest.assets import build_ingest_assets
        from orchestration.lib.operations.runner import run_pipeline

        keys = [key for asset in build_ingest_assets() for key in asset.keys]
        first, _ = run_pipeline(build_definitions(), ["eu", "us"], keys)
        pinned = run_steward(["metrics", "baseline", "before the bad export"], path)
        assert pinned.returncode == 0, pinned.stderr
        # Four rows whose key is not a number: quarantined, one case for a person to review.
        write_customers(path / "landing", "customers_late.csv",
                        [customer_row(f"bad{i}") for i in range(4)])
        second, _ = run_pipeline(build_definitions(), ["eu", "us"], keys)
        yield path, first, second


def test_a_pinned_baseline_compares_the_runs_before_and_after_it(twice_run):
    path, first, second = twice_run
    assert first and second
    rows = {r["metric"]: r for r in _records("baseline_comparison")
            if r["baseline"] == "before the bad export"}
    assert len(rows) == 9
    # Before: the first pipeline (its metrics run included); after: the second, but its own.
    assert rows["runs"]["before"] == 5 and rows["runs"]["after"] == 4
    assert rows["quarantined_per_thousand_rows"]["before"] == 0
    assert rows["quarantined_per_thousand_rows"]["after"] > 0
    assert rows["quarantined_per_thousand_rows"]["better"] == "lower"
    customers = next(r for r in _records("source_metrics") if r["asset"] == "crm/customers")
    assert customers["rows_quarantined"] == 4 and customers["exceptions_to_humans"] == 1
    shown = run_steward(["metrics", "show", "--runs", "2"], path)
    assert shown.returncode == 0, shown.stderr
    assert "before the bad export" in shown.stdout and "crm/customers" in shown.stdout


def test_stewards_own_tables_are_checked_and_their_checks_can_fail(pipeline_run, built_estate,
                                                                   tmp_path, monkeypatch):
    import shutil

    from orchestration.lib.governance.policy_checks import evaluate_policy
    from orchestration.lib.governance.registry import relations
    from orchestration.lib.quality.checks import run_suite
    from orchestration.lib.quality.suites import suites_for
    from orchestration.lib.warehouse import write_connection

    shutil.copytree(built_estate[0] / "store", tmp_path / "store")
    use_data_dir(tmp_path, monkeypatch)
    alerts, steps = dg.AssetKey(["telemetry", "alerts"]), dg.AssetKey(["telemetry", "steps"])
    [suite] = suites_for("telemetry/steps")
    assert evaluate_policy(alerts, relations()["telemetry/alerts"], ["global"]).passed
    assert run_suite(steps, suite, relations()["telemetry/steps"], ["global"], "test").passed
    with write_connection(store_path("global")) as con:
        con.execute("INSERT INTO telemetry.alerts SELECT 'k', 'x', 'call ann.berg@example.com', "
                    "max(sent_at) FROM telemetry.alerts")
        con.execute("UPDATE telemetry.steps SET cpu_seconds = -1")
    leaked = evaluate_policy(alerts, relations()["telemetry/alerts"], ["global"])
    assert not leaked.passed and "pii.undeclared_detected telemetry/alerts.title" in (
        leaked.description)
    assert not run_suite(steps, suite, relations()["telemetry/steps"], ["global"], "test").passed


def _platform_run() -> dg.ExecuteInProcessResult:
    """The telemetry and the platform models, in this process."""
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    selection = {key for key in defs.resolve_asset_graph().materializable_asset_keys
                 if key.path[0] in ("telemetry", "platform")}
    job = defs.resolve_implicit_global_asset_job_def().get_subset(asset_selection=selection)
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def test_a_telemetry_table_failing_its_policy_check_holds_the_platform_models_back(built_copy):
    from orchestration.lib.operations import alerts

    # An alert whose title names a person: collected into telemetry/alerts, which declares no PII.
    assert alerts.fire("check_failed:crm/customers:test", "check_failed",
                       "crm/customers failed: call ann.berg@example.com")
    result = _platform_run()
    assert not result.success
    [failed] = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert (failed.asset_key, failed.check_name) == (dg.AssetKey(["telemetry", "alerts"]),
                                                     "policy__compliant")
    assert "pii.undeclared_detected telemetry/alerts.title" in failed.description
    built = {event.asset_key.path[0] for event in result.get_asset_materialization_events()}
    # The models are one dbt step over all nine tables: none of them is built.
    assert built == {"telemetry"}


def test_telemetry_cannot_be_collected_without_every_one_of_its_checks():
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    telemetry = {key for key in defs.resolve_asset_graph().materializable_asset_keys
                 if key.path[0] == "telemetry"}
    only_one = {dg.AssetCheckKey(dg.AssetKey(["telemetry", "steps"]), "policy__compliant")}
    for checks in (set(), only_one):
        with pytest.raises(dg.DagsterInvalidSubsetError, match="does not support subsetting"):
            defs.resolve_implicit_global_asset_job_def().get_subset(
                asset_selection=telemetry, asset_check_selection=checks)
