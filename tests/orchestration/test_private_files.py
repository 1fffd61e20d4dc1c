"""Stores, keys and checkpoints are their owner's alone: what a run writes, and what an older
version or a copy left open, which start-up tightens."""

from __future__ import annotations

from pathlib import Path

from orchestration.lib.security.private_files import ensure_private, private_folders
from orchestration.lib.settings import get_settings
from tests.conftest import run_steward


def _opened_to_others(data_dir: Path) -> list[Path]:
    store = data_dir / "store"
    (store / "eu.duckdb").parent.mkdir(parents=True)
    (store / "eu.duckdb").write_bytes(b"rows")
    (data_dir / "keys").mkdir()
    (data_dir / "keys" / "audit.key").write_bytes(b"secret")
    opened = [store, store / "eu.duckdb", data_dir / "keys", data_dir / "keys" / "audit.key"]
    for path in opened:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return opened


def test_what_others_could_read_is_tightened_at_start(data_dir):
    opened = _opened_to_others(data_dir)
    assert sorted(ensure_private()) == sorted(opened)
    assert [p.stat().st_mode & 0o777 for p in opened] == [0o700, 0o600, 0o700, 0o600]
    assert ensure_private() == []


def test_every_command_tightens_before_it_runs_and_says_so(data_dir):
    opened = _opened_to_others(data_dir)
    done = run_steward(["audit", "verify"], data_dir)
    assert "readable by their owner only" in done.stderr
    assert all(p.stat().st_mode & 0o077 == 0 for p in opened)


def test_the_code_location_the_ui_loads_tightens_too(data_dir):
    import sys

    opened = _opened_to_others(data_dir)
    done = run_steward([sys.executable, "-c", "import orchestration.definitions"], data_dir)
    assert done.returncode == 0, done.stderr
    assert all(p.stat().st_mode & 0o077 == 0 for p in opened)


def test_everything_a_pipeline_run_wrote_is_its_owners_alone(pipeline_run):
    assert get_settings().store_dir.is_dir()
    written = [p for folder in private_folders() if folder.is_dir()
               for p in [folder, *folder.rglob("*")] if not p.is_symlink()]
    assert len(written) > 10
    assert [p for p in written if p.stat().st_mode & 0o077] == []


def test_a_file_that_goes_while_being_looked_at_does_not_stop_the_start(data_dir,
                                                                         monkeypatch):
    opened = _opened_to_others(data_dir)
    # A WAL checkpointed away by another run between the listing and the look at it.
    checkpointed = data_dir / "store" / "audit.duckdb.wal"
    listing = Path.rglob
    monkeypatch.setattr(Path, "rglob", lambda folder, pattern: [
        *listing(folder, pattern), *([checkpointed] if folder.name == "store" else [])])
    assert sorted(ensure_private()) == sorted(opened)


def test_a_dbt_build_leaves_its_target_private_whatever_seeded_it(data_dir, dbt_manifest,
                                                                  tmp_path, monkeypatch):
    import dagster as dg

    from orchestration.definitions import build_definitions

    # dagster-dbt's `cli` seeded a store's new dbt target with the partial-parse file of the
    # target a developer's own dbt commands write, mode and all; the build must take nothing
    # from there.
    developers = tmp_path / "developers-target"
    developers.mkdir()
    (developers / "partial_parse.msgpack").write_bytes(b"parsed by hand")
    (developers / "partial_parse.msgpack").chmod(0o644)
    monkeypatch.setenv("DBT_TARGET_PATH", str(developers))
    job = build_definitions().resolve_implicit_global_asset_job_def()
    job.get_subset(asset_selection={dg.AssetKey(["staging", "stg_crm__customers"])}
                   ).execute_in_process(instance=dg.DagsterInstance.ephemeral(),
                                        partition_key="eu", raise_on_error=False)
    target = get_settings().dbt_target("eu")
    assert (target / "run_results.json").exists()
    assert [p for p in [target, *target.rglob("*")] if p.stat().st_mode & 0o077] == []
