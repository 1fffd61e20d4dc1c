"""The manifest read without Dagster: the same asset keys dagster-dbt gives the nodes, and
commands that only evaluate the policy never import Dagster or dagster-dbt."""

from __future__ import annotations

import json
import sys

import pytest
from dagster_dbt import DagsterDbtTranslator

from orchestration.lib.dbt import StewardDbtTranslator
from orchestration.lib.dbt_manifest import asset_key_path
from tests.conftest import run_steward


def test_every_node_of_the_project_has_the_key_dagster_dbt_gives_it(dbt_manifest):
    manifest = json.loads(dbt_manifest.read_text())
    nodes = [*manifest["nodes"].values(), *manifest["sources"].values()]
    assert len(nodes) > 30
    for node in nodes:
        assert asset_key_path(node) == DagsterDbtTranslator().get_asset_key(node).path
        assert StewardDbtTranslator().get_asset_key(node).path == asset_key_path(node)


@pytest.mark.parametrize("node", [
    {"resource_type": "model", "name": "m", "config": {"schema": "marts"}},
    {"resource_type": "model", "name": "m", "config": {}},
    {"resource_type": "model", "name": "m", "alias": "m_v2", "version": 2, "config": {}},
    {"resource_type": "source", "source_name": "crm", "name": "customers", "config": {}},
    {"resource_type": "model", "name": "m", "config": {"schema": "marts", "meta": {
        "dagster": {"asset_key": ["elsewhere", "m"]}}}},
    {"resource_type": "model", "name": "m", "config": {}, "meta": {
        "dagster": {"asset_key": ["old_style", "m"]}}},
], ids=["schema", "no schema", "versioned", "source", "config meta key", "node meta key"])
def test_each_way_a_node_is_keyed_matches_dagster_dbt(node):
    assert asset_key_path(node) == DagsterDbtTranslator().get_asset_key(node).path


def test_checking_the_policy_imports_neither_dagster_nor_dagster_dbt(dbt_manifest, tmp_path):
    checked = run_steward([sys.executable, "-c", (
        "import sys\n"
        "from orchestration.cli import app\n"
        "try:\n"
        "    app(['policy', 'check'])\n"
        "except SystemExit as done:\n"
        "    print(sorted({m.split('.')[0] for m in sys.modules} & {'dagster', 'dagster_dbt'}),"
        " done.code)\n")], tmp_path)
    assert checked.stdout.splitlines()[-1] == "[] 0", checked.stdout[-2000:] + checked.stderr
