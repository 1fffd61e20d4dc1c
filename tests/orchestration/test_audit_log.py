"""The audit log in its store: appends chain, `steward audit verify` catches each tampering,
and a change of the policy files is recorded once."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.lib.governance.audit_log import (
    append,
    audit_store,
    checkpoint_file,
    entries,
    export_jsonl,
    record_policy_files,
    verify_log,
)
from orchestration.lib.settings import get_settings
from policies.audit import next_entry
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


def test_a_log_cut_short_at_its_end_fails_verify(log, data_dir):
    _tamper(log, "DELETE FROM audit_log WHERE seq >= 3")
    result = _verify_cli(data_dir)
    assert result.returncode == 1 and "✗ entry 4:" in result.stdout
    assert "removed from its end" in result.stdout


def test_a_chain_rebuilt_with_the_published_code_but_not_the_key_fails_verify(log, data_dir):
    kept = [e for e in entries() if e.seq != 2]
    rebuilt, previous = [], None
    for entry in kept:
        previous = next_entry(previous, entry.at, entry.kind, entry.subject, entry.details,
                              key=b"not the writer's key")
        rebuilt.append(previous)
    with duckdb.connect(str(log)) as con:
        con.execute("DELETE FROM audit_log")
        con.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)", [
            [e.seq, e.at, e.kind, e.subject, json.dumps(e.details, sort_keys=True), e.prev_hash,
             e.hash] for e in rebuilt])
    _, breaks = verify_log()
    assert {b.seq for b in breaks} == {1, 2, 3, 4}  # every entry unkeyed, and the tail gone
    assert _verify_cli(data_dir).returncode == 1


def test_a_removed_checkpoint_file_fails_verify(log, data_dir):
    checkpoint_file().unlink()
    _, breaks = verify_log()
    assert [b.problem for b in breaks] == [
        f"no checkpoint in {checkpoint_file()}: whether entries were removed from the end "
        "cannot be told"]


def test_a_crash_mid_checkpoint_leaves_a_log_that_verifies_and_goes_on(log, data_dir):
    with open(checkpoint_file(), "a", encoding="utf-8") as handle:
        handle.write('{"count": 5, "head": "ab')  # torn: the writer died here
    assert verify_log() == (4, [])
    append("read.allowed", "marts/customer_features", {"consumer": "lead_scoring", "n": 5})
    assert verify_log() == (5, [])


def test_the_audit_key_is_its_owners_alone_and_not_in_the_store(log, data_dir):
    key = get_settings().keys_dir / "audit.key"
    assert key.stat().st_mode & 0o777 == 0o600 and key.parent.stat().st_mode & 0o777 == 0o700
    assert not key.is_relative_to(get_settings().store_dir)


def test_policy_changes_are_recorded_once_each(data_dir, tmp_path):
    rules = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, rules, ignore=shutil.ignore_patterns("*.py", "data"))
    first = record_policy_files(rules)
    assert first is not None and "consumers.yaml" in first.details["changed"]
    assert record_policy_files(rules) is None
    (rules / "purposes.yaml").write_text((rules / "purposes.yaml").read_text() + "\n# edit\n")
    second = record_policy_files(rules)
    assert second.details["changed"] == ["purposes.yaml"]
    kinds = [e.kind for e in entries()]
    # The first record also writes down every approval in force (4 consumers, 3 models).
    assert kinds == ["policy.changed", *["approval.recorded"] * 7, "policy.changed"]
    assert verify_log()[1] == []


def test_each_approval_granted_or_withdrawn_is_recorded_with_who_and_when(data_dir, tmp_path):
    rules = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, rules, ignore=shutil.ignore_patterns("*.py", "data"))
    record_policy_files(rules)
    seen = len(entries())
    approvals = rules / "approvals.yaml"
    text = approvals.read_text().replace("version: invoice-logreg-v1", "version: invoice-logreg-v2")
    approvals.write_text(text.replace("  fairness_audit: {", "  # fairness_audit: {"))
    assert record_policy_files(rules).details["changed"] == ["approvals.yaml"]
    recorded = {e.kind: e for e in entries()[seen + 1:]}
    assert set(recorded) == {"approval.recorded", "approval.withdrawn"}
    granted = recorded["approval.recorded"]
    assert granted.subject == "model:consumers/invoice_risk"
    assert granted.details["version"] == "invoice-logreg-v2"
    assert granted.details["approved_by"] == "responsible-ai-lead" and granted.details["ticket"]
    assert recorded["approval.withdrawn"].subject == "consumer:fairness_audit"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed here")
def test_a_policy_change_names_who_put_it_in_force_and_the_commit(data_dir, tmp_path):
    rules = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, rules, ignore=shutil.ignore_patterns("*.py", "data"))
    assert record_policy_files(rules).details["by"] == getpass.getuser()
    assert "commit" not in entries()[0].details  # not kept in git: the account is what is known
    git = ["git", "-C", str(rules), "-c", "user.name=Ana Lead", "-c", "user.email=ana@example.com"]
    for step in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "floors"]):
        subprocess.run([*git, *step], check=True, capture_output=True)
    (rules / "slos.yaml").write_text((rules / "slos.yaml").read_text() + "# tighter\n")
    changed = record_policy_files(rules).details
    assert changed["committed_by"] == "Ana Lead <ana@example.com>" and len(changed["commit"]) == 40
    assert changed["uncommitted_edits"] is True
