"""`steward add source` round-trips: declared from a sample, refused until a person fills in
owner and retention, then run and governed like any source."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.clock import stamp
from tests.conftest import run_steward


def _sample(path: Path) -> Path:
    path.write_text("order_id,customer_email,country,amount,ordered_at,note\n"
                    f"1,ann@example.com,DE,12.5,{stamp(-3)},fast\n"
                    f"2,bob@example.com,US,40.0,{stamp(-2)},call me at +1 555 010 2222\n"
                    f"3,cy@example.com,FR,7.25,{stamp(-1)},\n")
    return path


@pytest.fixture
def sandbox(tmp_path: Path) -> dict[str, str]:
    """A copy of the dbt project and the suites to add to, and a data folder of its own."""
    from orchestration.lib.settings import get_settings
    from tests.dbt_cli import project_copy

    project = project_copy(tmp_path)
    shutil.copytree(get_settings().expectations_dir, tmp_path / "expectations")
    return {"STEWARD_DBT_PROJECT_DIR": str(project),
            "STEWARD_EXPECTATIONS_DIR": str(tmp_path / "expectations")}


def _add(tmp_path: Path, sandbox: dict[str, str], *args: str):
    return run_steward(["add", "source", "erp", "--table", "orders", *args], tmp_path / "data",
                       **sandbox)


def test_a_source_is_added_refused_until_declared_then_run_and_governed(tmp_path, sandbox,
                                                                        dbt_manifest):
    sample = _sample(tmp_path / "orders.csv")
    added = _add(tmp_path, sandbox, "--format", "csv", "--from", str(sample))
    assert added.returncode == 0, added.stderr
    declaration = Path(sandbox["STEWARD_DBT_PROJECT_DIR"]) / "models" / "staging" / "erp"
    block = yaml.safe_load((declaration / "_erp__sources.yml").read_text())["sources"][0]
    steward = block["tables"][0]["config"]["meta"]["steward"]
    assert (steward["primary_key"], steward["route_by"], steward["event_time"]) == (
        "order_id", "country", "ordered_at")
    levels = {c["name"]: (c["data_type"], c.get("config", {}).get("meta", {}).get(
        "classification", "none")) for c in block["tables"][0]["columns"]}
    assert levels["customer_email"] == ("VARCHAR", "personal")
    assert levels["note"] == ("VARCHAR", "personal")  # a phone number in free text
    assert levels["amount"][1] == "none" and levels["ordered_at"][0] == "TIMESTAMP"
    assert (Path(sandbox["STEWARD_EXPECTATIONS_DIR"]) / "erp_orders.json").exists()

    check = run_steward(["policy", "check"], tmp_path / "data", **sandbox)
    assert check.returncode == 1
    assert "tags.missing  erp/orders" in check.stdout and "owner, retention still TODO" in (
        check.stdout)

    text = (declaration / "_erp__sources.yml").read_text()
    (declaration / "_erp__sources.yml").write_text(
        text.replace("owner: TODO", "owner: finance-ops").replace("retention: TODO",
                                                                   "retention: 1y"))
    check = run_steward(["policy", "check"], tmp_path / "data", **sandbox)
    assert check.returncode == 0, check.stdout

    # Declared before its first export arrives: an empty, typed table, said to be so.
    landing = tmp_path / "data" / "landing" / "erp" / "orders"
    landing.mkdir(parents=True)
    run = run_steward(["run", "--customers", "120"], tmp_path / "data", **sandbox)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert _summary_line(run.stdout, "erp/orders").split()[2:4] == ["no", "data"]
    assert _summary_line(run.stdout, "staging/stg_erp__orders").split()[2] == "ok"

    shutil.copy(sample, landing / "orders.csv")
    run = run_steward(["run"], tmp_path / "data", **sandbox)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "erp/orders" in run.stdout
    stores = tmp_path / "data" / "store"
    for region, ids in (("eu", [1, 3]), ("us", [2])):
        with duckdb.connect(str(stores / f"{region}.duckdb"), read_only=True) as con:
            assert [r[0] for r in con.execute(
                "SELECT order_id FROM raw_erp.orders ORDER BY 1").fetchall()] == ids
            assert con.execute("SELECT count(*) FROM staging.stg_erp__orders").fetchone()[0] == (
                len(ids))


def _summary_line(summary: str, asset: str) -> str:
    return next(line for line in summary.splitlines() if line.startswith(asset))


def test_a_sample_without_a_country_column_is_refused_with_the_reason(tmp_path, sandbox):
    sample = tmp_path / "orders.csv"
    sample.write_text("order_id,amount\n1,12.5\n2,40.0\n")
    added = _add(tmp_path, sandbox, "--format", "csv", "--from", str(sample))
    assert added.returncode == 2
    assert "no column holds only country codes" in added.stderr
    assert not (Path(sandbox["STEWARD_DBT_PROJECT_DIR"]) / "models" / "staging" / "erp").exists()
