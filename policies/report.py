"""Violations and effective tags as text a person can act on."""

from __future__ import annotations

from policies.engine import Evaluation
from policies.propagation import AssetTags, lineage_path
from policies.violations import Violation


def format_violation(violation: Violation) -> str:
    lines = [f"✗ {violation.rule}  {violation.where()}", f"    {violation.message}"]
    if violation.path:
        lines.append(f"    lineage: {' ← '.join((violation.where(), *violation.path))}")
    lines.append(f"    fix: {violation.fix}")
    if violation.declared_in:
        lines.append(f"    in: {violation.declared_in}")
    return "\n".join(lines)


def format_check(evaluation: Evaluation) -> str:
    assets = len(evaluation.effective)
    if evaluation.ok:
        return f"policy check passed: {assets} assets, 0 violations"
    body = "\n\n".join(format_violation(v) for v in evaluation.violations)
    return (f"{body}\n\npolicy check FAILED: {len(evaluation.violations)} violation(s) "
            f"across {assets} assets")


def format_explain(effective: dict[str, AssetTags], key: str, column: str | None = None) -> str:
    tags = effective[key]
    if column:
        found = tags.columns.get(column)
        if found is None:
            raise KeyError(f"{tags.key} has no column {column}; it has {', '.join(tags.columns)}")
        path = " ← ".join((f"{tags.key}.{column}", *lineage_path(effective, key, column)))
        return f"{tags.key}.{column}\n  pii: {found.level} — {found.reason}\n  lineage: {path}"
    pii_reason = (f"its most sensitive column {tags.pii_column} is {tags.pii} "
                  f"({tags.columns[tags.pii_column].reason})" if tags.pii_column else "no columns")
    inputs = (f"; its inputs allow {tags.inputs_retention_days} days "
              f"(shortest: {tags.inputs_retention_source})"
              if tags.inputs_retention_days is not None else "")
    lines = [
        tags.key,
        f"  owner: {tags.owner or '(none)'}",
        f"  retention: {tags.retention or '(none)'} — {tags.retention_source}{inputs}",
        f"  region: {tags.region or '(none)'}",
        f"  pii: {tags.pii} — {pii_reason}",
        "  columns:",
        *(f"    {name}: {c.level} — {c.reason}" for name, c in tags.columns.items()),
    ]
    return "\n".join(lines)
