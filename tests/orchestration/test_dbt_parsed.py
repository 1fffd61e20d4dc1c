"""One dbt parse per process serves the builds of every store, each in its own database, and is
parsed again whenever what it was parsed from changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration.lib import dbt_parsed
from tests.dbt_cli import project_copy

PARSE_EVENTS = ("PartialParsingEnabled", "UnableToPartialParse", "PartialParseSaveFileNotFound")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the dbt project, to change, and a process that has parsed nothing yet."""
    copy = project_copy(tmp_path)
    monkeypatch.setenv("STEWARD_STORE_DIR", str(tmp_path / "store"))
    monkeypatch.setattr(dbt_parsed, "_last", None)
    return copy


def _manifest(project: Path, region: str, parses: list[str], target: str = "local",
              database: str | None = None):
    """The manifest a build of `region`'s store gets; the parses it cost are added to `parses`."""
    from dbt_common.events.functions import msg_to_dict

    def collect(message) -> None:
        if (name := msg_to_dict(message)["info"]["name"]) in PARSE_EVENTS:
            parses.append(name)

    folder = project.parent / "dbt" / region
    options = ["--target", target, "--vars", json.dumps({"region": region}),
               "--project-dir", str(project), "--profiles-dir", str(project),
               "--target-path", str(folder)]
    logging = ["--log-path", str(folder), "--log-level", "none",
               "--no-send-anonymous-usage-stats"]
    return dbt_parsed.manifest_for(options, logging, project, target, database or region,
                                   [collect])


def _databases(manifest) -> set[str]:
    return {node.database for node in [*manifest.nodes.values(), *manifest.sources.values()]}


def test_one_parse_serves_every_store_each_in_its_own_database(project):
    parses: list[str] = []
    eu = _manifest(project, "eu", parses)
    us = _manifest(project, "us", parses)
    assert len(parses) == 1
    assert _databases(eu) == {"eu"} and _databases(us) == {"us"}
    relations = [node.relation_name for node in [*us.nodes.values(), *us.sources.values()]
                 if node.relation_name]
    assert relations and all(name.startswith('"us".') for name in relations)
    assert all(node["database"] == "us" for node in us.flat_graph["nodes"].values())
    # Each build has its own copy: what one build writes into it, the next does not see.
    assert _databases(_manifest(project, "eu", parses)) == {"eu"} and len(parses) == 1


def test_a_changed_model_or_a_variable_a_model_reads_is_parsed_again(project, monkeypatch):
    parses: list[str] = []
    model = project / "models" / "marts" / "colour.sql"
    model.write_text("select '{{ env_var(\"STEWARD_TEST_COLOUR\", \"red\") }}' as colour\n")
    first = _manifest(project, "eu", parses)
    monkeypatch.setenv("STEWARD_TEST_COLOUR", "blue")
    second = _manifest(project, "us", parses)
    assert len(parses) == 2
    [colour] = [node for node in second.nodes.values() if node.name == "colour"]
    model.write_text("select 1 as colour\n")
    third = _manifest(project, "us", parses)
    assert len(parses) == 3
    assert "colour" in {node.name for node in first.nodes.values()}
    assert colour.raw_code != next(node.raw_code for node in third.nodes.values()
                                   if node.name == "colour")


def test_a_parse_starts_from_the_compile_s_on_its_target_and_from_the_build_s_on_another(
        project, monkeypatch):
    parses: list[str] = []
    compiled, environment = dbt_parsed.compile_invocation(project)
    with monkeypatch.context() as compiling:
        for name, value in environment.items():
            compiling.setenv(name, value)
        from dbt.cli.main import dbtRunner

        assert dbtRunner().invoke(["parse", *compiled, "--log-level", "none"]).success
    _manifest(project, "eu", parses)
    assert parses == ["PartialParsingEnabled"]
    monkeypatch.setenv("STEWARD_PG_DBNAME", "steward_us")
    on_postgres = _manifest(project, "us", parses, target="postgres", database="steward_us")
    assert len(parses) == 2 and parses[1] != "PartialParsingEnabled"  # in its own new folder
    assert _databases(on_postgres) == {"steward_us"}
    assert (project.parent / "dbt" / "us" / "partial_parse.msgpack").exists()


def test_a_project_building_in_two_databases_is_parsed_by_each_build(project):
    (project / "models" / "marts" / "elsewhere.sql").write_text(
        "{{ config(database='archive') }}\nselect 1 as one\n")
    assert _manifest(project, "eu", []) is None


def test_a_model_reading_what_the_compile_sets_otherwise_is_parsed_by_its_build(project):
    # The compile's parse reads the scratch store's folder; this build's is another.
    (project / "models" / "marts" / "where.sql").write_text(
        "select '{{ env_var(\"STEWARD_STORE_DIR\") }}' as store_dir\n")
    assert _manifest(project, "eu", []) is None
