"""dbt as the tests run it: one command in a subprocess, on the project or a copy of it, with
its target and logs in the test's own folder so parallel tests never share them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from orchestration.lib.dbt_manifest import dbt_executable
from orchestration.lib.settings import PROJECT_ROOT

DBT_PROJECT = PROJECT_ROOT / "dbt_project"


def run_dbt(command: str, scratch: Path, *args: str, target: str = "local",
            region: str | None = None, project: Path = DBT_PROJECT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`dbt <command> --target <target> <args>`, its output captured."""
    region_vars = ("--vars", json.dumps({"region": region})) if region else ()
    return subprocess.run(
        [dbt_executable(), command, "--target", target, *region_vars, "--project-dir",
         str(project), "--profiles-dir", str(project), "--target-path", str(scratch / "target"),
         "--log-path", str(scratch / "logs"), *args],
        env=env or os.environ, capture_output=True, text=True, timeout=600)


def project_copy(folder: Path) -> Path:
    """A copy of the dbt project Steward is set to build, under `folder`, without its build
    output, to edit freely."""
    from orchestration.lib.settings import get_settings

    project = folder / "dbt_project"
    shutil.copytree(get_settings().dbt_project_dir, project,
                    ignore=shutil.ignore_patterns("target", "logs"))
    return project
