"""The audit trail's tamper evidence: each entry commits to the one before it, under a key.

An entry's MAC (HMAC-SHA256 under the audit key) covers its sequence number, time, kind,
subject, details and the previous entry's MAC, so editing, deleting, inserting or reordering
any entry breaks the chain at a place `verify` can name, and recomputing the chain after such
an edit needs the key. A chain cut short at its end still holds, so the writer also keeps
checkpoints (the count and head of the log, under the same key) outside the log: a log that
ends before its latest checkpoint, or whose entry there differs, was shortened or rewritten.
A key can be rotated: a `KeyRing` says from which entry each key MACs the chain, and each
entry and checkpoint is checked under the key of its place. Pure functions; storage and the
keys live with the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    seq: int
    at: str  # ISO-8601 UTC
    kind: str  # e.g. policy.changed, read.allowed, read.denied, purge, erasure
    subject: str
    details: dict
    prev_hash: str
    hash: str


def _mac(key: bytes, payload: object) -> str:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def entry_hash(seq: int, at: str, kind: str, subject: str, details: dict, prev_hash: str,
               key: bytes) -> str:
    return _mac(key, [seq, at, kind, subject, details, prev_hash])


def next_entry(previous: Entry | None, at: str, kind: str, subject: str, details: dict,
               key: bytes) -> Entry:
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    return Entry(seq, at, kind, subject, details, prev_hash,
                 entry_hash(seq, at, kind, subject, details, prev_hash, key))


@dataclass(frozen=True)
class KeyRing:
    """The audit keys over time: (the first entry it MACs, key), in order."""
    keys: tuple[tuple[int, bytes], ...]

    @staticmethod
    def of(key: bytes | KeyRing) -> KeyRing:
        return key if isinstance(key, KeyRing) else KeyRing(((1, key),))

    def for_entry(self, seq: int) -> bytes:
        """The key in use when entry `seq` was written (the first key before the first)."""
        return next((key for first, key in reversed(self.keys) if first <= seq),
                    self.keys[0][1])

    @property
    def current(self) -> bytes:
        return self.keys[-1][1]


@dataclass(frozen=True)
class Checkpoint:
    count: int  # the log's last sequence number when it was taken
    head: str  # that entry's MAC
    at: str
    mac: str

    @staticmethod
    def of(head: Entry, at: str, key: bytes) -> Checkpoint:
        return Checkpoint(head.seq, head.hash, at, _mac(key, ["checkpoint", head.seq, head.hash,
                                                              at]))

    def genuine(self, key: bytes | KeyRing) -> bool:
        """Written under the key that MACed the entry it counts to."""
        return hmac.compare_digest(self.mac, _mac(KeyRing.of(key).for_entry(self.count), [
            "checkpoint", self.count, self.head, self.at]))


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str


def verify(entries: list[Entry], key: bytes | KeyRing,
           checkpoint: Checkpoint | None = None) -> list[Break]:
    """Every place the chain does not hold, in log order, then what the latest checkpoint
    says of its end; empty when the log is intact. Each entry is checked under the key of its
    place in the ring."""
    ring = KeyRing.of(key)
    breaks: list[Break] = []
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.seq != expected_seq:
            what = "missing or reordered" if entry.seq > expected_seq else "repeated or reordered"
            breaks.append(Break(entry.seq, f"expected entry {expected_seq} here, found "
                                           f"{entry.seq} ({what})"))
        if entry.prev_hash != prev_hash:
            breaks.append(Break(entry.seq, "does not follow the entry before it "
                                           "(one was removed, inserted or moved)"))
        if not hmac.compare_digest(entry.hash, entry_hash(
                entry.seq, entry.at, entry.kind, entry.subject, entry.details, entry.prev_hash,
                ring.for_entry(entry.seq))):
            breaks.append(Break(entry.seq, "its content was changed after it was written, or "
                                           "it was written without the audit key"))
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    if checkpoint is not None:
        breaks += _against(entries, checkpoint)
    return breaks


def _against(entries: list[Entry], checkpoint: Checkpoint) -> list[Break]:
    at = next((e for e in entries if e.seq == checkpoint.count), None)
    if at is None:
        last = max((e.seq for e in entries), default=0)
        return [Break(checkpoint.count, f"the log ends at entry {last}, but the checkpoint of "
                                        f"{checkpoint.at} counted {checkpoint.count}: entries "
                                        "were removed from its end")]
    if not hmac.compare_digest(at.hash, checkpoint.head):
        return [Break(checkpoint.count, f"differs from the checkpoint of {checkpoint.at}: the "
                                        "chain up to here was rewritten")]
    return []
