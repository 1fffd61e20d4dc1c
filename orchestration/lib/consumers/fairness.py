"""Bias monitoring: a model's positive-outcome rate per group of each protected attribute.

Both the model's outcomes and the protected attributes are read through the governed read path
as the auditing consumer (purpose fairness_audit), so reading gender and birth dates is itself
allowed, masked or denied by policy and recorded in the audit log. The arithmetic runs in
DuckDB over the two Arrow tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def judge(audit: FairnessAudit, groups: list[GroupRate]) -> FairnessResult:
    """Four-fifths rule and largest rate gap per attribute, over the groups large enough."""
    result = FairnessResult(audit, groups)
    for attribute in audit.attributes:
        rates = [g.positive_rate for g in groups if g.attribute == attribute and g.judged]
        if len(rates) < 2:
            result.disparate_impact[attribute] = result.rate_gap[attribute] = None
            continue
        impact = min(rates) / max(rates) if max(rates) else 1.0
        gap = max(rates) - min(rates)
        result.disparate_impact[attribute] = round(impact, 4)
        result.rate_gap[attribute] = round(gap, 4)
        if impact < audit.min_disparate_impact:
            result.problems.append(f"{attribute}: disparate impact {impact:.2f} is below "
                                   f"{audit.min_disparate_impact} (four-fifths rule)")
        if gap > audit.max_positive_rate_gap:
            result.problems.append(f"{attribute}: positive rates differ by {gap:.2f}, more "
                                   f"than {audit.max_positive_rate_gap}")
    return result
