"""The dbt resource the transform assets build with: Steward's, over the project they come from
(dagster-dbt checks that the dbt beside this Python exists, though builds do not start it)."""

from orchestration.lib.dbt import StewardDbtCliResource, dbt_project
from orchestration.lib.dbt_manifest import dbt_executable

dbt_resource = StewardDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
