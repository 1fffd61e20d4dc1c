"""The policy engine stays free of Dagster and dbt, so it can run anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FORBIDDEN = ("dagster", "dagster_dbt", "dbt", "orchestration")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_policy_module_imports_dagster_or_dbt():
    modules = sorted(POLICIES.glob("*.py"))
    assert len(modules) > 5
    offenders = {p.name: _imports(p) & set(FORBIDDEN) for p in modules}
    assert not {name: found for name, found in offenders.items() if found}
