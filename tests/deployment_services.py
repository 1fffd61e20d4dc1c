"""What a shared deployment needs around it in the tests and benchmarks: a throwaway Redis
server on loopback (the Celery broker, from Debian's `redis-server`, keeping nothing on disk),
and a wait until `steward deployment start` serves.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.request import urlopen

import redis

from tests.postgres_cluster import free_port

ENABLE_REDIS = "install Redis to run these tests: apt-get install -y redis-server (.ci/run does)"
STARTS_WITHIN_SECONDS = 180


def redis_server_bin() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(server: str) -> Iterator[str]:
    """A Redis server on a free loopback port, stopped after; its URL."""
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


def serving(url: str, log: Path, workers: int = 0) -> bool:
    """Whether the webserver answers and `workers` Celery workers have said they are ready."""
    try:
        with urlopen(f"{url}/server_info", timeout=2):
            pass
    except OSError:
        return False
    return log.read_text().count(" ready.") >= workers


def wait_until_serving(url: str, deployment: subprocess.Popen, log: Path, workers: int = 0,
                       within: float = STARTS_WITHIN_SECONDS) -> None:
    """Until the deployment serves; an AssertionError with its log's end should it stop or
    take longer than `within` seconds."""
    deadline = time.monotonic() + within
    while not serving(url, log, workers):
        assert deployment.poll() is None, f"the deployment stopped: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, (f"the deployment did not start: "
                                             f"{log.read_text()[-3000:]}")
        time.sleep(1)
