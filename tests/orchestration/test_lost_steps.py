"""Handing a lost worker's steps back to the queue never takes the deployment down: a broker
that cannot be reached, or a message in its unacked set that is no task, is said and left to
the broker's own visibility timeout. (`test_deployment.py` hands a killed worker's step back
through a running deployment.)"""

from __future__ import annotations

import json
import os

import pytest
import redis

from orchestration.lib.deployment import lost_steps
from tests.deployment_services import ENABLE_REDIS, redis_server, redis_server_bin
from tests.postgres_cluster import free_port


def test_a_broker_out_of_reach_is_said_and_nothing_raises(monkeypatch):
    monkeypatch.setenv("STEWARD_CELERY_BROKER", f"redis://127.0.0.1:{free_port()}/0")
    said: list[str] = []
    assert lost_steps.hand_back([], said.append) == 0
    [message] = said
    assert message.startswith("could not hand back the lost worker's steps (")
    assert message.endswith("go back to the queue after STEWARD_CELERY_REDELIVER_SECONDS")


def test_an_unacked_message_that_is_no_task_is_left_where_it_is(monkeypatch):
    server = redis_server_bin()
    if server is None:
        if os.environ.get("STEWARD_REQUIRE_REDIS"):
            pytest.fail(f"STEWARD_REQUIRE_REDIS is set but no server is installed: "
                        f"{ENABLE_REDIS}")
        pytest.skip(ENABLE_REDIS)
    with redis_server(server) as url:
        monkeypatch.setenv("STEWARD_CELERY_BROKER", url)
        client = redis.Redis.from_url(url)
        stray = json.dumps([{"body": "not a task", "properties": {}}, "", "dagster"])
        client.hset("unacked", "tag-1", stray)
        said: list[str] = []
        assert lost_steps.hand_back([], said.append) == 0
        assert said == []
        assert client.hget("unacked", "tag-1").decode() == stray
