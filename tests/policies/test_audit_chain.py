"""The audit chain holds on an untouched log and names the entry for each kind of tampering."""

from __future__ import annotations

import dataclasses

from policies.audit import next_entry, verify
from tests.clock import moment


def _at(seconds: int) -> str:
    return f"{moment(seconds / 86400):%Y-%m-%dT%H:%M:%S}Z"


def _log(n: int = 5):
    entries, previous = [], None
    for i in range(n):
        previous = next_entry(previous, _at(i), "read.allowed", "marts/x",
                              {"consumer": "lead_scoring", "rows": i})
        entries.append(previous)
    return entries


def test_an_untouched_log_verifies():
    assert verify(_log()) == []


def test_an_edited_entry_is_named():
    log = _log()
    log[2] = dataclasses.replace(log[2], details={"consumer": "lead_scoring", "rows": 999})
    assert [(b.seq, b.problem) for b in verify(log)] == [
        (3, "its content was changed after it was written")]


def test_a_deleted_entry_is_named():
    log = _log()
    del log[1]
    problems = verify(log)
    assert problems and problems[0].seq == 3 and "missing or reordered" in problems[0].problem


def test_an_inserted_entry_is_named():
    log = _log()
    forged = next_entry(log[1], _at(9), "read.allowed", "marts/x", {})
    log.insert(2, forged)
    assert {b.seq for b in verify(log)} >= {3}


def test_reordered_entries_are_named():
    log = _log()
    log[1], log[2] = log[2], log[1]
    assert {2, 3} <= {b.seq for b in verify(log)}
