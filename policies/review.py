"""Human review: when a consumer model should not decide, what it does instead.

`review.yaml` names, per consumer model, the row key, the inputs a reviewer may see, the
score band within which the model is too unsure (`uncertain`), the inputs whose values outside
the training range it should not extrapolate to (`outside_training`), and the conservative
decision (`fallback`) such a row gets while it waits for a person.
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.yaml_source import Located

UNCERTAIN, OUTSIDE_TRAINING = "uncertain", "outside_training"
MODEL_HELD = "model_held"  # by drift, its validation or its fairness audit: every row waits
STALE_INPUTS = "stale_inputs"  # an input kept at its last good version past its freshness SLO


@dataclass(frozen=True)
class ReviewRule:
    model: str
    key: str  # the output column identifying a row (invoice_id)
    show: tuple[str, ...]  # inputs a reviewer sees, masked as the consumer reads them
    fallback: dict[str, object]  # output column → the conservative value
    uncertain: tuple[str, float, float] | None = None  # (score column, from, to)
    outside_training: tuple[str, ...] = ()


def _names(doc: Located, value: object, *where: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise doc.error("list column names", *where)
    return tuple(value)


def _band(doc: Located, value: object, *where: object) -> tuple[str, float, float] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("score"), str):
        raise doc.error("name the score column and its band: {score: c, from: x, to: y}",
                        *where)
    low, high = value.get("from"), value.get("to")
    if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in (low, high)) \
            or not low <= high:
        raise doc.error(f"the band from {low!r} to {high!r} is not a range of scores", *where)
    return value["score"], float(low), float(high)


def load_review(doc: Located) -> dict[str, ReviewRule]:
    """model → its review rule, from review.yaml."""
    data = doc.data if isinstance(doc.data, dict) else {}
    rules = {}
    for model, body in (data.get("models") or {}).items():
        where = ("models", model)
        if not isinstance(body, dict):
            raise doc.error("a model's review is a mapping (key, show, fallback, …)", *where)
        if not isinstance(body.get("key"), str):
            raise doc.error("name the column identifying a row (key)", *where, "key")
        fallback = body.get("fallback")
        if not isinstance(fallback, dict) or not fallback:
            raise doc.error("declare the conservative decision (fallback: {column: value})",
                            *where, "fallback")
        rules[model] = ReviewRule(model, body["key"], _names(doc, body.get("show"), *where,
                                                             "show"),
                                  dict(fallback),
                                  _band(doc, body.get("uncertain"), *where, "uncertain"),
                                  _names(doc, body.get("outside_training"), *where,
                                         "outside_training"))
    return rules
