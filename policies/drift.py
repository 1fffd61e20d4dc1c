"""Drift watch: how far the population a consumer model scores has moved from the one it was
trained on, and what that means for the run.

`drift.yaml` names, per consumer model, the inputs to watch and its score; a scoring run
measures each against the training population with the population stability index, PSI =
sum of (actual - expected) * ln(actual / expected) over the bins of the training population (its
deciles, or a category each). At `warn_psi` or above the run warns; at `block_psi` or above
the kept model does not score: the region keeps its last scores until the model is retrained
on the population it now sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from policies.yaml_source import Located

MODEL_DRIFTED = "model.drifted"
STABLE, WARN, BLOCK, NOT_JUDGED = "stable", "warn", "block", "not judged"
EMPTY_SHARE = 1e-4  # a bin empty on one side would make the index infinite


@dataclass(frozen=True)
class DriftWatch:
    model: str  # the consumer model's asset key
    watch: tuple[str, ...]  # input columns to compare with training
    score: str  # the output column holding the score
    bands: str | None  # an output column whose share per value is reported (risk bands)
    warn_psi: float
    block_psi: float


@dataclass(frozen=True)
class DriftVerdict:
    level: str  # STABLE, WARN or BLOCK
    worst: str | None  # the column that moved most
    psi: float  # its index

    def reason(self, model: str) -> str:
        return (f"{model}: {self.worst} drifted from the training population (PSI "
                f"{self.psi:.3f})")


def psi(expected: list[float], actual: list[float]) -> float:
    """The population stability index of `actual` shares against `expected` ones (same bins)."""
    total = 0.0
    for before, now in zip(expected, actual, strict=True):
        before, now = max(before, EMPTY_SHARE), max(now, EMPTY_SHARE)
        total += (now - before) * math.log(now / before)
    return total


def verdict(watch: DriftWatch, indices: dict[str, float], rows: int,
            min_rows: int) -> DriftVerdict:
    """The level the worst column reached; not judged on fewer rows than `min_rows`, where
    the index of a population that has not moved is mostly sampling noise."""
    if not indices:
        return DriftVerdict(STABLE, None, 0.0)
    if rows < min_rows:
        return DriftVerdict(NOT_JUDGED, None, max(indices.values()))
    worst = max(indices, key=indices.__getitem__)
    level = (BLOCK if indices[worst] >= watch.block_psi else
             WARN if indices[worst] >= watch.warn_psi else STABLE)
    return DriftVerdict(level, worst, indices[worst])


def _threshold(doc: Located, value: object, *where: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise doc.error(f"{value!r} is not a positive PSI threshold", *where)
    return float(value)


def _whole(doc: Located, data: dict, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise doc.error(f"{name} must be a whole number from {low} to {high}", name)
    return value


def load_drift(doc: Located) -> tuple[int, int, dict[str, DriftWatch]]:
    """(bins, min_rows, model → its watch) from drift.yaml."""
    data = doc.data if isinstance(doc.data, dict) else {}
    bins = _whole(doc, data, "bins", 10, 2, 100)
    min_rows = _whole(doc, data, "min_rows", 100, 1, 10**9)
    watches = {}
    for model, body in (data.get("models") or {}).items():
        where = ("models", model)
        if not isinstance(body, dict):
            raise doc.error("a model's watch is a mapping (watch, score, thresholds)", *where)
        watched = body.get("watch")
        if not isinstance(watched, list) or not watched or not all(
                isinstance(column, str) for column in watched):
            raise doc.error("list the input columns to watch", *where, "watch")
        if not isinstance(body.get("score"), str):
            raise doc.error("name the column holding the score", *where, "score")
        warn = _threshold(doc, body.get("warn_psi"), *where, "warn_psi")
        block = _threshold(doc, body.get("block_psi"), *where, "block_psi")
        if block <= warn:
            raise doc.error(f"block_psi {block} must be above warn_psi {warn}", *where,
                            "block_psi")
        watches[model] = DriftWatch(model, tuple(watched), body["score"], body.get("bands"),
                                    warn, block)
    return bins, min_rows, watches
