"""The dbt project as Dagster assets: one `dbt build` per run, in the run's region store."""


import json
import os
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.lib.dbt import StewardDbtTranslator, dbt_executable, dbt_project
from orchestration.lib.partitions import region_partitions
from orchestration.lib.settings import get_settings
from orchestration.lib.store import locked, qualified, reader, store_path

_project = dbt_project()


def _with_row_counts(events: list, region: str) -> Iterator:
    """dbt has finished and released the store: count each built relation's rows."""
    nodes = json.loads(_project.manifest_path.read_text())["nodes"]
    with reader(store_path(region)) as con:
        for event in events:
            unique_id = event.metadata.get("unique_id") if isinstance(event, dg.Output) else None
            node = nodes.get(str(unique_id.value)) if unique_id else None
            if node and node.get("resource_type") == "model":
                relation = qualified(node["schema"], node["alias"])
                rows = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
                event = event.with_metadata({**event.metadata, "dagster/row_count": rows})
            yield event


@dbt_assets(
    manifest=_project.manifest_path,
    project=_project,
    dagster_dbt_translator=StewardDbtTranslator(),
    partitions_def=region_partitions(),
)
def dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
    region = context.partition_key
    os.environ["STEWARD_STORE_DIR"] = str(get_settings().store_dir)
    with locked(store_path(region)):
        invocation = dbt.cli(["build", "--vars", json.dumps({"region": region})], context=context)
        events = list(invocation.stream())
    yield from _with_row_counts(events, region)


dbt_resource = DbtCliResource(project_dir=_project, dbt_executable=dbt_executable())
