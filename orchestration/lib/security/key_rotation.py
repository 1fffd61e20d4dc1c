"""Rotating Steward's keys, one purpose at a time, without breaking what they protect.

- `audit`: the new key MACs the chain from the next entry on; the old ones stay in the ring to
  verify the entries they MACed (`audit_log.key_ring`).
- `models`: every kept model whose signature holds is signed again under the new key, so none
  is refused or retrained for the rotation.
- `pseudonym`: every consumer's pseudonyms change from the next read (a consumer that joins
  across the rotation reads again); refused while STEWARD_PSEUDONYM_KEY is set, as that secret
  is rotated where it is kept. On PostgreSQL the masking views hash with the new keys at once:
  every region's database is given them.

Each rotation is audited (`keys.rotated`); no key ever appears in the entry.
"""

from __future__ import annotations

from orchestration.lib.consumers.kept import resign
from orchestration.lib.governance import audit_log
from orchestration.lib.governance.database_grants import restore
from orchestration.lib.governance.pseudonyms import master_key
from orchestration.lib.security import keys
from orchestration.lib.settings import get_settings
from orchestration.lib.warehouse import enforced_in_database, exists, store_path
from policies.regions import region_names

PURPOSES = ("audit", "models", "pseudonym")


def rotate_key(purpose: str) -> str:
    """Rotate the key of one purpose; returns what happened, for the operator."""
    if purpose == "audit":
        entry = audit_log.rotate_key()
        return f"the audit key MACs from entry {entry.seq} on; earlier keys verify the rest"
    if purpose == "models":
        old, new = keys.rotate("models")
        signed = resign(old, new)
        audit_log.append("keys.rotated", "models", {"models_signed_again": signed})
        return f"{signed} kept model(s) signed again under the new key"
    if purpose == "pseudonym":
        if get_settings().pseudonym_key:
            raise ValueError("STEWARD_PSEUDONYM_KEY is set: rotate that secret where it is "
                             "kept, then restart")
        master_key()  # moves a key an older version left in the store folder first
        keys.rotate("pseudonym")
        if enforced_in_database():
            for region in region_names():
                if exists(store_path(region)):
                    restore(region)
        audit_log.append("keys.rotated", "pseudonym", {})
        return "every consumer's pseudonyms change from the next read"
    raise ValueError(f"no key purpose {purpose!r}; choose from {', '.join(PURPOSES)}")
