"""The lineage export is valid OpenLineage: every event against the spec's JSON Schema, every
facet against its own, offline (the schemas are vendored under tests/openlineage-spec)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from orchestration.lib.operations.openlineage import export_events, lineage_events

SPEC = Path(__file__).resolve().parents[1] / "openlineage-spec"


@pytest.fixture(scope="module")
def registry() -> Registry:
    resources = []
    for path in [SPEC / "OpenLineage.json", *sorted((SPEC / "facets").glob("*.json"))]:
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def _validator(registry: Registry, url: str) -> Draft202012Validator:
    base, _, pointer = url.partition("#")
    schema = {"$ref": url} if pointer else registry.contents(base)
    return Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="module")
def events(pipeline_run) -> list[dict]:
    return lineage_events()


def test_every_event_and_facet_is_valid_against_the_spec(events, registry):
    assert events
    run_event = _validator(registry, "https://openlineage.io/spec/2-0-2/OpenLineage.json"
                                     "#/$defs/RunEvent")
    facets_checked = 0
    for event in events:
        run_event.validate(event)
        datasets = [*event["inputs"], *event["outputs"]]
        for dataset in datasets:
            for facet in [*dataset.get("facets", {}).values(),
                          *dataset.get("inputFacets", {}).values()]:
                _validator(registry, facet["_schemaURL"]).validate(facet)
                facets_checked += 1
    assert facets_checked > len(events)


def test_the_events_carry_schema_lineage_classifications_and_quality(events):
    features = next(e for e in events if e["job"]["name"] == "marts/customer_features[us]")
    [output] = features["outputs"]
    assert output["name"] == "marts.customer_features"
    assert output["namespace"] == "duckdb://steward/us"
    facets = output["facets"]
    assert {"name": "customer_id", "type": "BIGINT", "ordinal_position": 1} in (
        facets["schema"]["fields"])
    assert {"key": "classification", "value": "pseudonymous", "field": "customer_id",
            "source": "STEWARD"} in facets["tags"]["tags"]
    lineage = facets["columnLineage"]["fields"]["customer_id"]["inputFields"]
    assert {"namespace": "duckdb://steward/us", "name": "staging.stg_crm__customers",
            "field": "customer_id"} in lineage
    ingest = next(e for e in events if e["job"]["name"] == "staging/stg_crm__customers[eu]")
    [raw] = ingest["inputs"]
    assertions = raw["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert raw["name"] == "raw_crm.customers" and assertions
    assert all(isinstance(a["success"], bool) for a in assertions)


def test_export_writes_one_event_per_line(events, tmp_path):
    target = tmp_path / "lineage.jsonl"
    assert export_events(target) == len(events)
    assert [json.loads(line)["job"] for line in target.read_text().splitlines()] == [
        e["job"] for e in events]
