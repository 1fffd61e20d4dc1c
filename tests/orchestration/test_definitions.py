"""A snapshot of the code location: a change of keys, groups, owners or tags shows in review.

Regenerate after an intended change with `STEWARD_UPDATE_SNAPSHOTS=1 make test`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parents[1] / "snapshots" / "definitions.json"


def _describe(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    described = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        schema = node.metadata.get("dagster/column_schema")
        described[key.to_user_string()] = {
            "group": node.group_name,
            "owners": list(node.owners),
            "kinds": sorted(node.kinds),
            "tags": {k: v for k, v in sorted(node.tags.items()) if not k.startswith("dagster/")},
            "partitioned_by": node.partitions_def.get_partition_keys()
            if node.partitions_def else None,
            "deps": sorted(p.to_user_string() for p in node.parent_keys),
            "checks": sorted(c.name for c in node.check_keys),
            "columns": {c.name: (c.tags or {}).get("classification") for c in schema.columns}
            if schema else {},
        }
    return described


def test_definitions_match_the_reviewed_snapshot(dbt_manifest):
    from orchestration.definitions import build_definitions

    current = _describe(build_definitions())
    if os.environ.get("STEWARD_UPDATE_SNAPSHOTS") or not SNAPSHOT.exists():
        SNAPSHOT.write_text(json.dumps(current, indent=2, ensure_ascii=False) + "\n")
    assert current == json.loads(SNAPSHOT.read_text())


def test_every_asset_has_an_owner_a_group_and_a_column_schema(dbt_manifest):
    from orchestration.definitions import build_definitions

    for name, asset in _describe(build_definitions()).items():
        assert asset["owners"] or name.startswith(("staging/", "intermediate/")), name
        assert asset["group"], name
        # Consumer models read every region they may in one run, the platform metrics live in
        # the global store; the rest is one run per region.
        expected = (None if name.startswith(("consumers/", "telemetry/", "platform/"))
                    else ["eu", "us"])
        assert asset["partitioned_by"] == expected, name


def test_ingest_assets_join_dbt_sources_by_key(dbt_manifest):
    from orchestration.definitions import build_definitions

    described = _describe(build_definitions())
    assert described["staging/stg_crm__customers"]["deps"] == ["crm/customers"]
    assert described["crm/customers"]["columns"]["email"] == "personal"
    assert "ingest__reconciled" in described["crm/customers"]["checks"]
    assert described["consumers/lead_scores"]["deps"] == ["marts/customer_features"]
    assert described["consumers/lead_scores"]["checks"] == ["fairness__lead_scores",
                                                           "policy__compliant"]


def test_great_expectations_stays_off_the_code_location_import_path():
    import subprocess
    import sys

    code = ("import sys, orchestration.definitions; "
            "print('great_expectations' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "False"


def test_every_asset_carries_the_four_tags_and_a_blocking_policy_check(dbt_manifest):
    from orchestration.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert {"owner", "retention", "region", "pii"} <= set(node.tags), key
        checks = {check.name: check for check in node.check_keys}
        assert "policy__compliant" in checks, key


DEFS = Path(__file__).parents[2] / "orchestration" / "defs"
KINDS = {"__init__", "assets", "checks", "sensors", "schedules", "jobs", "resources"}


def test_every_definitions_area_files_the_same_kinds_under_the_same_names():
    for module in DEFS.glob("*/*.py"):
        assert module.stem in KINDS, f"{module.relative_to(DEFS)}: name it one of {sorted(KINDS)}"


def test_no_definitions_area_imports_another():
    import re

    for module in DEFS.glob("*/*.py"):
        area = module.parent.name
        for imported in re.findall(r"from orchestration\.defs\.(\w+)", module.read_text()):
            assert imported == area, f"{module.relative_to(DEFS)} imports defs/{imported}"
