"""STEWARD_NOW and STEWARD_POLICIES_DIR change what is enforced: honoured only in the test mode,
and announced on every command and in every audit entry while in force."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestration.lib.governance import audit_log
from orchestration.lib.settings import current_time
from policies import overrides
from policies.rules import policies_dir
from tests.conftest import run_steward

OUTSIDE_TEST_MODE = {"STEWARD_TEST_MODE": ""}


def test_a_moved_clock_outside_the_test_mode_stops_the_run_before_it_stores_anything(
        tiny_estate, data_dir):
    years_ago = (current_time() - timedelta(days=5 * 365)).date().isoformat()
    result = run_steward(["run"], data_dir, STEWARD_NOW=years_ago, **OUTSIDE_TEST_MODE)
    assert result.returncode == 2
    assert "STEWARD_NOW is set" in result.stderr and "STEWARD_TEST_MODE=1" in result.stderr
    assert not (data_dir / "store").exists()


def test_private_rule_files_outside_the_test_mode_are_refused(data_dir, tmp_path):
    result = run_steward(["read", "crm/customers"], data_dir,
                         STEWARD_POLICIES_DIR=str(tmp_path), **OUTSIDE_TEST_MODE)
    assert result.returncode == 2
    assert "STEWARD_POLICIES_DIR is set" in result.stderr


def test_in_process_the_guarded_variables_raise_outside_the_test_mode(monkeypatch, tmp_path):
    monkeypatch.delenv("STEWARD_TEST_MODE")
    monkeypatch.setenv("STEWARD_NOW", "+1d")
    with pytest.raises(overrides.OverrideRefused, match="STEWARD_NOW"):
        current_time()
    monkeypatch.setenv("STEWARD_POLICIES_DIR", str(tmp_path))
    with pytest.raises(overrides.OverrideRefused, match="STEWARD_POLICIES_DIR"):
        policies_dir()


def test_in_the_test_mode_a_moved_clock_is_announced_and_on_every_audit_entry(
        data_dir, monkeypatch):
    result = run_steward(["audit", "verify"], data_dir, STEWARD_NOW="+3d")
    assert "TEST MODE: STEWARD_NOW=+3d is in force" in result.stderr
    monkeypatch.setenv("STEWARD_NOW", "+3d")
    moved = audit_log.append("probe", "subject", {"n": 1})
    monkeypatch.delenv("STEWARD_NOW")
    plain = audit_log.append("probe", "subject", {"n": 2})
    assert moved.details["test_mode"] == {"STEWARD_NOW": "+3d"}
    assert "test_mode" not in plain.details
    assert audit_log.verify_log()[1] == []


def test_a_purge_as_of_a_later_day_only_previews(data_dir):
    later = (current_time() + timedelta(days=800)).date().isoformat()
    refused = run_steward(["retention", "purge", "--as-of", later], data_dir)
    assert refused.returncode == 2 and "--as-of previews" in refused.stderr
    preview = run_steward(["retention", "purge", "--dry-run", "--as-of", later], data_dir)
    assert preview.returncode == 0, preview.stderr
    assert f"retention purge as of {later}" in preview.stdout
    assert [e.kind for e in audit_log.entries()][-1] == "retention.dry_run"
