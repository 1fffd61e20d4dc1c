"""One key per purpose, in Steward's keys folder, never in a store: a key that leaks for one
purpose forges nothing else."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pytest

from orchestration.lib.governance.pseudonyms import consumer_key, master_key
from orchestration.lib.security.keys import purpose_key
from orchestration.lib.settings import get_settings


def test_each_purpose_has_its_own_private_key_outside_the_stores(data_dir):
    keys = {purpose: purpose_key(purpose) for purpose in ("audit", "models", "pseudonym")}
    assert len(set(keys.values())) == 3
    assert master_key() == keys["pseudonym"]
    for purpose in keys:
        path = get_settings().keys_dir / f"{purpose}.key"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not get_settings().keys_dir.is_relative_to(get_settings().store_dir)


def test_a_pseudonym_key_left_in_the_store_by_an_older_version_moves_and_keeps_pseudonyms(
        data_dir):
    legacy = get_settings().store_dir / ".pseudonym.key"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"k" * 32)
    expected = hmac.new(b"k" * 32, b"consumer:lead_scoring", hashlib.sha256).digest()
    assert consumer_key("lead_scoring") == expected
    assert not legacy.exists()
    assert (get_settings().keys_dir / "pseudonym.key").read_bytes() == b"k" * 32


def test_a_model_signed_with_another_purposes_key_is_refused(data_dir):
    from orchestration.lib.consumers import kept

    artifact = b"any artifact"
    signed_for_pseudonyms = hmac.new(purpose_key("pseudonym"), b"consumer-model:" + artifact,
                                     hashlib.sha256).hexdigest()
    opened = kept._model_of(artifact, signed_for_pseudonyms)
    assert opened.refused == "its signature does not hold"
    assert opened.model is None and not opened.trusted
    assert kept._model_of(artifact, kept._signature(artifact)).refused.startswith(
        "it is not a model file")


def test_a_rotated_audit_key_verifies_across_the_rotation_and_keeps_old_entries_its_own(
        data_dir):
    from orchestration.lib.governance import audit_log
    from policies.audit import entry_hash, next_entry, verify

    for n in range(3):
        audit_log.append("probe", "before", {"n": n})
    old = purpose_key("audit")
    rotation = audit_log.rotate_key()
    audit_log.append("probe", "after", {"n": 4})
    assert rotation.seq == 4 and audit_log.key_ring().current != old
    assert audit_log.verify_log() == (5, [])
    first, *_ = audit_log.entries()
    assert first.hash == entry_hash(first.seq, first.at, first.kind, first.subject,
                                    first.details, first.prev_hash, old)
    # Whoever holds only the new key cannot rewrite what the old one MACed.
    forged, rewritten = None, []
    for entry in audit_log.entries():
        forged = next_entry(forged, entry.at, entry.kind, entry.subject, entry.details,
                            audit_log.key_ring().current)
        rewritten.append(forged)
    assert [b.seq for b in verify(rewritten, audit_log.key_ring())] == [1, 2, 3]


def test_a_rotated_models_key_signs_every_kept_model_again(built_copy):
    from orchestration.lib.consumers import kept
    from orchestration.lib.security.key_rotation import rotate_key

    before = purpose_key("models")
    assert "kept model(s) signed again" in rotate_key("models")
    assert purpose_key("models") != before
    for name, region in (("lead_scores", "us"), ("invoice_risk", "eu")):
        loaded = kept.load(name, region)
        assert loaded.model is not None and loaded.refused is None
    assert kept._model_of(b"artifact", kept._signature(b"artifact", before)).refused == (
        "its signature does not hold")


def test_a_rotated_pseudonym_key_changes_every_pseudonym(data_dir, monkeypatch):
    from orchestration.lib.security.key_rotation import rotate_key

    before = consumer_key("lead_scoring")
    rotate_key("pseudonym")
    assert consumer_key("lead_scoring") != before
    monkeypatch.setenv("STEWARD_PSEUDONYM_KEY", "set-elsewhere")
    with pytest.raises(ValueError, match="rotate that secret where it is kept"):
        rotate_key("pseudonym")


def test_the_cli_rotates_a_named_purpose_only(data_dir):
    from tests.conftest import run_steward

    refused = run_steward(["keys", "rotate", "everything"], data_dir)
    assert refused.returncode == 2 and "no key purpose 'everything'" in refused.stderr
    done = run_steward(["keys", "rotate", "audit"], data_dir)
    assert done.returncode == 0 and "MACs from entry 1 on" in done.stdout
