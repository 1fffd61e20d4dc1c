"""Deterministic generator of the sample estate: the exports of a CRM, billing, support and web.

Rows are computed by DuckDB from `range()` and a seeded hash, and written straight to files by
`COPY`, so any size streams to disk without sitting in memory and the same seed gives the same
bytes. Each source drops several files into its own landing folder, as export systems do.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from orchestration.lib.settings import current_time
from orchestration.lib.warehouse import Connection, engine, sql_literal

EU_COUNTRIES = ["DE", "FR", "NL", "IE", "ES", "IT", "SE", "PL"]
FIRST_NAMES = ["Anna", "Lukas", "Marie", "Noah", "Emma", "Liam", "Sofia", "Mateo", "Olivia",
               "Jonas", "Chloé", "Hugo", "Ava", "Elijah", "Mia", "Lars", "Zoe", "Ethan"]
LAST_NAMES = ["Müller", "Schmidt", "Martin", "Bernard", "de Vries", "Jansen", "Murphy", "García",
              "Rossi", "Andersson", "Nowak", "Smith", "Johnson", "Brown", "Miller", "Davis"]
# Well-known Luhn-valid test card numbers: realistic for a detector, worthless to a thief.
TEST_CARDS = ["4111 1111 1111 1111", "5500 0055 5555 5559", "4012 8888 8888 1881"]


@dataclass(frozen=True)
class EstateTable:
    source: str
    table: str
    format: str
    rows_per_customer: float
    select_sql: str


def _macros(seed: int, customers: int, as_of: datetime) -> list[str]:
    def text_list(values: list[str]) -> str:
        return "[" + ", ".join(sql_literal(v) for v in values) + "]"

    return [
        f"CREATE MACRO estate_as_of() AS TIMESTAMP {sql_literal(as_of.isoformat(sep=' '))}",
        f"CREATE MACRO rnd(i, salt) AS hash(i, {int(seed)}, salt)",
        "CREATE MACRO pick(xs, i, salt) AS xs[1 + (rnd(i, salt) % len(xs))::INTEGER]",
        f"CREATE MACRO customer_of(i, salt) AS 1 + (rnd(i, salt) % {int(customers)})::BIGINT",
        # 60% of customers in the US, the rest spread over the EU.
        f"CREATE MACRO country_of(c) AS CASE WHEN rnd(c, 'geo') % 10 < 6 THEN 'US' "
        f"ELSE pick({text_list(EU_COUNTRIES)}, c, 'eu') END",
        f"CREATE MACRO first_of(c) AS pick({text_list(FIRST_NAMES)}, c, 'first')",
        f"CREATE MACRO last_of(c) AS pick({text_list(LAST_NAMES)}, c, 'last')",
        "CREATE MACRO email_of(c) AS lower(strip_accents(replace(first_of(c), ' ', '')) || '.' || "
        "strip_accents(replace(last_of(c), ' ', '')) || c::VARCHAR) || '@' || "
        "pick(['example.com', 'mail.example.org', 'inbox.example.net'], c, 'domain')",
        "CREATE MACRO phone_of(c) AS CASE WHEN country_of(c) = 'US' "
        "THEN '+1 ' || (200 + rnd(c, 'ac') % 800)::VARCHAR || '-555-' || "
        "lpad((rnd(c, 'ph') % 10000)::VARCHAR, 4, '0') "
        "ELSE '+' || (30 + rnd(c, 'cc') % 20)::VARCHAR || ' ' || "
        "lpad((rnd(c, 'ph') % 1000000000)::VARCHAR, 9, '0') END",
        # Times are spread inside each table's retention (7 years of customers, 2 of tickets,
        # 90 days of web events), so a fresh estate loads whole and a later clock expires some.
        "CREATE MACRO signup_of(c) AS estate_as_of() - "
        "to_seconds((rnd(c, 'signup') % (6 * 365 * 86400))::BIGINT)",
        "CREATE MACRO issued_of(i) AS estate_as_of() - "
        "to_seconds((rnd(i, 'issued') % (3 * 365 * 86400))::BIGINT)",
        f"CREATE MACRO card_of(i) AS pick({text_list(TEST_CARDS)}, i, 'card')",
        # A quarter of leads are still open; the others were won more often by larger segments
        # and longer relationships, so a lead-scoring model has something real to learn.
        "CREATE MACRO lead_status_of(c) AS CASE WHEN rnd(c, 'lead') % 4 = 0 THEN 'open' "
        # (whole years as customer counted in days, not calendar years: the same on any day)
        "WHEN rnd(c, 'win') % 100 < 10 + 12 * (rnd(c, 'seg') % 4) + 4 * least(6, "
        "(rnd(c, 'signup') % (6 * 365 * 86400)) // (365 * 86400)) THEN 'won' ELSE 'lost' END",
        # Payment i pays invoice i * 6/5: payments 1 to 2.5 per customer pay invoices 1 to 3
        # per customer, all of which exist.
        "CREATE MACRO paid_invoice_of(i) AS (i * 6 // 5)::BIGINT",
        # One customer in three pays late habitually; the rest rarely do.
        "CREATE MACRO payment_delay_of(i, c) AS to_seconds((rnd(i, 'late') % (CASE WHEN "
        "rnd(c, 'payer') % 3 = 0 THEN 60 ELSE 32 END * 86400))::BIGINT)",
        # Four tickets in five are written about their subject; the rest ramble elsewhere.
        "CREATE MACRO topic_of(i) AS CASE WHEN rnd(i, 'noise') % 5 = 0 THEN rnd(i, 'body') % 5 "
        "ELSE rnd(i, 'subj') % 5 END",
    ]


TABLES = [
    EstateTable("crm", "customers", "csv", 1.0, """
        SELECT i AS customer_id, first_of(i) || ' ' || last_of(i) AS full_name,
               email_of(i) AS email, phone_of(i) AS phone,
               -- 27 to 77 years old on the estate's day, whichever day that is
               estate_as_of()::DATE - (28093 - rnd(i, 'birth') % 18250)::INTEGER AS birth_date,
               pick(['female', 'male', 'female', 'male', 'nonbinary'], i, 'gender') AS gender,
               country_of(i) AS country, signup_of(i) AS signup_at,
               pick(['consumer', 'smb', 'mid_market', 'enterprise'], i, 'seg') AS segment,
               lead_status_of(i) AS lead_status,
               least(estate_as_of(), signup_of(i)
                     + to_seconds((rnd(i, 'upd') % 86400000)::BIGINT)) AS updated_at
        FROM range({start}, {stop}) t(i)"""),
    EstateTable("billing", "invoices", "parquet", 3.0, """
        SELECT i AS invoice_id, customer_of(i, 'inv') AS customer_id,
               country_of(customer_of(i, 'inv')) AS billing_country,
               issued_of(i) AS issued_at, (issued_of(i) + INTERVAL 30 DAY)::DATE AS due_date,
               ((20 + rnd(i, 'amt') % 500000) / 100.0)::DECIMAL(12, 2) AS amount,
               CASE WHEN country_of(customer_of(i, 'inv')) = 'US' THEN 'USD' ELSE 'EUR' END
                   AS currency,
               pick(['issued', 'paid', 'paid', 'paid', 'void'], i, 'status') AS status
        FROM range({start}, {stop}) t(i)"""),
    EstateTable("billing", "payments", "parquet", 2.5, """
        SELECT i AS payment_id, paid_invoice_of(i) AS invoice_id,
               customer_of(paid_invoice_of(i), 'inv') AS customer_id,
               country_of(customer_of(paid_invoice_of(i), 'inv')) AS payer_country,
               issued_of(paid_invoice_of(i)) + payment_delay_of(
                   i, customer_of(paid_invoice_of(i), 'inv')) AS paid_at,
               ((20 + rnd(paid_invoice_of(i), 'amt') % 500000) / 100.0)::DECIMAL(12, 2)
                   AS amount,
               pick(['card', 'sepa', 'ach', 'wire'], i, 'method') AS method
        FROM range({start}, {stop}) t(i)"""),
    EstateTable("support", "tickets", "csv", 0.8, """
        SELECT i AS ticket_id, customer_of(i, 'tkt') AS customer_id,
               country_of(customer_of(i, 'tkt')) AS customer_country,
               estate_as_of() - to_seconds((rnd(i, 'opened') % (700 * 86400))::BIGINT)
                   AS opened_at,
               pick(['email', 'chat', 'phone', 'web'], i, 'chan') AS channel,
               pick(['low', 'normal', 'normal', 'high', 'urgent'], i, 'prio') AS priority,
               pick(['Double charge', 'Cannot log in', 'Invoice question', 'Cancel plan',
                     'Update my details'], i, 'subj') AS subject,
               CASE topic_of(i)
                 WHEN 0 THEN 'Hi, this is ' || first_of(customer_of(i, 'tkt')) || ' '
                   || last_of(customer_of(i, 'tkt')) || '. My card ' || card_of(i)
                   || ' was charged twice this month. Please refund.'
                 WHEN 1 THEN 'I cannot log in since yesterday. Reach me at '
                   || email_of(customer_of(i, 'tkt')) || ' or ' || phone_of(customer_of(i, 'tkt'))
                 WHEN 2 THEN 'Question about invoice ' || (i * 3)::VARCHAR
                   || ': the amount looks wrong, the VAT line is missing.'
                 WHEN 3 THEN 'Please cancel my plan at the end of this month. Regards, '
                   || first_of(customer_of(i, 'tkt')) || ' ' || last_of(customer_of(i, 'tkt'))
                 ELSE 'Please update my phone number to ' || phone_of(customer_of(i, 'tkt'))
                   || '. Thanks, ' || first_of(customer_of(i, 'tkt'))
               END AS body,
               pick(['open', 'pending', 'solved', 'solved'], i, 'st') AS status
        FROM range({start}, {stop}) t(i)"""),
    EstateTable("web", "events", "jsonl", 5.0, """
        SELECT i AS event_id,
               CASE WHEN rnd(i, 'anon') % 10 < 3 THEN NULL ELSE customer_of(i, 'evt') END
                   AS customer_id,
               (rnd(i, 'ip1') % 223 + 1)::VARCHAR || '.' || (rnd(i, 'ip2') % 256)::VARCHAR || '.'
                   || (rnd(i, 'ip3') % 256)::VARCHAR || '.' || (rnd(i, 'ip4') % 256)::VARCHAR
                   AS ip_address,
               country_of(customer_of(i, 'evt')) AS geo_country,
               pick(['page_view', 'page_view', 'page_view', 'signup', 'login', 'checkout'],
                    i, 'type') AS event_type,
               pick(['/', '/pricing', '/docs', '/account', '/checkout'], i, 'page') AS page,
               estate_as_of() - to_seconds((rnd(i, 'at') % (89 * 86400))::BIGINT)
                   AS occurred_at
        FROM range({start}, {stop}) t(i)"""),
]

_COPY_OPTIONS = {"csv": "FORMAT csv, HEADER true", "parquet": "FORMAT parquet",
                 "jsonl": "FORMAT json"}


def table_rows(table: EstateTable, customers: int) -> int:
    return max(1, int(table.rows_per_customer * customers))


def write_table(con: Connection, table: EstateTable, rows: int, files: int,
                folder: Path, first_id: int = 1, prefix: str = "export") -> list[Path]:
    """Write `rows` rows of one table as `files` files; ids start at `first_id`."""
    folder.mkdir(parents=True, exist_ok=True)
    extension = table.format
    written = []
    bounds = [first_id + rows * part // files for part in range(files + 1)]
    for part, (start, stop) in enumerate(itertools.pairwise(bounds), start=1):
        if start == stop:
            continue
        path = folder / f"{table.table}_{prefix}_part-{part:03d}.{extension}"
        query = table.select_sql.format(start=start, stop=stop)
        con.execute(f"COPY ({query} ORDER BY 1) TO {sql_literal(str(path))} "
                    f"({_COPY_OPTIONS[table.format]})")
        written.append(path)
    return written


def default_as_of() -> datetime:
    """Today at midnight: the estate is generated as of the day it is made, so retention (90
    days of web events, two years of tickets) keeps a fresh estate mostly inside its limits."""
    return datetime.combine(current_time().date(), datetime.min.time())


def estate_connection(seed: int, customers: int,
                      as_of: datetime | None = None) -> Connection:
    con = engine()
    for statement in _macros(seed, customers, as_of or default_as_of()):
        con.execute(statement)
    return con


def generate_estate(landing_dir: Path, customers: int = 1000, files: int = 3,
                    seed: int = 7, as_of: datetime | None = None) -> dict[str, int]:
    """Write every source's export files under `landing_dir/<source>/<table>/`; the same seed
    and as-of day give the same bytes."""
    con = estate_connection(seed, customers, as_of)
    counts = {}
    for table in TABLES:
        rows = table_rows(table, customers)
        write_table(con, table, rows, files, landing_dir / table.source / table.table)
        counts[f"{table.source}.{table.table}"] = rows
    con.close()
    return counts


def estate_present(landing_dir: Path) -> bool:
    return any(any((landing_dir / t.source / t.table).glob(f"*.{t.format}")) for t in TABLES)
