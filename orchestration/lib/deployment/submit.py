"""`steward run` against a shared deployment: each of the pipeline's runs is submitted to the
deployment's webserver (Dagster's GraphQL API) and waits in its run queue like any other
team's run; its outcome is read back from the deployment's instance, which DAGSTER_HOME names.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

import dagster as dg
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from orchestration.lib.runner import Finished

PARTITION_TAG = "dagster/partition"
POLL_SECONDS = 1.0
APPEARS_WITHIN_SECONDS = 30


class DeploymentUnreachable(RuntimeError):
    """The deployment did not take the run: it is down, or does not serve this code."""


class Deployment:
    """Hands runs to the deployment at `url` and waits for each to end."""

    def __init__(self, url: str, defs: dg.Definitions, say: Callable[[str], None]) -> None:
        address = urlsplit(url)
        self.url = url.rstrip("/")
        self.client = DagsterGraphQLClient(
            address.hostname or "127.0.0.1", port_number=address.port,
            use_https=address.scheme == "https", path_prefix=address.path.rstrip("/"))
        self.job_name = defs.resolve_implicit_global_asset_job_def().name
        self.instance = dg.DagsterInstance.get()
        self.say = say

    def run(self, selection: set[dg.AssetKey], tags: dict[str, str],
            partition_key: str | None = None) -> Finished:
        if partition_key is not None:
            tags = {**tags, PARTITION_TAG: partition_key}
        try:
            run_id = self.client.submit_job_execution(
                self.job_name, asset_selection=sorted(selection, key=str), tags=tags)
        except DagsterGraphQLClientError as refused:
            raise DeploymentUnreachable(
                f"the deployment at {self.url} did not take the run: {refused}") from None
        self.say(f"queued {self.url}/runs/{run_id}")
        submitted = time.monotonic()
        run = self.instance.get_run_by_id(run_id)
        while run is None or not run.is_finished:
            if run is None and time.monotonic() - submitted > APPEARS_WITHIN_SECONDS:
                raise DeploymentUnreachable(
                    f"run {run_id} is not in the instance DAGSTER_HOME names "
                    f"({self.instance.root_directory}): point DAGSTER_HOME at the "
                    "deployment's dagster.yaml to follow its runs")
            time.sleep(POLL_SECONDS)
            run = self.instance.get_run_by_id(run_id)
        events = [entry.dagster_event for entry in self.instance.all_logs(run_id)
                  if entry.dagster_event is not None]
        return Finished(run.status == dg.DagsterRunStatus.SUCCESS, events)
