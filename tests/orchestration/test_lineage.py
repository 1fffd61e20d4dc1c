"""Column lineage kept beside the manifest: read back instead of walking the SQL again, and
walked again whenever anything it was read from changed."""

from __future__ import annotations

import json

import pytest

from orchestration.lib import lineage
from orchestration.lib.consumer_models import CONSUMER_MODELS
from orchestration.lib.governance.policy_adapter import build_catalog
from orchestration.lib.lineage import KeptLineage
from orchestration.lib.sources import load_source_tables

SQL = ("select c.customer_id, c.email || o.note as contact "
       "from raw.customers c join raw.orders o using (customer_id)")
SCHEMA = {"eu": {"raw": {"customers": {"customer_id": "INTEGER", "email": "VARCHAR"},
                         "orders": {"customer_id": "INTEGER", "note": "VARCHAR"}}}}


@pytest.fixture
def walks(monkeypatch) -> list[str]:
    """The SQL sqlglot is asked to walk, in order."""
    walked: list[str] = []
    walk = lineage.column_lineage

    def counted(sql, schema):
        walked.append(sql)
        return walk(sql, schema)

    monkeypatch.setattr(lineage, "column_lineage", counted)
    return walked


def test_the_project_s_lineage_is_read_back_as_it_was_walked(dbt_manifest, tmp_path, walks):
    manifest = json.loads(dbt_manifest.read_text())
    walked = build_catalog(manifest, load_source_tables(), CONSUMER_MODELS)
    first = KeptLineage(tmp_path / "lineage.json")
    assert build_catalog(manifest, load_source_tables(), CONSUMER_MODELS, first) == walked
    first.save()
    walks.clear()
    again = KeptLineage(tmp_path / "lineage.json")
    assert build_catalog(manifest, load_source_tables(), CONSUMER_MODELS, again) == walked
    assert walks == []
    assert any(asset.columns and any(c.derived_from for c in asset.columns.values())
               for asset in walked.assets.values())  # there was lineage to keep


def test_a_changed_model_or_upstream_column_is_walked_again(tmp_path, walks):
    kept = KeptLineage(tmp_path / "lineage.json")
    assert kept.column_lineage(SQL, SCHEMA)["contact"] == {("raw.customers", "email"),
                                                           ("raw.orders", "note")}
    kept.save()
    again = KeptLineage(tmp_path / "lineage.json")
    again.column_lineage(SQL, SCHEMA)
    assert len(walks) == 1
    changed = SQL.replace("o.note", "o.note || c.customer_id")
    assert again.column_lineage(changed, SCHEMA)["contact"] == {
        ("raw.customers", "email"), ("raw.orders", "note"), ("raw.customers", "customer_id")}
    wider = {"eu": {"raw": {**SCHEMA["eu"]["raw"], "orders": {
        "customer_id": "INTEGER", "note": "VARCHAR", "email": "VARCHAR"}}}}
    again.column_lineage(SQL, wider)
    assert len(walks) == 3


def test_a_torn_file_is_walked_again_and_written_whole(tmp_path, walks):
    path = tmp_path / "lineage.json"
    path.write_text('{"abc": [["contact", [["raw.orders", "no')
    kept = KeptLineage(path)
    assert kept.column_lineage(SQL, SCHEMA)["customer_id"] == {("raw.customers", "customer_id")}
    kept.save()
    assert len(walks) == 1
    assert len(json.loads(path.read_text())) == 1  # only what this process used


def test_lineage_that_cannot_be_kept_is_still_answered(tmp_path, walks):
    kept = KeptLineage(tmp_path / "no such folder" / "lineage.json")
    assert kept.column_lineage(SQL, SCHEMA)["customer_id"] == {("raw.customers", "customer_id")}
    kept.save()  # nowhere to write: the next process walks again
    assert list(tmp_path.iterdir()) == []
