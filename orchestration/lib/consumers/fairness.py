"""Bias monitoring: a model's positive-outcome rate per group of each protected attribute.

Both the model's outcomes and the protected attributes are read through the governed read path
as the auditing consumer (purpose fairness_audit), so reading gender and birth dates is itself
allowed, masked or denied by policy and recorded in the audit log. The arithmetic runs in
DuckDB over the two Arrow tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import pyarrow as pa

from orchestration.lib.governance.governed_read import read_dataset
from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import (
    engine,
    sql_literal,
    stage_arrow,
)
from policies.rules import FairnessAudit

AGE_SOURCE = "birth_date"


@dataclass(frozen=True)
class GroupRate:
    attribute: str
    group: str
    size: int
    positive_rate: float
    judged: bool  # large enough to count towards the verdict


@dataclass
class FairnessResult:
    audit: FairnessAudit
    groups: list[GroupRate]
    disparate_impact: dict[str, float | None] = field(default_factory=dict)
    rate_gap: dict[str, float | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The problems that stay when the two groups' rates are given the benefit of their
    # sampling error at the audit's confidence: what a gate holds scores back for.
    beyond_doubt: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def _age_band_sql(bands: tuple[int, ...]) -> str:
    cases = [f"WHEN age >= {lower} THEN '{lower}+'" if i == len(bands) - 1 else
             f"WHEN age >= {lower} THEN '{lower}-{bands[i + 1] - 1}'"
             for i, lower in reversed(list(enumerate(bands)))]
    return f"CASE {' '.join(cases)} ELSE 'under {bands[0]}' END"


def measure(audit: FairnessAudit, age_bands: tuple[int, ...], outcomes: pa.Table | None = None,
            regions: list[str] | None = None) -> FairnessResult:
    """The audit of the model's written outcomes, or of `outcomes` a model proposes for
    `regions` before they are written (the gate of a model whose approval requires it)."""
    wanted = [a for a in audit.attributes if a != "age_band"]
    if "age_band" in audit.attributes:
        wanted.append(AGE_SOURCE)
    if outcomes is None:
        outcomes = read_dataset(audit.model, audit.consumer, [audit.key, audit.outcome])
    subjects = read_dataset(audit.subjects, audit.consumer, [audit.key, *wanted], regions)
    con = engine()
    stage_arrow(con, "outcomes", outcomes)
    stage_arrow(con, "subjects", subjects)
    today = sql_literal(f"{current_time():%Y-%m-%d}")
    age = (f", {_age_band_sql(age_bands)} AS age_band FROM (SELECT *, date_part('year', "
           f"age(DATE {today}, {AGE_SOURCE})) AS age FROM subjects)") if AGE_SOURCE in wanted else (
        " FROM subjects")
    con.execute(f"CREATE TABLE joined AS SELECT o.{audit.outcome}::BOOLEAN AS outcome, s.* "
                f"FROM outcomes o JOIN (SELECT *{age}) s USING ({audit.key})")
    groups = []
    for attribute in audit.attributes:
        for group, size, rate in con.execute(
                f"SELECT coalesce(CAST({attribute} AS VARCHAR), 'unknown'), count(*), "
                f"avg(outcome::INTEGER) FROM joined GROUP BY 1 ORDER BY 1").fetchall():
            groups.append(GroupRate(attribute, group, size, round(rate, 4),
                                    size >= audit.min_group_size))
    con.close()
    return judge(audit, groups)


def _beyond_chance(low: GroupRate, high: GroupRate, z: float) -> tuple[float, float]:
    """(the largest disparate impact, the smallest rate gap) the two groups' rates are
    consistent with at z standard errors: the risk ratio's by the delta method on its log, the
    gap's by the normal approximation; half a person added to each count (Haldane) so a group
    whose rate is 0 or 1 still has an error."""
    def adjusted(group: GroupRate) -> tuple[float, float, float]:
        positives = group.positive_rate * group.size + 0.5
        return positives, group.size + 1, positives / (group.size + 1)

    (x_low, n_low, p_low), (x_high, n_high, p_high) = adjusted(low), adjusted(high)
    log_error = math.sqrt(1 / x_low - 1 / n_low + 1 / x_high - 1 / n_high)
    gap_error = math.sqrt(p_low * (1 - p_low) / n_low + p_high * (1 - p_high) / n_high)
    return (math.exp(math.log(p_low / p_high) + z * log_error),
            high.positive_rate - low.positive_rate - z * gap_error)


def judge(audit: FairnessAudit, groups: list[GroupRate]) -> FairnessResult:
    """Four-fifths rule and largest rate gap per attribute, over the groups large enough;
    each breach also judged against the sampling error of the two groups' rates."""
    result = FairnessResult(audit, groups)
    z = NormalDist().inv_cdf(0.5 + audit.confidence / 2)
    for attribute in audit.attributes:
        judged = [g for g in groups if g.attribute == attribute and g.judged]
        if len(judged) < 2:
            result.disparate_impact[attribute] = result.rate_gap[attribute] = None
            continue
        low = min(judged, key=lambda g: g.positive_rate)
        high = max(judged, key=lambda g: g.positive_rate)
        impact = low.positive_rate / high.positive_rate if high.positive_rate else 1.0
        gap = high.positive_rate - low.positive_rate
        result.disparate_impact[attribute] = round(impact, 4)
        result.rate_gap[attribute] = round(gap, 4)
        impact_at_most, gap_at_least = _beyond_chance(low, high, z)
        breaches = [
            (impact < audit.min_disparate_impact,
             impact_at_most < audit.min_disparate_impact,
             f"{attribute}: disparate impact {impact:.2f} is below "
             f"{audit.min_disparate_impact} (four-fifths rule)"),
            (gap > audit.max_positive_rate_gap,
             gap_at_least > audit.max_positive_rate_gap,
             f"{attribute}: positive rates differ by {gap:.2f}, more than "
             f"{audit.max_positive_rate_gap}")]
        for measured, certain, problem in breaches:
            result.problems += [problem] if measured else []
            result.beyond_doubt += ([f"{problem}, beyond sampling error at "
                                     f"{audit.confidence:.0%}"] if measured and certain else [])
    return result
