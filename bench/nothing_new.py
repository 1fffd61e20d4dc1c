"""A `steward run` with nothing new on the default sample estate (1,000 customers) against a
plain `dbt build` of the same models for both regions, measured in the same run.

Each `steward run` is a fresh process with the Dagster instance `make run` uses (DAGSTER_HOME
in the data folder), timed from start to exit as a user waits for it: the first full run, a
run with nothing new (skipped: nothing it reads changed), and the same run forced (`--force`:
every step again, over files it has seen). The yardstick is `dbt build` of the estate's models
in each region's store after a `dbt compile` that leaves its parse for the builds to reuse; the
first run's is that and DuckDB's own CREATE TABLE AS over each landing table's files.
`python -m bench.nothing_new` runs it alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import raw
from bench.scratch import scratch_env
from orchestration.lib.dbt_manifest import PLATFORM_MODELS, dbt_executable
from orchestration.lib.settings import PROJECT_ROOT

CUSTOMERS = 1000  # the sample estate `make run` generates
TARGET_RATIO = 0.5
FIRST_RUN_TARGET = 2.0  # times dbt build and raw loads of the same files


def _steward_run(env: dict[str, str], *options: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "run", "--customers",
                           str(CUSTOMERS), *options], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"steward run {' '.join(options)} failed: {done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}")
    return seconds, done.stdout


def _dbt(env: dict[str, str], command: str, region: str, target: Path) -> float:
    project = PROJECT_ROOT / "dbt_project"
    started = time.perf_counter()
    subprocess.run([dbt_executable(), command, "--exclude", f"path:{PLATFORM_MODELS}",
                    "--vars", json.dumps({"region": region}), "--project-dir", str(project),
                    "--profiles-dir", str(project), "--target-path", str(target), "--quiet"],
                   env=env, cwd=project, check=True)
    return time.perf_counter() - started


def _raw_loads(landing: Path, databases: Path) -> float:
    """Seconds DuckDB takes to load each landing table's files as they are, a table each."""
    databases.mkdir(parents=True)
    started = time.perf_counter()
    for folder in sorted({path.parent for path in landing.rglob("*") if path.is_file()}):
        files = sorted(str(path) for path in folder.iterdir() if path.is_file())
        raw(Path(files[0]).suffix.lstrip("."), files,
            databases / f"{folder.parent.name}_{folder.name}.duckdb")
    return time.perf_counter() - started


def bench_nothing_new(root: Path) -> dict[str, float]:
    env = scratch_env(root / "data")
    first, _ = _steward_run(env)
    skipped, said = _steward_run(env)
    if "nothing changed since" not in said:
        raise SystemExit(f"the run with nothing new was not skipped: {said[-2000:]}")
    forced, _ = _steward_run(env, "--force")
    dbt = 0.0
    for region in ("eu", "us"):
        target = root / "dbt-target" / region
        _dbt(env, "compile", region, target)
        dbt += _dbt(env, "build", region, target)
    loads = _raw_loads(root / "data" / "landing", root / "raw")
    print(f"\nsteward run on the sample estate ({CUSTOMERS:,} customers), each a fresh process; "
          f"yardstick: plain dbt build of the same models, both regions {dbt:.2f}s\n"
          f"first full run {first:.1f}s: {first / (dbt + loads):.2f}x dbt build and raw DuckDB "
          f"loads of the same files ({loads:.2f}s) (target <= {FIRST_RUN_TARGET}x: "
          f"{'met' if first / (dbt + loads) <= FIRST_RUN_TARGET else 'NOT met'})\n"
          f"nothing new {skipped:.2f}s: {skipped / dbt:.2f}x dbt build "
          f"(target <= {TARGET_RATIO}x: {'met' if skipped / dbt <= TARGET_RATIO else 'NOT met'})"
          f"\nnothing new, forced to run every step {forced:.1f}s: {forced / dbt:.2f}x dbt build")
    return {"first_s": first, "nothing_new_s": skipped, "forced_s": forced, "dbt_build_s": dbt,
            "raw_loads_s": loads}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="steward-bench-") as scratch:
        bench_nothing_new(Path(scratch))
