"""The audit chain holds on an untouched log and names the entry for each kind of tampering."""

from __future__ import annotations

import dataclasses

from policies.audit import Checkpoint, next_entry, verify
from tests.clock import moment

KEY = b"the writer's audit key"


def _at(seconds: int) -> str:
    return f"{moment(seconds / 86400):%Y-%m-%dT%H:%M:%S}Z"


def _log(n: int = 5):
    entries, previous = [], None
    for i in range(n):
        previous = next_entry(previous, _at(i), "read.allowed", "marts/x",
                              {"consumer": "lead_scoring", "rows": i}, KEY)
        entries.append(previous)
    return entries


def test_an_untouched_log_verifies():
    assert verify(_log(), KEY) == []


def test_an_edited_entry_is_named():
    log = _log()
    log[2] = dataclasses.replace(log[2], details={"consumer": "lead_scoring", "rows": 999})
    assert [(b.seq, b.problem) for b in verify(log, KEY)] == [
        (3, "its content was changed after it was written, or it was written without the "
            "audit key")]


def test_a_deleted_entry_is_named():
    log = _log()
    del log[1]
    problems = verify(log, KEY)
    assert problems and problems[0].seq == 3 and "missing or reordered" in problems[0].problem


def test_an_inserted_entry_is_named():
    log = _log()
    forged = next_entry(log[1], _at(9), "read.allowed", "marts/x", {}, KEY)
    log.insert(2, forged)
    assert {b.seq for b in verify(log, KEY)} >= {3}


def test_reordered_entries_are_named():
    log = _log()
    log[1], log[2] = log[2], log[1]
    assert {2, 3} <= {b.seq for b in verify(log, KEY)}


def test_a_chain_recomputed_without_the_key_does_not_verify():
    """Removing an entry and recomputing every later link with the published code, but not
    the writer's key, leaves a chain that does not verify."""
    log = _log()
    forged, previous = [], None
    for entry in [e for e in log if e.seq != 3]:
        previous = next_entry(previous, entry.at, entry.kind, entry.subject, entry.details,
                              b"a guessed key")
        forged.append(previous)
    assert {b.seq for b in verify(forged, KEY)} == {1, 2, 3, 4}


def test_a_log_cut_short_after_its_checkpoint_is_named():
    log = _log()
    checkpoint = Checkpoint.of(log[-1], _at(10), KEY)
    assert checkpoint.genuine(KEY) and verify(log, KEY, checkpoint) == []
    [problem] = verify(log[:3], KEY, checkpoint)
    assert problem.seq == 5 and "removed from its end" in problem.problem


def test_a_rewritten_chain_differs_from_its_checkpoint():
    log = _log()
    checkpoint = Checkpoint.of(log[-1], _at(10), KEY)
    rewritten, previous = [], None
    for entry in log:  # rewritten with the key itself: only the checkpoint can tell
        previous = next_entry(previous, entry.at, entry.kind, entry.subject,
                              {**entry.details, "consumer": "someone_else"}, KEY)
        rewritten.append(previous)
    [problem] = verify(rewritten, KEY, checkpoint)
    assert "was rewritten" in problem.problem


def test_a_forged_checkpoint_is_not_genuine():
    log = _log()
    checkpoint = Checkpoint.of(log[2], _at(10), b"a guessed key")
    assert not checkpoint.genuine(KEY)
