"""CPU time spent by a step: this process's threads and the child processes it waited for,
so a run's cost is the sum over its steps."""

from __future__ import annotations

import os
from collections.abc import Callable

import dagster as dg

METADATA_KEY = "cpu_seconds"


def _cpu_time() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuClock:
    """Started when made; `seconds()` is the CPU time used since."""

    def __init__(self) -> None:
        self._started = _cpu_time()

    def seconds(self) -> float:
        return round(_cpu_time() - self._started, 3)


def timed_check(check: Callable[[], dg.AssetCheckResult]) -> dg.AssetCheckResult:
    """The check's result, with the CPU time it took in its metadata."""
    clock = CpuClock()
    result = check()
    return result.with_metadata({**result.metadata, METADATA_KEY: clock.seconds()})
