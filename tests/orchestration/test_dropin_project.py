"""A third-party dbt project dropped into ours, with seeds, old-style tests and no Steward meta:
the code location still loads, every node is a governed asset, PII is found in the seed's
values and inherited through lineage, and one unreadable node never takes the others down."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import steward_env
from tests.dbt_cli import project_copy

SEEDS = {
    "shop_customers.csv": "id,full_name,email,tier\n0,Anna Berg,anna0@example.com,gold\n"
                          "1,Lucas Moreau,lucas1@example.com,silver\n"
                          "2,Emma Fischer,emma2@example.com,gold\n"
                          "3,Noah Jansen,noah3@example.com,bronze\n",
    "shop_orders.csv": "order_id,customer_id,amount\n1,0,12.50\n2,1,40.00\n3,1,7.25\n4,3,99.90\n",
}
MODELS = {
    "_shop__models.yml": """version: 2
seeds:
  - name: shop_customers
    description: Customers of the shop, as exported.
models:
  - name: stg_shop_customers
    columns:
      - name: id
        tests: [unique, not_null]
  - name: stg_shop_orders
    columns:
      - name: order_id
        tests: [unique, not_null]
      - name: customer_id
        tests:
          - relationships:
              to: ref('stg_shop_customers')
              field: id
  - name: shop_customer_totals
    columns:
      - name: id
        tests: [unique]
""",
    "stg_shop_customers.sql": "select id, full_name, email from {{ ref('shop_customers') }}\n",
    "stg_shop_orders.sql": "select order_id, customer_id, amount from {{ ref('shop_orders') }}\n",
    "shop_customer_totals.sql": (
        "select c.id, c.full_name, sum(o.amount) as total\n"
        "from {{ ref('stg_shop_customers') }} c\n"
        "join {{ ref('stg_shop_orders') }} o on o.customer_id = c.id\n"
        "group by c.id, c.full_name\n"),
}
NEW = ("shop_customers", "shop_orders", "stg_shop_customers", "stg_shop_orders",
       "shop_customer_totals")


def dropin_project(folder: Path) -> Path:
    project = project_copy(folder)
    for directory, files in ((project / "seeds" / "shop", SEEDS),
                             (project / "models" / "shop", MODELS)):
        directory.mkdir(parents=True)
        for name, text in files.items():
            (directory / name).write_text(text)
    return project


DESCRIBE = ("import json; from orchestration.definitions import build_definitions; "
            "from tests.orchestration.test_definitions import _describe; "
            "print(json.dumps(_describe(build_definitions())))")


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("dropin")
    project = dropin_project(folder)
    done = subprocess.run([sys.executable, "-c", DESCRIBE], capture_output=True, text=True,
                          env=steward_env(folder / "data", STEWARD_DBT_PROJECT_DIR=str(project)),
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def _asset(described: dict, name: str) -> tuple[str, dict]:
    [(key, asset)] = [(k, a) for k, a in described.items() if k.split("/")[-1] == name]
    return key, asset


def test_the_location_loads_and_every_new_node_is_a_governed_asset(described):
    for name in NEW:
        key, asset = _asset(described, name)
        assert set(asset["tags"]) >= {"owner", "retention", "region", "pii"}, key
        assert "policy__compliant" in asset["checks"], key
    # Nothing declared their retention or region: they stay unset, for the policy to refuse.
    assert _asset(described, "shop_customers")[1]["tags"]["owner"] == "unset"
    assert _asset(described, "shop_customer_totals")[1]["tags"]["region"] == "unset"


def test_the_seed_with_names_and_emails_is_personal_by_its_values(described):
    _, customers = _asset(described, "shop_customers")
    assert customers["tags"]["pii"] == "personal"
    assert customers["columns"]["email"] == "personal"
    assert customers["columns"]["full_name"] == "personal"
    assert customers["columns"]["tier"] == "none"
    assert _asset(described, "shop_orders")[1]["tags"]["pii"] == "none"


def test_the_mart_inherits_the_seeds_pii_through_lineage(described):
    _, totals = _asset(described, "shop_customer_totals")
    assert totals["tags"]["pii"] == "personal"
    assert totals["columns"] == {"id": "none", "full_name": "personal", "total": "none"}


def test_the_old_style_dbt_tests_are_asset_checks(described):
    assert {"unique_stg_shop_customers_id", "not_null_stg_shop_customers_id"} <= set(
        _asset(described, "stg_shop_customers")[1]["checks"])
    assert any(check.startswith("relationships_stg_shop_orders_customer_id")
               for check in _asset(described, "stg_shop_orders")[1]["checks"])


def test_the_policy_names_what_is_left_to_declare(tmp_path):
    project = dropin_project(tmp_path)
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "policy", "check"],
                          capture_output=True, text=True, timeout=600,
                          env=steward_env(tmp_path / "data",
                                          STEWARD_DBT_PROJECT_DIR=str(project)))
    assert done.returncode == 1
    assert "tags.missing" in done.stdout and "shop_customers" in done.stdout
    assert "no owner, retention, region declared" in done.stdout


def test_a_node_that_cannot_be_read_blocks_itself_and_what_depends_on_it(dbt_manifest):
    from orchestration.lib.governance.policy_adapter import build_catalog
    from orchestration.lib.governance.registry import project_manifest
    from orchestration.lib.sources import load_source_tables
    from policies.engine import evaluate
    from policies.rules import load_rules
    from policies.violations import GOVERNANCE_UNEVALUATED

    manifest = copy.deepcopy(project_manifest())
    [node] = [n for n in manifest["nodes"].values() if n["name"] == "int_tickets_redacted"]
    del node["compiled_code"]  # as in a manifest made by `dbt parse`
    evaluation = evaluate(load_rules(), build_catalog(manifest, load_source_tables()))
    unevaluated = {v.asset: v.message for v in evaluation.violations
                   if v.rule == GOVERNANCE_UNEVALUATED}
    assert "no compiled SQL" in unevaluated["intermediate/int_tickets_redacted"]
    assert "int_tickets_redacted" in unevaluated["marts/ticket_features"]
    assert "marts/customer_features" not in unevaluated
    from orchestration.lib.governance.policy_adapter import project_evaluation

    assert evaluation.effective["marts/customer_features"] == (
        project_evaluation().effective["marts/customer_features"])
