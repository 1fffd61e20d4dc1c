"""Each detector finds its kind of PII in free text and stays quiet on look-alikes."""

from __future__ import annotations

import pytest

from policies.detection import PREFILTER, scan
from tests.clock import stamp

FOUND = [
    ("email", "reach me at anna.muller7@example.com please"),
    ("card_number", "my card 4111 1111 1111 1111 was charged twice"),
    ("iban", "refund to DE89 3704 0044 0532 0130 00"),
    ("phone", "call +49 30 123456789 after five"),
    ("phone", "call 415-555-0132"),
    ("ip_address", "login from 203.0.113.9"),
    ("ip_address", "login from 2001:db8::1"),
    ("person_name", "Hi, this is Hugo de Vries from Utrecht"),
    ("person_name", "Please update my number. Thanks, Emma"),
    ("ssn", "SSN 123-45-6789 on file"),
    ("ssn", "tax id 219 09 9998"),
    ("obfuscated_email", "write to anna [at] example [dot] com"),
    ("obfuscated_email", "jane.doe(at)mail(dot)org"),
    ("obfuscated_email", "bob@example[dot]co[dot]uk"),
    ("obfuscated_email", "ops {AT} corp.example.de"),
    ("postal_address", "ship to 1600 Pennsylvania Avenue NW"),
    ("postal_address", "deliver to 12 Main St. after six"),
    ("postal_address", "wohnt in der Hauptstraße 5a, Berlin"),
    ("postal_address", "habite au 12 rue de la Paix"),
]
QUIET = [
    ("card_number", "order 4111 1111 1111 1112 (fails Luhn)"),
    ("card_number", "run 5a4f4a2b-6041-4678-9103-73cd802858fd (a UUID)"),
    ("iban", "code DE00 1234 5678 9012 3456 78 (fails mod 97)"),
    ("ip_address", "version 300.1.2.3 of the app"),
    ("phone", f"invoice 2265 issued {stamp(-30)}"),
    ("person_name", "the emma.js library"),
    ("email", "ping support at example dot com"),
    ("ssn", "area 666-12-3456 is never issued"),
    ("ssn", "serial 123-45-0000 is never issued"),
    ("ssn", "order 123456789 (no separators)"),
    ("ssn", "call 415-555-0132"),
    ("ssn", f"due {stamp(30)}"),
    ("obfuscated_email", "we looked at the dot com bubble"),
    ("obfuscated_email", "see [attachment] (dot) matrix"),
    ("obfuscated_email", "price [at] cost (dot) plus"),
    ("obfuscated_email", "reach me at anna.muller7@example.com please"),
    ("postal_address", "room 42 on the 3rd floor"),
    ("postal_address", "Highway to Hell"),
    ("postal_address", "we walked 3 streets away"),
    ("postal_address", "version 2 Drive sync failed"),
    ("postal_address", "die Hauptstraße ist gesperrt"),
]


@pytest.mark.parametrize(("kind", "text"), FOUND, ids=[f"{k}-{i}" for i, (k, _) in
                                                         enumerate(FOUND)])
def test_detector_finds(kind, text):
    assert kind in scan([text]).hits


@pytest.mark.parametrize(("kind", "text"), QUIET, ids=[k for k, _ in QUIET])
def test_detector_stays_quiet(kind, text):
    assert kind not in scan([text]).hits


def test_examples_never_carry_the_value():
    findings = scan(["mail anna.muller7@example.com"])
    assert findings.examples["email"] == "an…" and findings.sampled == 1


def test_a_repeated_value_counts_once_per_row_and_an_empty_one_not_at_all():
    findings = scan(["a.b@example.com", None, "DE", "a.b@example.com", "DE", 4111])
    assert findings.sampled == 5 and findings.hits == {"email": 2}


@pytest.mark.parametrize(("kind", "text"), [f for f in FOUND if f[0] != "person_name"])
def test_the_database_prefilter_lets_every_finding_through(kind, text):
    """A full scan judges only what DuckDB's RE2 picks with PREFILTER: it must miss nothing a
    pattern detector finds (names are found from a sample instead)."""
    import duckdb

    with duckdb.connect() as con:  # its own: the shared default connection is other tests'
        assert con.execute("SELECT regexp_matches(?, ?)", [text, PREFILTER]).fetchall() == [
            (True,)]
