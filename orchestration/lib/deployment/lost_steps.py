"""Steps a lost Celery worker held, handed back to the queue as soon as the deployment sees it
gone, instead of after the broker's visibility timeout (`STEWARD_CELERY_REDELIVER_SECONDS`,
an hour by default, which must outlast the longest step).

A step is acknowledged when it ends, so until then its message waits in the broker's unacked
set, whichever worker holds it. A message there that no live worker holds, twice over a
short pause, belonged to a lost worker: a running or reserved step shows in its worker's
answer, and a step that ended meanwhile has been acknowledged and left the set. Should a live
worker not answer, nothing is handed back, and the visibility timeout still applies.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from celery import Celery

from orchestration.lib.settings import get_settings

ANSWER_SECONDS = 5.0  # how long the live workers have to say what they hold
# Longer than a worker takes to acknowledge a step that has just ended.
CONFIRM_AFTER_SECONDS = 2.0


def _app() -> Celery:
    return Celery("steward-lost-steps", broker=get_settings().celery_broker)


def _unacked(app: Celery) -> dict[str, str]:
    """Each unacknowledged task's delivery tag with its task's id (a message that is no task
    is left to the broker)."""
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        channel = connection.default_channel
        unacked = channel.client.hgetall(channel.unacked_key)
    messages = {tag.decode(): json.loads(message)[0] for tag, message in unacked.items()}
    return {tag: message["headers"]["id"] for tag, message in messages.items()
            if isinstance(message.get("headers"), dict) and "id" in message["headers"]}


def _held(app: Celery, live: list[str]) -> set[str] | None:
    """The ids of the tasks the `live` workers run or have reserved; None when one of them
    did not answer."""
    if not live:
        return set()
    inspect = app.control.inspect(timeout=ANSWER_SECONDS, limit=len(live))
    answers = [inspect.active() or {}, inspect.reserved() or {}]
    if not all(any(node.startswith(f"{name}@") or node == name for node in answer)
               for answer in answers for name in live):
        return None
    return {task["id"] for answer in answers for tasks in answer.values() for task in tasks}


def _orphans(app: Celery, live: list[str]) -> dict[str, str] | None:
    unacked = _unacked(app)
    held = _held(app, live)
    return None if held is None else {tag: task for tag, task in unacked.items()
                                      if task not in held}


def hand_back(live: list[str], say: Callable[[str], None]) -> int:
    """Requeue every step no `live` worker holds, saying how many; the number handed back.
    Whatever goes wrong here is said and leaves the steps to the broker: the deployment stays
    up."""
    fallback = ("the lost worker's steps go back to the queue after "
                "STEWARD_CELERY_REDELIVER_SECONDS")
    app = _app()
    try:
        first = _orphans(app, live)
        time.sleep(CONFIRM_AFTER_SECONDS)
        second = _orphans(app, live)
        if first is None or second is None:
            say(f"a worker did not answer: {fallback}")
            return 0
        lost = first.keys() & second.keys()
        with app.connection_for_write() as connection:
            qos = connection.default_channel.qos
            for tag in lost:
                # Restores only while the message is still unacknowledged (a transaction).
                qos.restore_by_tag(tag)
        if lost:
            say(f"steps the lost worker held, handed back to the queue: {len(lost)}")
        return len(lost)
    except Exception as error:  # a supervisor must outlive its broker's faults
        say(f"could not hand back the lost worker's steps ({error}): {fallback}")
        return 0
    finally:
        app.close()
