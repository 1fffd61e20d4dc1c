"""The governed read service on a copy of a built estate: a consumer is who its token proves,
never a name typed; a missing, wrong, expired or revoked token reads nothing; all is audited;
`steward read` is its client and `steward serve` starts it."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from datetime import timedelta
from unittest import mock
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pyarrow.parquet as pq
import pytest

from orchestration.lib.governance.audit_log import entries
from orchestration.lib.governance.credentials import issue, revoke, token_store
from orchestration.lib.governance.read_service import ServiceRefused, fetch
from tests.conftest import run_steward, sigterm_ignored_and_blocked, steward_env


def test_a_consumer_reads_as_the_consumer_its_token_proves(built_copy, read_service):
    issued = issue("lead_scoring")
    table = fetch(read_service, issued.token, "marts/customer_features")
    assert table.num_rows > 0 and set(table.column("country_code").to_pylist()) == {"US"}
    last = entries()[-1]
    assert (last.kind, last.details["consumer"], last.details["credential"]) == (
        "access.allowed", "lead_scoring", issued.token_id)


def test_no_name_can_be_typed_to_read_as_another_consumer(built_copy, read_service):
    # The attack of the finding: read customers unmasked by naming the fairness auditors.
    typed = run_steward(["read", "crm/customers", "--consumer", "fairness_audit"], built_copy,
                        STEWARD_READ_SERVICE=read_service)
    assert typed.returncode == 2 and "No such option: --consumer" in typed.stderr
    token = issue("lead_scoring").token
    asking = Request(f"{read_service}/v1/datasets/crm/customers?consumer=fairness_audit",
                     headers={"Authorization": f"Bearer {token}"})
    with pytest.raises(HTTPError) as refused:
        urlopen(asking, timeout=60)
    assert refused.value.code == 403
    assert "denied: lead_scoring may not read crm/customers" in refused.value.read().decode()
    assert entries()[-1].details["consumer"] == "lead_scoring"


@pytest.mark.parametrize("presented", [None, "", "Bearer", "stw_nope", "stw_00000000_guess"],
                         ids=["none", "empty", "garbage", "malformed", "unknown"])
def test_a_read_without_a_valid_token_reads_nothing_and_is_audited(built_copy, read_service,
                                                                   presented):
    logged = len(entries())
    with pytest.raises(ServiceRefused) as refused:
        fetch(read_service, presented, "marts/customer_features")
    assert refused.value.status == 401
    [attempt] = entries()[logged:]
    assert attempt.kind == "access.unauthenticated" and attempt.subject == (
        "marts/customer_features")


def test_a_tampered_expired_or_revoked_token_is_refused(built_copy, read_service, monkeypatch):
    issued = issue("lead_scoring", timedelta(days=1))
    tampered = issued.token[:-2] + ("AA" if not issued.token.endswith("AA") else "BB")
    with pytest.raises(ServiceRefused, match="unknown token"):
        fetch(read_service, tampered, "marts/customer_features")
    monkeypatch.setenv("STEWARD_NOW", "+2d")
    with pytest.raises(ServiceRefused, match=f"token {issued.token_id} expired"):
        fetch(read_service, issued.token, "marts/customer_features")
    monkeypatch.delenv("STEWARD_NOW")
    assert fetch(read_service, issued.token, "marts/customer_features").num_rows > 0
    revoke(issued.token_id)
    with pytest.raises(ServiceRefused, match=f"token {issued.token_id} was revoked"):
        fetch(read_service, issued.token, "marts/customer_features")
    kinds = [e.kind for e in entries() if e.details.get("token_id") == issued.token_id]
    assert kinds == ["consumer.token_issued", "consumer.token_revoked"]


def test_a_token_of_a_consumer_no_longer_declared_is_refused(built_copy, read_service):
    from policies.rules import load_rules

    token = issue("lead_scoring").token
    shipped = load_rules()
    without = shipped.__class__(**{**shipped.__dict__, "consumers": {
        name: c for name, c in shipped.consumers.items() if name != "lead_scoring"}})
    with mock.patch("orchestration.lib.governance.credentials.load_rules", return_value=without), \
            pytest.raises(ServiceRefused, match="no longer a declared consumer"):
        fetch(read_service, token, "marts/customer_features")


def test_only_a_digest_of_a_token_is_kept(built_copy):
    issued = issue("support_routing")
    # stw_<id>_<secret>: the secret itself may hold "_", so it is all after the second one
    secret = issued.token.split("_", 2)[2]
    assert secret.encode() not in token_store().read_bytes()
    with pytest.raises(KeyError, match="no consumer 'nobody'"):
        issue("nobody")


def test_the_cli_issues_reads_and_revokes(built_copy, read_service):
    issued = run_steward(["consumer", "token", "lead_scoring", "--days", "1"], built_copy)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert re.fullmatch(r"stw_[0-9a-f]{8}_\S+", token) and "keep it secret" in issued.stderr
    env = steward_env(built_copy, STEWARD_READ_SERVICE=read_service, STEWARD_TOKEN=token)
    done = subprocess.run([sys.executable, "-m", "orchestration.cli", "read",
                           "marts/customer_features", "--out", "-"], env=env,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    table = pq.read_table(io.BytesIO(done.stdout))  # nothing but Parquet on stdout
    assert table.num_rows > 0 and b"allowed: lead_scoring" in done.stderr
    token_id = token.split("_")[1]
    listed = run_steward(["consumer", "tokens"], built_copy)
    assert f"{token_id}  lead_scoring" in listed.stdout and "active" in listed.stdout
    assert run_steward(["consumer", "revoke", token_id], built_copy).returncode == 0
    refused = subprocess.run([sys.executable, "-m", "orchestration.cli", "read",
                              "marts/customer_features"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert refused.returncode == 2
    assert f"not authenticated: token {token_id} was revoked" in refused.stderr


def test_steward_serve_starts_the_service_and_stops_on_sigterm(built_copy):
    # Started as by a parent that ignores and blocks SIGTERM (both survive exec; a test worker
    # can be left so), it still stops when its supervisor asks.
    server = subprocess.Popen([sys.executable, "-m", "orchestration.cli", "serve", "--port", "0"],
                              env=steward_env(built_copy), stderr=subprocess.PIPE, text=True,
                              preexec_fn=sigterm_ignored_and_blocked)
    try:
        announced = server.stderr.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", announced)
        assert url, announced
        token = issue("support_routing").token
        table = fetch(url[0], token, "marts/ticket_features")
        assert table.num_rows > 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0  # it closed its socket and ended, not killed


def test_no_read_service_is_a_clear_error(built_copy):
    done = run_steward(["read", "marts/customer_features"], built_copy,
                       STEWARD_READ_SERVICE="http://127.0.0.1:9", STEWARD_TOKEN="stw_x_y")
    assert done.returncode == 1 and "start one with `steward serve`" in done.stderr


def test_a_failure_inside_the_service_is_an_answer_not_a_dropped_connection(
        built_copy, read_service, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("orchestration.lib.governance.read_service.read_dataset", broken)
    with pytest.raises(ServiceRefused, match="failed inside the service") as refused:
        fetch(read_service, issue("lead_scoring").token, "marts/customer_features")
    assert refused.value.status == 500 and "disk on fire" not in str(refused.value)


def test_the_token_list_tells_an_expired_token_from_an_active_one(built_copy):
    lasting, brief = issue("lead_scoring"), issue("support_routing", timedelta(days=1))
    revoke(issue("finance_automation").token_id)
    listed = run_steward(["consumer", "tokens"], built_copy, STEWARD_NOW="+2d").stdout
    states = {line.split()[0]: line for line in listed.splitlines()}
    assert states[lasting.token_id].endswith("active")
    assert f"expired at {brief.expires_at}" in states[brief.token_id]
    assert sum("was revoked at" in line for line in listed.splitlines()) == 1
