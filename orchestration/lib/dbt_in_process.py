"""dbt run inside this process rather than as a subprocess per build.

A subprocess pays dbt's import and start-up on every build, about 2.5 s of a tiny region's 3.5 s;
here it is paid once per process. dagster-dbt runs dbt only as a subprocess and reads the
structured log lines it prints, so this collects the same events from dbt's programmatic runner
(`dbtRunner`, whose callbacks receive what the JSON log would print) and has dagster-dbt's own
translation turn them into Dagster events.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtProject
from dagster_dbt.asset_utils import (
    DBT_INDIRECT_SELECTION_ENV,
    get_updated_cli_invocation_params_for_context,
)
from dagster_dbt.core.dbt_cli_event import DbtCoreCliEventMessage
from dagster_dbt.core.resource import extract_runtime_selection_from_args

from orchestration.lib import dbt_parsed

_SHOWN = ("info", "warn", "error")  # what dbt prints at its default log level


@dataclass
class InProcessBuild:
    """A finished dbt command: its events, whether it succeeded, where its artifacts are."""
    events: list[dict[str, Any]]
    succeeded: bool
    target_path: Path
    manifest: Any
    translator: DagsterDbtTranslator
    project: DbtProject | None
    context: dg.AssetExecutionContext = field(repr=False)

    def stream(self) -> Iterator:
        """The Dagster events of the build, as dagster-dbt makes them from dbt's."""
        for raw in self.events:
            yield from DbtCoreCliEventMessage(raw_event=raw, event_history_metadata={}
                                              ).to_default_asset_events(
                manifest=self.manifest, dagster_dbt_translator=self.translator,
                context=self.context, target_path=self.target_path, project=self.project)

    def is_successful(self) -> bool:
        return self.succeeded

    def get_artifact(self, name: str) -> dict[str, Any]:
        return json.loads((self.target_path / name).read_bytes())


def build(profiles_dir: str, args: Sequence[str], context: dg.AssetExecutionContext,
          target_path: Path, target: str, database: str) -> InProcessBuild:
    """Run the dbt command `args` on the profile's `target`, whose models land in `database`,
    for the assets `context` selected, its artifacts and log in `target_path`; dbt's messages
    are printed as its command line would print them."""
    from dbt.cli.main import dbtRunner  # 1.5 s: only the steps that build pay it
    from dbt_common.events.functions import msg_to_dict

    _name_flag_sources_cheaply()

    [command, *options], selects, excludes = extract_runtime_selection_from_args(list(args))
    params = get_updated_cli_invocation_params_for_context(
        context=context, manifest={}, dagster_dbt_translator=None,
        runtime_selects=selects, runtime_excludes=excludes)
    events: list[dict[str, Any]] = []

    def collect(message) -> None:
        # dbt's debug events (every query, hundreds a build) are for its file log, when it
        # keeps them; the results and what is printed are all at info or above.
        if message.info.level not in _SHOWN:
            return
        event = msg_to_dict(message)
        events.append(event)
        if event["info"]["msg"]:
            print(event["info"]["msg"], flush=True)

    indirect = params.indirect_selection or os.environ.get(DBT_INDIRECT_SELECTION_ENV)
    project_dir = Path(params.dbt_project.project_dir)
    options = [*options, "--target", target, "--project-dir", str(project_dir),
               "--profiles-dir", profiles_dir, "--target-path", str(target_path)]
    # Printed by `collect`; the file log in the target folder, as the command line keeps it but
    # at info level unless dbt's own DBT_LOG_LEVEL_FILE says otherwise: every debug event
    # written costs a tiny region's build 0.4 s of its 2 s, and nobody reads them until a
    # failure needs its queries.
    file_level = [] if "DBT_LOG_LEVEL_FILE" in os.environ else ["--log-level-file", "info"]
    logging = ["--log-path", str(target_path), "--log-level", "none", *file_level,
               "--no-send-anonymous-usage-stats"]
    manifest = dbt_parsed.manifest_for(options, logging, project_dir, target, database,
                                       [collect])
    # dbt would write the whole manifest (every macro of dbt and the adapter) after each build,
    # 0.2-0.4 s of a tiny region's build; the run's results are written below instead.
    result = dbtRunner(manifest=manifest, callbacks=[collect]).invoke([
        command, *params.selection_args,
        *(["--indirect-selection", indirect] if indirect else []), *options, *logging,
        "--no-write-json"])
    _release_connections()
    if result.exception is not None:
        # dbt stopped before judging the models: the artifacts in the folder are an older build's.
        raise dg.Failure(f"dbt stopped: {result.exception}")
    result.result.write(str(target_path / "run_results.json"))
    errors = [e for e in events if e["info"]["level"] == "error"]
    return InProcessBuild(events, result.success and not errors, target_path,
                          params.manifest, params.dagster_dbt_translator, params.dbt_project,
                          context)


def _module_calling_behavior_flags() -> str:
    """The first module on the stack other than dbt-common's behavior_flags: what its
    `_default_source` answers, read from each frame's globals instead of `inspect.stack()`,
    which reads the source lines around every frame. Each adapter a build makes names its
    behavior flags so, eagerly, even those that give their source: under Dagster's stack of
    some 150 frames, about 0.5 s a run."""
    from dbt_common import behavior_flags

    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__")
        if module and module != behavior_flags.__name__:
            return module
        frame = frame.f_back
    return "Unknown"


def _name_flag_sources_cheaply() -> None:
    from dbt_common.behavior_flags import BehaviorFlagRendered

    BehaviorFlagRendered._default_source = staticmethod(_module_calling_behavior_flags)


def _release_connections() -> None:
    """dbt-duckdb keeps its database open after a command, which would hold the store's lock
    for as long as this process lives: close it."""
    connections = sys.modules.get("dbt.adapters.duckdb.connections")
    if connections is None:
        return
    manager = connections.DuckDBConnectionManager
    environment = manager._ENV  # forgotten by close_all_connections, but not closed by it
    manager.close_all_connections()
    if environment is not None:
        environment.close()
