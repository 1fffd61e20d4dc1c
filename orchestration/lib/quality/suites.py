"""Expectation suites in `expectations/`: Great Expectations' own JSON, one file per asset.

Each expectation carries `meta.severity` (`error` blocks downstream, `warning` reports); the
suite's `meta.steward` names its asset and what happens to failing rows (`block` or
`quarantine`). Loading needs no Great Expectations import, so the code location stays light.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.lib.settings import get_settings

SEVERITIES = ("error", "warning")
FAILING_ROWS = ("block", "quarantine")


class SuiteError(ValueError):
    """A suite file that cannot be used, with the file and what to fix."""


@dataclass(frozen=True)
class ExpectationSpec:
    type: str
    kwargs: dict
    severity: str

    @property
    def label(self) -> str:
        column = self.kwargs.get("column") or self.kwargs.get("description", "")
        return f"{self.type}({column})" if column else self.type


@dataclass(frozen=True)
class Suite:
    name: str
    asset: str
    failing_rows: str
    expectations: tuple[ExpectationSpec, ...]
    path: Path

    @property
    def check_name(self) -> str:
        return f"quality__{self.name}"


def _parse(path: Path) -> Suite:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise SuiteError(f"{path}: not valid JSON: {error}") from None
    steward = (document.get("meta") or {}).get("steward") or {}
    if not steward.get("asset"):
        raise SuiteError(f"{path}: set meta.steward.asset to the asset key it checks")
    failing_rows = steward.get("failing_rows", "block")
    if failing_rows not in FAILING_ROWS:
        raise SuiteError(f"{path}: meta.steward.failing_rows must be one of {FAILING_ROWS}")
    expectations = []
    for i, raw in enumerate(document.get("expectations") or []):
        severity = (raw.get("meta") or {}).get("severity", "error")
        if severity not in SEVERITIES or not raw.get("type"):
            raise SuiteError(f"{path}: expectation {i} needs a type and a severity in "
                             f"{SEVERITIES}")
        expectations.append(ExpectationSpec(raw["type"], dict(raw.get("kwargs") or {}), severity))
    if not expectations:
        raise SuiteError(f"{path}: the suite has no expectations")
    return Suite(document.get("name") or path.stem, steward["asset"], failing_rows,
                 tuple(expectations), path)


def load_suites(directory: Path | None = None) -> tuple[Suite, ...]:
    return _load_suites(directory or get_settings().expectations_dir)


@cache
def _load_suites(directory: Path) -> tuple[Suite, ...]:
    suites = tuple(_parse(path) for path in sorted(directory.glob("*.json")))
    names = [suite.name for suite in suites]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise SuiteError(f"{directory}: suite names must be unique: {sorted(duplicates)}")
    return suites


def suites_for(asset: str) -> list[Suite]:
    return [suite for suite in load_suites() if suite.asset == asset]
