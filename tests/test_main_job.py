"""The README's main command, end to end, as a user runs it (on a tiny estate)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

STEWARD = [sys.executable, "-m", "orchestration.cli"]


# dbt's own variables for a file log of every event, as JSON lines, to see how it parsed
DEBUG_LOG = {"DBT_LOG_LEVEL_FILE": "debug", "DBT_LOG_FORMAT_FILE": "json"}


def _run(data_dir: Path, *options: str, dbt_log: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEWARD_DATA_DIR": str(data_dir),
           "STEWARD_STORE_DIR": str(data_dir / "store"),
           "STEWARD_LANDING_DIR": str(data_dir / "landing"), "DAGSTER_HOME": "",
           **(dbt_log or {})}
    env.pop("DAGSTER_HOME")
    return subprocess.run([*STEWARD, "run", "--customers", "60", *options], env=env,
                          capture_output=True, text=True, timeout=600)


def test_main_job_generates_runs_summarizes_and_is_idempotent(tmp_path, dbt_manifest):
    first = _run(tmp_path, dbt_log=DEBUG_LOG)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "generating 60 customers" in first.stdout
    assert "marts/customer_features" in first.stdout and "\nOK in" in first.stdout
    assert f"(stores in {tmp_path / 'store'})" in first.stdout
    with duckdb.connect(str(tmp_path / "store" / "us.duckdb"), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM marts.customer_features").fetchone()[0]
    # dbt keeps one folder per store between runs. One parse served the three stores' builds,
    # and it started from the parse the project's compile kept: even a new estate's first run
    # does not parse the project in full.
    dbt_folders = tmp_path / "store" / ".dbt"
    assert sorted(p.name for p in dbt_folders.iterdir()) == ["eu", "global", "us"]
    first_parses, logged = _parses(dbt_folders, {})
    assert first_parses == ["PartialParsingEnabled"]
    # Nothing changed: skipped, saying so. Forced, it runs again and changes nothing.
    skipped = _run(tmp_path, dbt_log=DEBUG_LOG)
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert "nothing changed since the healthy run that ended" in skipped.stdout
    assert "marts/customer_features" not in skipped.stdout
    second = _run(tmp_path, "--force", dbt_log=DEBUG_LOG)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "generating" not in second.stdout and "\nOK in" in second.stdout
    with duckdb.connect(str(tmp_path / "store" / "us.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM raw_crm.customers").fetchone()[0] == before
        loaded = con.execute("SELECT count(*) FROM _steward.loaded_files").fetchone()[0]
    assert loaded == 5 * 3  # five source tables, three export files each, logged once
    # The forced run parsed once, from the parse the first run kept.
    assert _parses(dbt_folders, logged)[0] == ["PartialParsingEnabled"]


def _parses(folders: Path, seen: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    """How dbt parsed the project, by event name, in the log lines of every store's folder
    after the `seen` number of lines; and the number of lines now."""
    parses, now = [], {}
    for folder in folders.iterdir():
        lines = (folder / "dbt.log").read_text().splitlines()
        now[folder.name] = len(lines)
        parses += [name for line in lines[seen.get(folder.name, 0):] if line.startswith("{")
                   if (name := json.loads(line)["info"]["name"]) in (
                       "PartialParsingEnabled", "UnableToPartialParse",
                       "PartialParseSaveFileNotFound")]
    return parses, now


def test_main_job_exits_non_zero_and_says_failed_when_a_step_fails(tmp_path, dbt_manifest):
    store = tmp_path / "store"
    store.mkdir()
    (store / "us.duckdb").write_bytes(b"this is not a DuckDB database")
    result = _run(tmp_path)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    again = _run(tmp_path)  # a failed run is never taken for one with nothing left to do
    assert again.returncode == 1 and "nothing changed" not in again.stdout
