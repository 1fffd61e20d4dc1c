"""Evaluate the rules over an asset graph: effective tags for everything, and every violation."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from policies.catalog import Catalog
from policies.detection import Findings
from policies.propagation import AssetTags, propagate
from policies.rules import RuleSet
from policies.violations import PII_DETECTED, Violation, asset_violations, consumer_violations

DETECTED_LEVEL = "personal"


@dataclass
class Evaluation:
    effective: dict[str, AssetTags]
    violations: list[Violation]

    def for_asset(self, key: str) -> list[Violation]:
        return [v for v in self.violations if v.asset == key]

    @property
    def ok(self) -> bool:
        return not self.violations


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Propagation allocates a tag per column and never a cycle; Python's cycle collector would
    rescan that growing heap again and again (half the time on 500,000 columns), so it waits."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def evaluate(rules: RuleSet, catalog: Catalog) -> Evaluation:
    with _collector_paused():
        effective = propagate(rules, catalog)
        violations = asset_violations(rules, catalog, effective)
        for consumer in rules.consumers.values():
            violations += consumer_violations(rules, consumer, catalog, effective)
    return Evaluation(effective, violations)


def detected_violations(rules: RuleSet, tags: AssetTags, findings: dict[str, Findings],
                        declared_in: str = "") -> list[Violation]:
    """PII found in a column's values (sampled, or every loaded row) that its effective
    classification does not admit."""
    found = []
    for column, finding in findings.items():
        level = tags.columns[column].level if column in tags.columns else rules.levels[0]
        if finding.detected and rules.rank(level) < rules.rank(DETECTED_LEVEL):
            kinds = ", ".join(f"{kind} in {count} of {finding.sampled} {finding.scope} values "
                              f"(e.g. {finding.examples[kind]})"
                              for kind, count in sorted(finding.hits.items()))
            found.append(Violation(
                PII_DETECTED, tags.key, f"classified {level} but holds {kinds}",
                f"classify it {DETECTED_LEVEL} (or higher), or redact it upstream",
                column=column, declared_in=declared_in))
    return found
