"""The whole governed pipeline, run once: for `steward run` and a purge's rebuild."""

from __future__ import annotations

import typer


def run_whole_pipeline() -> bool:
    """Run every asset for every region (through a shared deployment when
    STEWARD_DAGSTER_URL names one), print the summary; whether it all succeeded."""
    from orchestration.definitions import build_definitions
    from orchestration.defs.ingest.assets import build_ingest_assets
    from orchestration.lib.deployment.submit import Deployment, DeploymentUnreachable
    from orchestration.lib.operations.runner import format_summary, run_pipeline
    from orchestration.lib.settings import get_settings
    from policies.regions import region_names

    defs = build_definitions()
    ingest_keys = [key for a in build_ingest_assets() for key in a.keys]
    url = get_settings().dagster_url
    try:
        launcher = Deployment(url, defs, say=typer.echo) if url else None
        success, outcomes = run_pipeline(defs, region_names(), ingest_keys, launcher)
    except DeploymentUnreachable as unreachable:
        typer.echo(str(unreachable), err=True)
        raise typer.Exit(2) from None
    typer.echo(format_summary(outcomes))
    return success
