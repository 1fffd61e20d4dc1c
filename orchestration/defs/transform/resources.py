"""The dbt CLI the transform assets build with: Steward's, over the project the assets come from."""

from orchestration.lib.dbt import StewardDbtCliResource, dbt_executable, dbt_project

dbt_resource = StewardDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable())
