"""The audit trail's tamper evidence: each entry commits to the one before it.

An entry's hash covers its sequence number, time, kind, subject, details and the previous
entry's hash, so editing, deleting, inserting or reordering any entry breaks the chain at a
place `verify` can name. Pure functions; storage lives with the store.
"""

from __future__ import annotations

import hashlib
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


def entry_hash(seq: int, at: str, kind: str, subject: str, details: dict, prev_hash: str) -> str:
    payload = json.dumps([seq, at, kind, subject, details, prev_hash], sort_keys=True,
                         separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def next_entry(previous: Entry | None, at: str, kind: str, subject: str,
               details: dict) -> Entry:
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    return Entry(seq, at, kind, subject, details, prev_hash,
                 entry_hash(seq, at, kind, subject, details, prev_hash))


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str


def verify(entries: list[Entry]) -> list[Break]:
    """Every place the chain does not hold, in log order; empty when the log is intact."""
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
        if entry.hash != entry_hash(entry.seq, entry.at, entry.kind, entry.subject,
                                    entry.details, entry.prev_hash):
            breaks.append(Break(entry.seq, "its content was changed after it was written"))
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    return breaks
