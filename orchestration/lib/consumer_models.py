"""The consumer models Steward runs for the automation teams, declared once.

Each names the consumer (from policies/consumers.yaml) it reads as, the columns it reads from
each dataset, and its output columns with what each is derived from, so the policy engine can
classify the scores through lineage like any other asset. A declaration, beside sources.py:
the trainer of each model is in consumers/models.py (TRAINERS, by the model's name).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "consumers"
PRIORITY_THRESHOLD = 0.5  # a lead whose win probability reaches this is worked first
LEAD_NUMERIC = ("tenure_days", "invoice_count", "total_spend", "late_payment_rate",
                "ticket_count", "events_30d")


@dataclass(frozen=True)
class Output:
    name: str
    data_type: str
    description: str
    derived_from: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ConsumerModel:
    name: str  # the output table in each region store, and the asset name
    consumer: str
    regions: tuple[str, ...]  # where the model runs; each region is trained on its own rows
    description: str
    inputs: dict[str, tuple[str, ...]]  # dataset → the columns the model reads
    outputs: tuple[Output, ...]
    version: str  # stamped on each scored row; a new version retrains the kept models

    @property
    def key(self) -> str:
        return f"{SCHEMA}/{self.name}"

    @property
    def relation(self) -> tuple[str, str]:
        return SCHEMA, self.name


def _from(dataset: str, *columns: str) -> tuple[tuple[str, str], ...]:
    return tuple((dataset, column) for column in columns)


_STAMPS = (
    Output("model_version", "VARCHAR", "Which trained model produced the row."),
    Output("scored_at", "TIMESTAMP", "When the row was scored (UTC)."),
)
CUSTOMERS = "marts/customer_features"
TICKETS = "marts/ticket_features"
INVOICES = "marts/invoice_features"

CONSUMER_MODELS = (
    ConsumerModel(
        name="lead_scores", consumer="lead_scoring", regions=("us",),
        description="Win probability of every customer's lead (logistic regression on "
                    "customer_features, trained on won vs lost leads).",
        inputs={CUSTOMERS: ("customer_id", "segment", "lead_status", *LEAD_NUMERIC)},
        outputs=(
            Output("customer_id", "BIGINT", "The customer.", _from(CUSTOMERS, "customer_id")),
            Output("lead_score", "DOUBLE", "Probability the lead is won.",
                   _from(CUSTOMERS, "segment", *LEAD_NUMERIC)),
            Output("is_priority", "BOOLEAN",
                   f"lead_score ≥ {PRIORITY_THRESHOLD}: worked first by sales.",
                   _from(CUSTOMERS, "segment", *LEAD_NUMERIC)),
            *_STAMPS,
        ),
        version="lead-logreg-v1",
    ),
    ConsumerModel(
        name="ticket_routes", consumer="support_routing", regions=("eu",),
        description="The queue each ticket is routed to (TF-IDF of the redacted body, channel "
                    "and priority; logistic regression).",
        inputs={TICKETS: ("ticket_id", "subject", "body_redacted", "channel", "priority")},
        outputs=(
            Output("ticket_id", "BIGINT", "The ticket.", _from(TICKETS, "ticket_id")),
            Output("predicted_queue", "VARCHAR", "The queue the ticket goes to.",
                   _from(TICKETS, "body_redacted", "channel", "priority")),
            Output("confidence", "DOUBLE", "The classifier's probability for that queue.",
                   _from(TICKETS, "body_redacted", "channel", "priority")),
            *_STAMPS,
        ),
        version="ticket-tfidf-logreg-v1",
    ),
    ConsumerModel(
        name="invoice_risk", consumer="finance_automation", regions=("eu", "us"),
        description="Probability each invoice is paid late, from its amount and the customer's "
                    "earlier payments (logistic regression).",
        inputs={INVOICES: ("invoice_id", "customer_id", "invoice_amount", "days_to_pay",
                           "is_paid_late", "customer_invoice_count",
                           "customer_late_payment_rate")},
        outputs=(
            Output("invoice_id", "BIGINT", "The invoice.", _from(INVOICES, "invoice_id")),
            Output("customer_id", "BIGINT", "The customer billed.",
                   _from(INVOICES, "customer_id")),
            Output("risk_score", "DOUBLE", "Probability of late payment.",
                   _from(INVOICES, "invoice_amount", "customer_invoice_count",
                         "customer_late_payment_rate")),
            Output("risk_band", "VARCHAR", "low, medium or high.",
                   _from(INVOICES, "invoice_amount", "customer_invoice_count",
                         "customer_late_payment_rate")),
            *_STAMPS,
        ),
        version="invoice-logreg-v1",
    ),
)
