"""The automation teams' models: plain scikit-learn on what the governed read returns.

Each model takes its inputs as pandas frames (one per dataset, already masked and filtered to
one region) and scores every row. Given no fitted model it trains one first, with metrics
measured on a held-out quarter; given one (kept from an earlier run) it only scores.
scikit-learn is imported inside the functions so loading the Dagster definitions stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from orchestration.lib.consumer_models import LEAD_NUMERIC, PRIORITY_THRESHOLD

HOLDOUT = 0.25
MIN_TRAINING_ROWS = 20
MAX_TRAINING_ROWS = 100_000
SEED = 0
RISK_BANDS = ((0.6, "high"), (0.3, "medium"), (0.0, "low"))
# How support historically routed each subject; the classifier learns it from the text.
QUEUE_OF_SUBJECT = {"Double charge": "billing", "Invoice question": "billing",
                    "Cannot log in": "technical", "Cancel plan": "retention",
                    "Update my details": "accounts"}


class NotEnoughData(ValueError):
    """Too few labelled rows, or a single class, to train and evaluate a model."""


@dataclass
class Scored:
    rows: pd.DataFrame
    model: Any  # the fitted scikit-learn pipeline that scored the rows
    metrics: dict[str, float | int | str]  # of this scoring
    training: dict[str, float | int | str] = field(default_factory=dict)  # when it trained


def _split(features: pd.DataFrame, labels: pd.Series, what: str):
    from sklearn.model_selection import train_test_split

    # A class seen once can be neither learned nor held out; it is left out of training.
    counts = labels.value_counts()
    kept = labels.isin(counts[counts >= 2].index)
    features, labels = features[kept], labels[kept]
    if labels.nunique() < 2 or len(labels) < MIN_TRAINING_ROWS:
        raise NotEnoughData(f"{what}: need {MIN_TRAINING_ROWS} labelled rows in at least two "
                            f"classes, have {counts.to_dict()}")
    # Past MAX_TRAINING_ROWS a model learns little more from more rows, while fitting time
    # keeps growing: a large estate trains on a stratified sample, held out in the same share.
    held_out = math.ceil(len(labels) * HOLDOUT)
    training = min(len(labels) - held_out, MAX_TRAINING_ROWS)
    held_out = min(held_out, math.ceil(training * HOLDOUT / (1 - HOLDOUT)))
    return train_test_split(features, labels, train_size=training, test_size=held_out,
                            random_state=SEED, stratify=labels)


def _fit(model, features: pd.DataFrame, labels: pd.Series, what: str,
         measure: Callable[[Any, pd.DataFrame, pd.Series], dict]) -> tuple[Any, dict]:
    train_x, test_x, train_y, test_y = _split(features, labels, what)
    model.fit(train_x, train_y)
    return model, {**measure(model, test_x, test_y), "rows_trained": len(train_x),
                   "rows_held_out": len(test_x)}


def _tabular(categorical: list[str], numeric: list[str]):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    parts = [("numbers", StandardScaler(), numeric)]
    if categorical:
        parts.append(("categories", OneHotEncoder(handle_unknown="ignore"), categorical))
    encode = ColumnTransformer(parts)
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


def _binary_metrics(model, test_x: pd.DataFrame, test_y: pd.Series) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, roc_auc_score

    probability = model.predict_proba(test_x)[:, 1]
    return {"roc_auc": round(float(roc_auc_score(test_y, probability)), 4),
            "accuracy": round(float(accuracy_score(test_y, probability >= 0.5)), 4)}


def score_leads(inputs: dict[str, pd.DataFrame], fitted: Any = None) -> Scored:
    """Logistic regression of won vs lost leads; every customer gets a win probability."""
    features = inputs["marts/customer_features"].copy()
    features["total_spend"] = features["total_spend"].astype(float)
    training = {}
    if fitted is None:
        decided = features[features["lead_status"].isin(["won", "lost"])]
        fitted, training = _fit(_tabular(["segment"], list(LEAD_NUMERIC)), decided,
                                decided["lead_status"] == "won", "lead scoring", _binary_metrics)
    probability = fitted.predict_proba(features)[:, 1]
    rows = pd.DataFrame({"customer_id": features["customer_id"],
                         "lead_score": probability.round(6),
                         "is_priority": probability >= PRIORITY_THRESHOLD})
    return Scored(rows, fitted, {"rows_scored": len(rows),
                                 "priority_rate": round(float(rows["is_priority"].mean()), 4)},
                  training)


def _routing_model():
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    encode = ColumnTransformer([
        ("text", TfidfVectorizer(ngram_range=(1, 2), min_df=1), "body_redacted"),
        ("categories", OneHotEncoder(handle_unknown="ignore"), ["channel", "priority"]),
    ])
    return make_pipeline(encode, LogisticRegression(max_iter=1000))


def _routing_metrics(model, test_x: pd.DataFrame, test_y: pd.Series) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(test_x)
    return {"accuracy": round(float(accuracy_score(test_y, predicted)), 4),
            "macro_f1": round(float(f1_score(test_y, predicted, average="macro")), 4),
            "queues": len(model.classes_)}


def route_tickets(inputs: dict[str, pd.DataFrame], fitted: Any = None) -> Scored:
    """TF-IDF of the redacted body plus channel and priority → the queue support would pick."""
    tickets = inputs["marts/ticket_features"].copy()
    tickets["body_redacted"] = tickets["body_redacted"].fillna("")
    training = {}
    if fitted is None:
        labels = tickets["subject"].map(QUEUE_OF_SUBJECT).fillna("general")
        fitted, training = _fit(_routing_model(), tickets, labels, "ticket routing",
                                _routing_metrics)
    probabilities = fitted.predict_proba(tickets)
    rows = pd.DataFrame({"ticket_id": tickets["ticket_id"],
                         "predicted_queue": fitted.classes_[probabilities.argmax(axis=1)],
                         "confidence": probabilities.max(axis=1).round(6)})
    return Scored(rows, fitted, {"rows_scored": len(rows)}, training)


INVOICE_NUMERIC = ["invoice_amount", "prior_invoice_count", "prior_late_rate"]


def score_invoice_risk(inputs: dict[str, pd.DataFrame], fitted: Any = None) -> Scored:
    """Probability that an invoice is paid late, from its amount and the customer's history."""
    invoices = inputs["marts/invoice_features"].copy()
    invoices["invoice_amount"] = invoices["invoice_amount"].astype(float)
    late = invoices["is_paid_late"].fillna(False).astype(bool)
    count = invoices["customer_invoice_count"].astype(float)
    # The mart's late rate counts the invoice itself; leave it out or the model reads its label.
    late_total = invoices["customer_late_payment_rate"].astype(float) * count
    invoices["prior_invoice_count"] = count - 1
    invoices["prior_late_rate"] = ((late_total - late) / (count - 1)).where(count > 1, 0.0)
    training = {}
    if fitted is None:
        settled = invoices[invoices["days_to_pay"].notna()]
        fitted, training = _fit(_tabular([], INVOICE_NUMERIC), settled, late[settled.index],
                                "invoice risk", _binary_metrics)
    probability = fitted.predict_proba(invoices)[:, 1]
    # Picked by index from Python strings: numpy's fixed-width strings cost a conversion per row.
    labels = np.array([band for _, band in RISK_BANDS], dtype=object)
    bands = labels[np.select([probability >= floor for floor, _ in RISK_BANDS],
                             range(len(RISK_BANDS)), default=len(RISK_BANDS) - 1)]
    rows = pd.DataFrame({"invoice_id": invoices["invoice_id"],
                         "customer_id": invoices["customer_id"],
                         "risk_score": probability.round(6), "risk_band": bands})
    return Scored(rows, fitted, {
        "rows_scored": len(rows),
        "high_risk_rate": round(float((rows["risk_band"] == "high").mean()), 4)}, training)


# Each declared consumer model's trainer (consumer_models.py), by the model's name: it scores
# every input row, training first when given no fitted model.
TRAINERS: dict[str, Callable[[dict[str, pd.DataFrame], Any], Scored]] = {
    "lead_scores": score_leads,
    "ticket_routes": route_tickets,
    "invoice_risk": score_invoice_risk,
}
