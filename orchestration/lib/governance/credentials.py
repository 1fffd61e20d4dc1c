"""Consumer credentials: who a reader is, proven by a token rather than typed as a name.

`steward consumer token NAME` issues a bearer token for one declared consumer: shown once,
kept only as a SHA-256 digest (a copy of the store grants nothing), expiring, revocable by
its public id. The read service derives the consumer from the token; nothing a caller types
can name another. Issuing and revoking are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from orchestration.lib.governance import audit_log
from orchestration.lib.settings import current_time, get_settings
from orchestration.lib.warehouse import rows_if_present, write_connection
from policies.rules import load_rules

TABLE = "consumer_tokens"
PREFIX = "stw"
DEFAULT_LIFETIME = timedelta(days=30)


class NotAuthenticated(PermissionError):
    """No valid credential: missing, malformed, unknown, expired, revoked, or its consumer is
    no longer declared. The message says which, never anything of the token."""


@dataclass(frozen=True)
class Issued:
    token_id: str
    consumer: str
    expires_at: datetime
    token: str  # the bearer token itself: shown once, never stored


@dataclass(frozen=True)
class Credential:
    token_id: str
    consumer: str
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def ended(self, now: datetime) -> str | None:
        """Why the token no longer proves its consumer at `now`, or None while it does."""
        if self.revoked_at is not None:
            return f"was revoked at {self.revoked_at}"
        if now >= self.expires_at:
            return f"expired at {self.expires_at}"
        return None


def token_store() -> Path:
    return get_settings().store_dir / "credentials.duckdb"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(consumer: str, lifetime: timedelta = DEFAULT_LIFETIME) -> Issued:
    """A new token for a declared consumer."""
    if consumer not in load_rules().consumers:
        raise KeyError(f"no consumer {consumer!r} is declared in policies/consumers.yaml")
    if lifetime <= timedelta(0):
        raise ValueError("a token must live for some time")
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    issued_at = current_time().replace(microsecond=0)
    expires_at = issued_at + lifetime
    with write_connection(token_store()) as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (token_id VARCHAR PRIMARY KEY, "
                    "consumer VARCHAR, digest VARCHAR, issued_at TIMESTAMP, "
                    "expires_at TIMESTAMP, revoked_at TIMESTAMP)")
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, NULL)",
                    [token_id, consumer, _digest(secret), issued_at, expires_at])
    audit_log.append("consumer.token_issued", consumer, {
        "token_id": token_id, "expires_at": expires_at.isoformat(sep=" ")})
    return Issued(token_id, consumer, expires_at, f"{PREFIX}_{token_id}_{secret}")


def credentials() -> list[Credential]:
    return [Credential(*row) for row in rows_if_present(
        token_store(), TABLE, f"SELECT token_id, consumer, issued_at, expires_at, revoked_at "
                              f"FROM {TABLE} ORDER BY issued_at, token_id")]


def revoke(token_id: str) -> Credential:
    """Revoke one token by its public id; the next request with it is refused."""
    known = {c.token_id: c for c in credentials()}
    if token_id not in known:
        raise KeyError(f"no token {token_id!r} (steward consumer tokens lists them)")
    with write_connection(token_store()) as con:
        con.execute(f"UPDATE {TABLE} SET revoked_at = ? WHERE token_id = ? AND revoked_at IS "
                    "NULL", [current_time().replace(microsecond=0), token_id])
    audit_log.append("consumer.token_revoked", known[token_id].consumer, {"token_id": token_id})
    return known[token_id]


def authenticate(token: str | None) -> Credential:
    """The credential a bearer token proves, or NotAuthenticated saying why."""
    if not token:
        raise NotAuthenticated("no credential: send the consumer's token (steward consumer "
                               "token NAME issues one)")
    prefix, _, rest = token.strip().partition("_")
    token_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not token_id or not secret:
        raise NotAuthenticated("not a Steward token")
    found = rows_if_present(token_store(), TABLE,
                            f"SELECT token_id, consumer, issued_at, expires_at, revoked_at, "
                            f"digest FROM {TABLE} WHERE token_id = ?", [token_id])
    if not found or not hmac.compare_digest(found[0][5], _digest(secret)):
        raise NotAuthenticated("unknown token")
    credential = Credential(*found[0][:5])
    if ended := credential.ended(current_time()):
        raise NotAuthenticated(f"token {token_id} {ended}")
    if credential.consumer not in load_rules().consumers:
        raise NotAuthenticated(f"token {token_id} is for {credential.consumer}, no longer a "
                               "declared consumer")
    return credential
