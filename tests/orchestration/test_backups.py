"""Disaster recovery: a snapshot of the built estate, the stores destroyed, the snapshot
restored: every table equals the original, the audit chain verifies, an erasure made after the
snapshot is replayed, and the next load takes only what landed after the snapshot."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import psycopg2
import pytest

from orchestration.lib.governance.audit_log import entries, verify_log
from orchestration.lib.governance.erasure import erase
from orchestration.lib.governance.suppression import erased_ids
from orchestration.lib.operations import backups
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import reader, store_path
from tests.conftest import run_steward
from tests.orchestration.ingest_helpers import customer_ids, customer_row, load, write_customers
from tests.postgres_cluster import copy_inputs

AUDIT = "audit.duckdb"


def _contents() -> dict[str, dict[str, str]]:
    """Each store's tables, each as a digest of its rows in order."""
    found = {}
    for store in sorted(get_settings().store_dir.glob("*.duckdb")):
        with reader(store) as con:
            tables = con.execute("SELECT schema_name, table_name FROM duckdb_tables() "
                                 "ORDER BY 1, 2").fetchall()
            found[store.name] = {
                f"{schema}.{table}": hashlib.sha256(repr(sorted(
                    con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall(),
                    key=repr)).encode()).hexdigest()
                for schema, table in tables}
    return found


def _destroy() -> None:
    """The stores, the audit checkpoints and the keys lost; the backup folder survives."""
    settings = get_settings()
    for folder in (settings.store_dir, settings.data_dir / "checkpoints", settings.keys_dir):
        shutil.rmtree(folder, ignore_errors=True)


def test_a_restore_rebuilds_every_store_table_by_table(built_copy):
    snapshot = backups.take()
    before, logged = _contents(), entries()
    assert logged[-1].kind == "backup.taken" and backups.verify(snapshot) == []
    assert {"eu.duckdb", "us.duckdb", "global.duckdb", "quarantine.duckdb", AUDIT,
            "ops.duckdb"} <= set(snapshot.tables)
    assert snapshot.tables["us.duckdb"]["raw_crm.customers"] == len(customer_ids("us")) > 0
    assert any(name.startswith("keys/") for name in snapshot.files)

    _destroy()
    restored = backups.restore(snapshot.name)
    after = _contents()
    assert set(after) == set(before)
    for store in set(before) - {AUDIT}:
        assert after[store] == before[store], store
    # The audit log is the snapshot's (up to the backup.taken entry), then the restore's.
    restored_log = entries()
    assert [e.hash for e in restored_log[:len(logged) - 1]] == [e.hash for e in logged[:-1]]
    assert restored_log[-1].kind == "backup.restored"
    assert restored_log[-1].details["taken_at"] == snapshot.taken_at.isoformat(sep=" ")
    assert verify_log()[1] == []
    assert restored.erasures_replayed == [] and restored.set_aside.is_dir()


def test_a_restore_never_brings_back_a_subject_erased_after_the_snapshot(built_copy):
    snapshot = backups.take()
    subject = str(customer_ids("us")[0])
    erase(subject)
    assert int(subject) not in customer_ids("us")
    restored = backups.restore(snapshot.name)  # the stores at the time, erasure and all, aside
    assert restored.erasures_replayed == [f"customer:{subject}"]
    assert int(subject) not in customer_ids("us") and subject in erased_ids("customer")
    left = erase(subject, dry_run=True).rows_deleted
    assert not any(rows for regions in left.values() for rows in regions.values())
    assert (restored.set_aside / "store" / "us.duckdb").exists()  # nothing deleted
    assert verify_log()[1] == []


def test_the_first_load_after_a_restore_takes_only_what_landed_after_the_snapshot(built_copy):
    settings = get_settings()
    snapshot = backups.take()
    write_customers(settings.landing_dir, "after-the-snapshot.csv",
                    [customer_row(990001), customer_row(990002)])
    assert load().files_new == ["crm/customers/after-the-snapshot.csv"]
    _destroy()
    backups.restore(snapshot.name)
    assert 990001 not in customer_ids("us")
    reloaded = load()  # nothing that landed before the snapshot again
    assert reloaded.files_new == ["crm/customers/after-the-snapshot.csv"]
    assert {990001, 990002} <= set(customer_ids("us"))


def test_a_damaged_snapshot_is_refused_before_anything_is_touched(built_copy):
    snapshot = backups.take()
    store = snapshot.path / "store" / "us.duckdb"
    data = bytearray(store.read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.write_bytes(bytes(data))
    before = _contents()
    with pytest.raises(backups.SnapshotDamaged, match=r"store/us\.duckdb: does not match"):
        backups.restore(snapshot.name)
    assert _contents() == before
    listed = run_steward(["backup", "list"], built_copy)
    assert "DAMAGED: store/us.duckdb" in listed.stdout


def test_the_cli_backs_up_restores_and_prunes_old_snapshots(built_copy):
    old = run_steward(["backup"], built_copy, STEWARD_NOW="-40d")
    assert old.returncode == 0, old.stderr
    taken = run_steward(["backup"], built_copy)
    assert taken.returncode == 0, taken.stderr
    assert "pruned, older than 30 days" in taken.stdout
    [snapshot] = backups.listed()
    assert snapshot.name in taken.stdout
    restored = run_steward(["restore", snapshot.name], built_copy)
    assert restored.returncode == 0, restored.stderr
    assert "audit log:" in restored.stdout and "verified" in restored.stdout
    missing = run_steward(["restore", "no-such-snapshot"], built_copy)
    assert missing.returncode == 1 and "is not a whole snapshot" in missing.stderr
    # After a restore by the database's own tools, only the erasures and retention are left.
    after = run_steward(["restore", "--after-database-restore"], built_copy)
    assert after.returncode == 0, after.stderr
    assert "erasures replayed: 0" in after.stdout and "restored snapshot" not in after.stdout
    assert entries()[-1].kind == "backup.restored"


def _all_rows(dsn: str) -> dict[str, list[tuple]]:
    with psycopg2.connect(dsn) as con, con.cursor() as cursor:
        cursor.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE "
                       "table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")
        found = {}
        for schema, table in cursor.fetchall():
            cursor.execute(f'SELECT * FROM "{schema}"."{table}"')
            found[f"{schema}.{table}"] = sorted(cursor.fetchall(), key=repr)
    return found


def test_on_postgresql_a_database_dumped_and_restored_equals_the_original(built_copy,
                                                                          postgres, tmp_path):
    """What docs/disaster-recovery.md has an operator run: pg_dump in the custom format (a
    consistent snapshot that blocks no reader), pg_restore into an empty database."""
    original = copy_inputs(store_path("eu"), postgres, "steward_dr_eu")
    dump = tmp_path / "steward_eu.dump"
    dumped = subprocess.run([str(postgres.bin_dir / "pg_dump"), "--format=custom",
                             f"--file={dump}", original], capture_output=True, text=True)
    assert dumped.returncode == 0, dumped.stderr
    rebuilt = postgres.new_database("steward_dr_eu_restored")
    loaded = subprocess.run([str(postgres.bin_dir / "pg_restore"), "--exit-on-error",
                             f"--dbname={rebuilt}", str(dump)], capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr
    before, after = _all_rows(original), _all_rows(rebuilt)
    assert before.get("raw_crm.customers")
    assert after == before


def test_the_daily_backup_job_takes_a_snapshot(built_copy):
    from orchestration.defs.governance.jobs import backup_stores_job

    result = backup_stores_job.execute_in_process()
    assert result.success
    [snapshot] = backups.listed()
    assert backups.verify(snapshot) == [] and entries()[-1].kind == "backup.taken"
