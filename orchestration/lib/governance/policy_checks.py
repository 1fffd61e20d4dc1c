"""The blocking `policy__compliant` check: declared rules plus what a data sample reveals."""

from __future__ import annotations

import dagster as dg

from orchestration.lib.governance.database_grants import take_back
from orchestration.lib.governance.pii_scan import SAMPLE_ROWS, loaded_findings, scan_relation
from orchestration.lib.governance.policy_adapter import (
    country_columns,
    project_catalog,
    project_evaluation,
)
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import enforced_in_database, held_in, qualified, quote_ident
from policies.detection import Findings
from policies.engine import DETECTED_LEVEL, detected_violations
from policies.report import format_violation
from policies.retention import expiry
from policies.rules import load_rules
from policies.violations import (
    ACCESS_GRANTED_BEYOND,
    REGION_ROWS_OUTSIDE,
    RETENTION_ROWS_PAST,
    Violation,
)

POLICY_CHECK = "policy__compliant"
BLOCKED_METADATA = "blocked_by_policy"  # on an observation of a model the dbt gate held back
POLICY_CHECK_DESCRIPTION = ("Owner, retention, region and PII rules of policies/ hold for this "
                            "asset; in each store its rows all belong to that region, none is "
                            "past its retention, and no undeclared PII is found (in every row "
                            "at load for a source, in a sample otherwise).")


def policy_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(POLICY_CHECK, asset=key, blocking=True,
                             description=POLICY_CHECK_DESCRIPTION)


def _outside_region(con, key: str, relation: tuple[str, str], region: str) -> list[Violation]:
    """Rows whose country belongs to another region (or to none) than this store's."""
    column = country_columns().get(key)
    if column is None:
        return []
    countries = [c for c, r in load_rules().country_regions.items() if r == region]
    count, example = con.execute(
        f"SELECT count(*), min({quote_ident(column)}) FROM {qualified(*relation)} "
        f"WHERE coalesce({quote_ident(column)}, '') NOT IN (SELECT unnest(?::VARCHAR[]))",
        [countries]).fetchone()
    if not count:
        return []
    return [Violation(REGION_ROWS_OUTSIDE, key,
                      f"{count} row(s) in the {region} store have a {column} outside {region} "
                      f"(e.g. {example})",
                      "find the model or load that moved them and keep each row in its "
                      "region's store", column=column)]


def _past_retention(con, key: str, relation: tuple[str, str], region: str) -> list[Violation]:
    expired = expiry(project_catalog().assets[key], project_evaluation().effective[key],
                     current_time())
    if expired is None:
        return []
    [(count,)] = con.execute(f"SELECT count(*) FROM {qualified(*relation)} WHERE "
                             f"{quote_ident(expired.event_time)} < ?", [expired.cutoff]
                             ).fetchall()
    if not count:
        return []
    return [Violation(RETENTION_ROWS_PAST, key,
                      f"{count} row(s) in the {region} store have a {expired.event_time} before "
                      f"{expired.cutoff:%Y-%m-%d}, past the retention of {expired.retention}",
                      "run steward retention purge", column=expired.event_time)]


def _granted_beyond_policy(key: str, relation: tuple[str, str], region: str
                           ) -> list[Violation]:
    """Grants on the table made outside Steward (a manual GRANT): taken back at once, and a
    violation, so what reads it downstream waits for the next run."""
    revoked = take_back(region, relation)
    if not revoked:
        return []
    return [Violation(ACCESS_GRANTED_BEYOND, key,
                      f"the {region} database granted beyond the policy (now taken back): "
                      + "; ".join(revoked),
                      "find who granted it by hand, and change policies/consumers.yaml if the "
                      "access is meant; the next run finds the grants as the policy implies")]


def _pii_findings(con, relation: tuple[str, str], loaded: bool) -> list[dict[str, Findings]]:
    """What the detectors found in the stored rows: a sample of the table, and for a table
    Steward loads, every loaded row as scanned at load (which then speaks for the kinds it
    judges, so a kind is not reported twice)."""
    sample = scan_relation(con, *relation)
    if not loaded:
        return [sample]
    at_load = loaded_findings(con, *relation)
    for column, found in at_load.items():
        for kind in found.hits:
            sample.get(column, Findings()).hits.pop(kind, None)
    return [sample, at_load]


def _data_violations(key: str, relation: tuple[str, str], regions: list[str],
                     loaded: bool) -> list[Violation]:
    """What the stored rows reveal: undeclared PII, rows of another region, rows past
    retention; and, where the database enforces the policy, grants made beyond it."""
    tags = project_evaluation().effective[key]
    declared_in = project_catalog().assets[key].declared_in
    found: list[Violation] = []
    for region, con in held_in(regions, relation):
        for findings in _pii_findings(con, relation, loaded):
            found += detected_violations(load_rules(), tags, findings, declared_in)
        found += _outside_region(con, key, relation, region)
        found += _past_retention(con, key, relation, region)
        if enforced_in_database():
            found += _granted_beyond_policy(key, relation, region)
    return found


def evaluate_policy(key: dg.AssetKey, relation: tuple[str, str], regions: list[str],
                    loaded: bool = False) -> dg.AssetCheckResult:
    """Static violations of the asset, then a PII scan of its stored rows in each region.
    `loaded`: a raw table Steward loads, whose every row was scanned at load."""
    name = key.to_user_string()
    violations = (project_evaluation().for_asset(name)
                  + _data_violations(name, relation, regions, loaded))
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=POLICY_CHECK,
        passed=not violations,
        severity=dg.AssetCheckSeverity.ERROR,
        description="; ".join(f"{v.rule} {v.where()}" for v in violations) or None,
        metadata={
            "violations": dg.MetadataValue.md(
                "\n\n".join(f"```\n{format_violation(v)}\n```" for v in violations) or "none"),
            "violation_count": len(violations),
            "pii_scan": (f"every loaded row of its text columns below {DETECTED_LEVEL}, at load "
                         f"(names: a sample of {SAMPLE_ROWS} rows)" if loaded else
                         f"a sample of {SAMPLE_ROWS} rows of each text column"),
        },
    )
