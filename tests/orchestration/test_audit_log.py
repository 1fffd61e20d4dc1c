"""The audit log in its store: appends chain, `steward audit verify` catches each tampering,
and a change of the policy files is recorded once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.audit_log import (
    append,
    audit_store,
    entries,
    export_jsonl,
    record_policy_files,
    verify_log,
)
from policies.rules import POLICIES_DIR


@pytest.fixture
def log(data_dir):
    for i in range(4):
        append("read.allowed", "marts/customer_features", {"consumer": "lead_scoring", "n": i})
    return audit_store()


def _verify_cli(data_dir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "STEWARD_STORE_DIR": str(data_dir / "store")}
    return subprocess.run([sys.executable, "-m", "orchestration.cli", "audit", "verify"],
                          env=env, capture_output=True, text=True)


def _tamper(path: Path, sql: str) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def test_a_clean_log_verifies_and_exports(log, data_dir):
    assert verify_log() == (4, [])
    result = _verify_cli(data_dir)
    assert result.returncode == 0 and "4 entries, intact" in result.stdout
    assert export_jsonl(data_dir / "audit.jsonl") == 4
    assert len((data_dir / "audit.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize(
    ("sql", "entry"),
    [
        ("UPDATE audit_log SET details = '{\"consumer\": \"x\", \"n\": 2}' WHERE seq = 3", 3),
        ("DELETE FROM audit_log WHERE seq = 2", 3),
        ("INSERT INTO audit_log SELECT 5, recorded_at, kind, subject, details, hash, hash "
         "FROM audit_log WHERE seq = 4", 5),
        ("UPDATE audit_log SET seq = CASE seq WHEN 2 THEN 3 WHEN 3 THEN 2 ELSE seq END", 2),
    ],
    ids=["edit", "delete", "insert", "reorder"],
)
def test_each_kind_of_tampering_fails_verify_and_says_where(log, data_dir, sql, entry):
    _tamper(log, sql)
    _, breaks = verify_log()
    assert entry in {b.seq for b in breaks}
    result = _verify_cli(data_dir)
    assert result.returncode == 1 and f"✗ entry {entry}:" in result.stdout
    assert "TAMPERED" in result.stdout


def test_policy_changes_are_recorded_once_each(data_dir, tmp_path):
    rules = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, rules, ignore=shutil.ignore_patterns("*.py", "data"))
    first = record_policy_files(rules)
    assert first is not None and "consumers.yaml" in first.details["changed"]
    assert record_policy_files(rules) is None
    (rules / "purposes.yaml").write_text((rules / "purposes.yaml").read_text() + "\n# edit\n")
    second = record_policy_files(rules)
    assert second.details["changed"] == ["purposes.yaml"]
    assert [e.kind for e in entries()] == ["policy.changed", "policy.changed"]
    assert verify_log()[1] == []
