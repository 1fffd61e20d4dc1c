"""Handing a lost worker's steps back to the queue never takes the deployment down: a broker
that cannot be reached, or a message in its unacked set that is no task, is said and left to
the broker's own visibility timeout. (`test_deployment.py` hands a killed worker's step back
through a running deployment.)"""

from __future__ import annotations

import json

import redis

from orchestration.lib.deployment import lost_steps
from tests.postgres_cluster import free_port


def test_a_broker_out_of_reach_is_said_and_nothing_raises(monkeypatch):
    monkeypatch.setenv("STEWARD_CELERY_BROKER", f"redis://127.0.0.1:{free_port()}/0")
    said: list[str] = []
    assert lost_steps.hand_back([], said.append) == 0
    [message] = said
    assert message.startswith("could not hand back the lost worker's steps (")
    assert message.endswith("go back to the queue after STEWARD_CELERY_REDELIVER_SECONDS")


def test_an_unacked_message_that_is_no_task_is_left_where_it_is(redis_url, monkeypatch):
    monkeypatch.setenv("STEWARD_CELERY_BROKER", redis_url)
    client = redis.Redis.from_url(redis_url)
    stray = json.dumps([{"body": "not a task", "properties": {}}, "", "dagster"])
    client.hset("unacked", "tag-1", stray)
    said: list[str] = []
    assert lost_steps.hand_back([], said.append) == 0
    assert said == []
    assert client.hget("unacked", "tag-1").decode() == stray
