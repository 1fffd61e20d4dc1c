"""Who may read what: the decision for one consumer reading one dataset.

A read is denied when the consumer is not approved (`approvals.py`), the dataset is unknown,
not declared by the consumer, outside its purpose, outside its regions, or when masking cannot
bring a column down to what the consumer may see. Otherwise every column above the consumer's
ceiling (the lower of its clearance and its purpose's limit) is masked: free text is redacted,
anything else pseudonymised with a keyed hash.
The read path in `orchestration/` carries the decision out; the same decision is the static
check of every consumer edge, so a run and a read can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.approvals import consumer_refusal
from policies.propagation import AssetTags
from policies.rules import Consumer, RuleSet

UNKNOWN_CONSUMER = "consumer.unknown"
UNKNOWN_DATASET = "consumer.unknown_dataset"
UNDECLARED_DATASET = "consumer.undeclared_dataset"
UNKNOWN_COLUMN = "consumer.unknown_column"
PURPOSE_DENIED = "consumer.purpose_denied"
REGION_DENIED = "consumer.region_denied"
CLEARANCE_DENIED = "consumer.clearance_denied"
REVERSIBLE_HASH = "consumer.reversible_hash"

PASS = "pass"
DEFAULT_MASK = "keyed_hash"
MASKS = (DEFAULT_MASK, "redaction")  # the masks the read path can apply


@dataclass(frozen=True)
class ColumnAccess:
    name: str
    level: str  # effective classification
    action: str  # "pass", or the transform that masks it ("keyed_hash", "redaction")


@dataclass(frozen=True)
class Decision:
    consumer: str
    dataset: str
    allowed: bool
    rule: str | None = None
    reason: str = ""
    fix: str = ""
    regions: tuple[str, ...] = ()
    columns: tuple[ColumnAccess, ...] = ()
    suppressed: tuple[str, ...] = ()  # left out: their keyed hash would be reversible


    @property
    def masked(self) -> dict[str, str]:
        return {c.name: c.action for c in self.columns if c.action != PASS}


def _deny(consumer: str, dataset: str, rule: str, reason: str, fix: str) -> Decision:
    return Decision(consumer, dataset, False, rule, reason, fix)


def readable_regions(rules: RuleSet, consumer: Consumer, tags: AssetTags,
                     wanted: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The stores this consumer may read the dataset from (a regional dataset has one per
    region; a global one lives in its own store)."""
    if tags.region == "global":
        return ("global",)
    held = rules.regions if tags.region == "regional" else (tags.region,)
    return tuple(r for r in held if r in consumer.regions and (wanted is None or r in wanted))


def decide(rules: RuleSet, consumer: Consumer, dataset: str, tags: AssetTags | None,
           columns: tuple[str, ...] | None = None,
           regions: tuple[str, ...] | None = None) -> Decision:
    """The decision for `consumer` reading `columns` (all when None) of `dataset`, optionally
    only from `regions`."""
    name = consumer.name
    unapproved = consumer_refusal(rules.decision_rights, name)
    if unapproved:
        return _deny(name, dataset, unapproved.rule, unapproved.reason, unapproved.fix)
    if tags is None:
        return _deny(name, dataset, UNKNOWN_DATASET, f"{dataset} is not an asset",
                     "name an existing asset key (steward policy explain lists them)")
    if dataset not in consumer.datasets:
        return _deny(name, dataset, UNDECLARED_DATASET,
                     f"{name} does not declare {dataset} among the datasets it uses",
                     f"add {dataset} to {name}'s datasets in policies/consumers.yaml")
    purpose = rules.purposes[consumer.purpose]
    if dataset not in purpose.datasets:
        return _deny(name, dataset, PURPOSE_DENIED,
                     f"purpose {purpose.name} may not use {dataset} (it may use "
                     f"{', '.join(purpose.datasets) or 'no dataset'})",
                     "declare the consumer under a purpose that covers this dataset, or add the "
                     "dataset to the purpose in policies/purposes.yaml after review")
    allowed_regions = readable_regions(rules, consumer, tags, regions)
    refused = [r for r in regions or () if r not in allowed_regions]
    if not allowed_regions or refused:
        held = "every region" if tags.region == "regional" else tags.region
        asked = f" (asked for {', '.join(refused)})" if refused else ""
        return _deny(name, dataset, REGION_DENIED,
                     f"{name} may read {', '.join(consumer.regions)} but {dataset} is held in "
                     f"{held}{asked}",
                     "read from a region the consumer is cleared for, or declare the region "
                     "in policies/consumers.yaml if the law allows it")
    wanted = columns or tuple(tags.columns)
    unknown = [c for c in wanted if c not in tags.columns]
    if unknown:
        return _deny(name, dataset, UNKNOWN_COLUMN,
                     f"{dataset} has no column {', '.join(unknown)}",
                     f"choose from {', '.join(tags.columns)}")
    ceiling = min(rules.rank(consumer.clearance), rules.rank(purpose.max_level))
    plan = []
    for column in wanted:
        level = tags.columns[column].level
        if rules.rank(level) <= ceiling:
            plan.append(ColumnAccess(column, level, PASS))
            continue
        action = tags.columns[column].mask or DEFAULT_MASK
        masked_level = rules.transforms[action].yields
        if rules.rank(masked_level) > ceiling:
            return _deny(name, dataset, CLEARANCE_DENIED,
                         f"{dataset}.{column} is {level}; masking leaves it {masked_level}, "
                         f"above what {name} may see ({rules.levels[ceiling]}: clearance "
                         f"{consumer.clearance}, purpose {purpose.name} at most "
                         f"{purpose.max_level})",
                         "leave the column out of the read, or raise the consumer's clearance "
                         "after review")
        plan.append(ColumnAccess(column, level, action))
    return Decision(name, dataset, True, regions=allowed_regions, columns=tuple(plan))


@dataclass(frozen=True)
class Spread:
    """How a column's values spread in the rows a read would serve."""
    rows: int
    distinct: int

    def reversible(self, min_distinct: int) -> bool:
        """Few values, each repeated: counting pseudonyms tells which value each one hides."""
        return self.distinct < min_distinct and self.rows >= 2 * self.distinct


def guard_keyed_hashes(decision: Decision, spreads: dict[str, Spread], min_distinct: int,
                       named: bool) -> Decision:
    """The decision once keyed hashes that counting would reverse are taken out: a read that
    named such a column is denied; one that asked for every column gets the rest, with the
    column listed as suppressed."""
    reversible = {c: spreads[c] for c, action in decision.masked.items()
                  if action == DEFAULT_MASK and c in spreads
                  and spreads[c].reversible(min_distinct)}
    if not reversible:
        return decision
    if named:
        column, spread = next(iter(reversible.items()))
        return _deny(decision.consumer, decision.dataset, REVERSIBLE_HASH,
                     f"{decision.dataset}.{column} holds {spread.distinct} distinct value(s) in "
                     f"{spread.rows:,} rows: its keyed hash is reversible by counting how often "
                     f"each pseudonym occurs (fewer than {min_distinct} distinct values)",
                     "leave the column out of the read (suppression), or read a generalised "
                     "column a model derives from it")
    return Decision(decision.consumer, decision.dataset, True, regions=decision.regions,
                    columns=tuple(c for c in decision.columns if c.name not in reversible),
                    suppressed=tuple(reversible))
