"""One key per purpose, in Steward's keys folder, never in a store: a key that leaks for one
purpose forges nothing else."""

from __future__ import annotations

import hashlib
import hmac
import stat

from orchestration.lib.keys import purpose_key
from orchestration.lib.pseudonyms import consumer_key, master_key
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
    assert kept._model_of(artifact, signed_for_pseudonyms) == (
        None, "its signature does not hold")
    assert kept._model_of(artifact, kept._signature(artifact))[1].startswith(
        "it is not a model file")
