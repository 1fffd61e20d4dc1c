"""Keyed-hash pseudonyms: HMAC-SHA256 under a per-consumer key, computed inside DuckDB.

The secret comes from STEWARD_PSEUDONYM_KEY. Without it, a random key is created once among
Steward's keys (readable by their owner only, never in a store), so a laptop needs no set-up
and nothing secret ever sits in the repository. Each consumer gets its own key derived from
the secret: its pseudonyms are stable from read to read (joins across its datasets still work)
but cannot be joined with another consumer's.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from orchestration.lib.security.keys import purpose_key
from orchestration.lib.settings import get_settings

_BLOCK = 64  # SHA-256 block size: HMAC pads its key to this many bytes


def master_key() -> bytes:
    settings = get_settings()
    if settings.pseudonym_key:
        return settings.pseudonym_key.encode()
    # Older versions kept the key in the store folder; moving it keeps every pseudonym stable.
    legacy, kept = settings.store_dir / ".pseudonym.key", settings.keys_dir / "pseudonym.key"
    if legacy.exists() and not kept.exists():
        kept.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(legacy, kept)
    return purpose_key("pseudonym")


def consumer_key(consumer: str) -> bytes:
    return hmac.new(master_key(), f"consumer:{consumer}".encode(), hashlib.sha256).digest()


def pseudonym(key: bytes, value: object) -> str:
    """The pseudonym of one value, as the SQL below computes it (for tests and joins)."""
    return hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest()


def hmac_sql(expression: str, key: bytes) -> tuple[str, list[str]]:
    """SQL computing HMAC-SHA256(key, CAST(expression AS VARCHAR)) as lowercase hex, and the
    parameters it binds: the inner and outer padded keys (RFC 2104), never spliced into SQL."""
    padded = key.ljust(_BLOCK, b"\0") if len(key) <= _BLOCK else hashlib.sha256(key).digest()
    padded = padded.ljust(_BLOCK, b"\0")
    inner = bytes(b ^ 0x36 for b in padded).hex()
    outer = bytes(b ^ 0x5C for b in padded).hex()
    sql = (f"sha256(unhex(?) || unhex(sha256(unhex(?) || encode(CAST({expression} AS VARCHAR)))))")
    return sql, [outer, inner]
