"""`steward run` against a shared deployment: each of the pipeline's runs is submitted to the
deployment's webserver (Dagster's GraphQL API) and waits in its run queue like any other
team's run; its outcome is read back from the deployment's instance, which DAGSTER_HOME names.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from orchestration.lib.operations.runner import Finished

PARTITION_TAG = "dagster/partition"
POLL_SECONDS = 1.0
APPEARS_WITHIN_SECONDS = 30


class DeploymentUnreachable(RuntimeError):
    """The deployment cannot be used: it is down, does not serve this code, or its runs
    cannot be followed from here."""


class Deployment:
    """Hands runs to the deployment at `url` and waits for each to end."""

    def __init__(self, url: str, defs: dg.Definitions, say: Callable[[str], None]) -> None:
        address = urlsplit(url)
        self.url = url.rstrip("/")
        self.client = DagsterGraphQLClient(
            address.hostname or "127.0.0.1", port_number=address.port,
            use_https=address.scheme == "https", path_prefix=address.path.rstrip("/"))
        self.job_name = defs.resolve_implicit_global_asset_job_def().name
        home = os.environ.get("DAGSTER_HOME")
        if not home or not Path(home).is_dir():
            raise DeploymentUnreachable(
                f"STEWARD_DAGSTER_URL names the deployment at {self.url}, but DAGSTER_HOME is "
                "not set to an existing folder: point it at the folder of the deployment's "
                "dagster.yaml, where steward run follows the runs it submits")
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
            # The client's own text repeats the whole query; what went wrong is its cause.
            reason = str(refused.__cause__ or refused).strip().splitlines()[-1]
            raise DeploymentUnreachable(
                f"the deployment at {self.url} did not take the run ({reason}): is "
                "`make serve` running there, serving this code?") from None
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
