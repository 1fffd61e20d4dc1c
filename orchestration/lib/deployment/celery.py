"""The Celery executor's configuration, one dict for the runs that hand out steps and for the
workers that take them (`dagster-celery worker start -y` reads the same keys).

A worker lost mid-step (its machine gone, its process killed) acknowledged nothing: tasks are
acknowledged when they end, and a task whose worker died is handed back to the broker, so
another worker runs the step again. Steps are safe to repeat: each load commits or leaves the
previous table, and each model build replaces its tables.
"""

from __future__ import annotations

from typing import Any

from orchestration.lib.settings import get_settings


def celery_config() -> dict[str, Any]:
    settings = get_settings()
    return {
        "broker": settings.celery_broker,
        "backend": settings.celery_broker,
        "config_source": {
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            # A worker takes one step at a time, so a step waits for an idle worker, not
            # behind a busy one.
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {
                "visibility_timeout": settings.celery_redeliver_seconds,
                # Look for steps to hand back every 5 s (kombu's default is every 100 s).
                "unacked_restore_interval": 5, "unacked_restore_throttle": 1},
        },
    }
