"""A consumer probing outside its purpose and regions is denied every time, each denial
audited; the audit log survives a writer killed mid-append and still verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from orchestration.lib.governance import audit_log
from orchestration.lib.governance.governed_read import AccessDenied, read_dataset
from orchestration.lib.governance.registry import relations
from policies.rules import load_rules


def _denied_kinds() -> list[str]:
    return [e.kind for e in audit_log.entries() if e.kind == "access.denied"]


@pytest.mark.parametrize("consumer", sorted(load_rules().consumers))
def test_every_dataset_outside_purpose_or_region_is_denied_and_audited(consumer, data_dir,
                                                                      dbt_manifest):
    rules = load_rules()
    declared = rules.consumers[consumer]
    allowed = set(rules.purposes[declared.purpose].datasets) & set(declared.datasets)
    attempts = [(dataset, None) for dataset in sorted(relations()) if dataset not in allowed]
    attempts += [(dataset, [region]) for dataset in sorted(allowed)
                 for region in rules.regions if region not in declared.regions]
    assert len(attempts) > len(relations()) / 2
    for dataset, regions in attempts:
        with pytest.raises(AccessDenied) as denied:
            read_dataset(dataset, consumer, regions=regions)
        assert denied.value.decision.rule.startswith("consumer."), dataset
        assert denied.value.decision.reason and denied.value.decision.fix
    assert len(_denied_kinds()) == len(attempts)
    first, *rest = audit_log.entries()
    assert first.kind == "policy.changed"  # the rules in force, on record before any decision
    decisions = [e for e in rest if e.kind.startswith("access.")]  # not the approvals it holds
    logged = [(e.subject, e.details["consumer"]) for e in decisions]
    assert logged == [(dataset, consumer) for dataset, _ in attempts]
    assert {e.details["rules_version"] for e in decisions} == {first.details["version"]}


WRITER = """
import sys
from orchestration.lib.governance import audit_log
audit_log.append("test.start", "probe", {})
print("ready", flush=True)
for i in range(100_000):
    audit_log.append("test.write", f"entry-{i}", {"i": i, "payload": "x" * 200})
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_audit_log_survives_a_writer_killed_mid_append(seed, data_dir):
    writer = subprocess.Popen([sys.executable, "-c", WRITER], stdout=subprocess.PIPE,
                              env=os.environ.copy(), text=True)
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(random.Random(seed).uniform(0.2, 1.5))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    count, breaks = audit_log.verify_log()
    assert breaks == [] and count > 1
    seqs = [entry.seq for entry in audit_log.entries()]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    audit_log.append("test.after", "probe", {})  # the chain goes on from where it stopped
    assert audit_log.verify_log() == (count + 1, [])
