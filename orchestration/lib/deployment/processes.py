"""The processes of a shared deployment, started and stopped together (`make serve`): a code
server holding the definitions, Dagster's webserver and daemon over the instance DAGSTER_HOME
configures, and, with the Celery executor, workers that take the steps of every run. Each
could run on a machine of its own; here they share one, each in its own process group so it
stops with everything it started.

The webserver and the daemon reach the definitions through the one code server, as a
Kubernetes deployment's user-code server serves them, rather than each loading the module
itself: the daemon would otherwise start a fresh server and load every definition again each
minute, to pick up changed code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

from orchestration.lib.deployment import lost_steps
from orchestration.lib.deployment.celery import celery_config
from orchestration.lib.settings import PROJECT_ROOT, get_settings
from orchestration.lib.stopping import stop_on_sigterm

INSTANCE_TEMPLATE = PROJECT_ROOT / "deploy" / "dagster" / "dagster.yaml"
WORKSPACE = PROJECT_ROOT / "workspace.yaml"
STOP_GRACE_SECONDS = 10
# A code server loads every definition before it answers: a minute or more on a slow machine.
READY_WITHIN_SECONDS = 600
LOOPBACK = "127.0.0.1"
CODE_SERVER = "code server"
WORKER = "steward-worker-"  # each worker's name: this and its number


class NotConfigured(RuntimeError):
    """The deployment lacks what it must share: an instance in PostgreSQL."""


@dataclass(frozen=True)
class Process:
    name: str
    command: list[str]
    # Whether it serves yet; the processes after it start once it does.
    ready: Callable[[], bool] | None = None
    # What to do when it ends unasked, given the workers still running and how to say so.
    when_lost: Callable[[list[str], Callable[[str], None]], object] | None = None


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def prepare_home() -> Path:
    """DAGSTER_HOME with the instance every process of the deployment shares: the one found
    there, or deploy/dagster/dagster.yaml when STEWARD_DAGSTER_PG_HOST names its server."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise NotConfigured("set DAGSTER_HOME to the folder of the deployment's dagster.yaml")
    instance = Path(home) / "dagster.yaml"
    if not instance.exists():
        if not os.environ.get("STEWARD_DAGSTER_PG_HOST"):
            raise NotConfigured(
                f"{instance} does not exist and STEWARD_DAGSTER_PG_HOST is not set: a shared "
                "deployment keeps its runs in PostgreSQL (set STEWARD_DAGSTER_PG_HOST, _PORT, "
                f"_USER, _PASSWORD and _DB, or put your own dagster.yaml in {home})")
        instance.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(INSTANCE_TEMPLATE, instance)
    _create_storage(Path(home))
    return Path(home)


def _create_storage(home: Path) -> None:
    """Create the instance's tables once, before its processes start: the webserver and the
    daemon would otherwise each create them in a fresh database at the same moment, and the
    loser fails on a type the winner just made."""
    import dagster as dg

    dg.DagsterInstance.from_config(str(home)).dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    # The code server opens its port only once it has loaded the definitions (or the error
    # that stopped it, which the UI then shows).
    try:
        socket.create_connection((LOOPBACK, port), timeout=1).close()
    except OSError:
        return False
    return True


def _code_server(home: Path) -> Process:
    """A code server for the code location workspace.yaml names, on a free loopback port, and
    the workspace pointing the webserver and the daemon at it (written beside the instance's
    configuration)."""
    [entry] = yaml.safe_load(WORKSPACE.read_text())["load_from"]
    module = entry["python_module"]["module_name"]
    port = _free_port()
    (home / "workspace.yaml").write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
        # The location keeps the module's name, under which its runs were always filed.
        "host": LOOPBACK, "port": port, "location_name": module}}]}))
    return Process(CODE_SERVER, [_tool("dagster"), "code-server", "start", "-m", module,
                                 "-h", LOOPBACK, "-p", str(port), "--location-name", module],
                   ready=lambda: _answers(port))


def plan(home: Path, host: str, port: int, workers: int) -> list[Process]:
    """What to start: the code server, the webserver, the daemon, and `workers` Celery
    workers when steps are spread over Celery (their configuration written beside the
    instance's)."""
    workspace = str(home / "workspace.yaml")
    processes = [
        _code_server(home),
        Process("webserver", [_tool("dagster-webserver"), "-h", host, "-p", str(port),
                              "-w", workspace]),
        Process("daemon", [_tool("dagster-daemon"), "run", "-w", workspace]),
    ]
    if get_settings().executor != "celery":
        return processes
    config = home / "celery.yaml"
    config.write_text(yaml.safe_dump({"execution": {"config": celery_config()}}))
    config.chmod(0o600)  # the broker's address may hold its password
    return processes + [
        Process(f"{WORKER}{number}", [
            _tool("dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
            "-y", str(config), "-n", f"{WORKER}{number}",
            # One step at a time per worker: run more workers for more at once.
            "--", "--concurrency", "1"], when_lost=lost_steps.hand_back)
        for number in range(1, workers + 1)]


def _start(process: Process) -> subprocess.Popen:
    # The tools start others by name (`dagster-celery` starts `celery`): this environment's.
    tools = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": os.pathsep.join([tools, os.environ.get("PATH", "")])}
    return subprocess.Popen(process.command, cwd=PROJECT_ROOT, env=env, start_new_session=True)


def _stop(running: dict[str, subprocess.Popen]) -> None:
    """SIGTERM to every process group, then SIGKILL to what is left after the grace period;
    then the same to their descendants that started groups of their own (Dagster's code
    servers), which would otherwise outlive the deployment."""
    descendants = [child for process in running.values() for child in _descendants(process)]
    for process in running.values():
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for process in running.values():
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    for child in descendants:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(descendants, timeout=STOP_GRACE_SECONDS)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


def _descendants(process: subprocess.Popen) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended already
        os.killpg(process.pid, signum)


def _wait_until_ready(spec: Process, process: subprocess.Popen, stopping: list[int],
                      seconds: float) -> bool:
    """Until it serves, ends, or the deployment is told to stop; False when `seconds` passed
    first, with the process still up and not serving."""
    deadline = time.monotonic() + seconds
    while (spec.ready is not None and not stopping and process.poll() is None
           and not spec.ready()):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def serve(processes: list[Process], say: Callable[[str], None],
          ready_within: float = READY_WITHIN_SECONDS) -> int:
    """Start them in order, each one that says how to tell it serves waited for (at most
    `ready_within` seconds), and keep them up until SIGINT or SIGTERM, then stop them all. A
    worker that dies is started again, the steps it held handed back to the queue first (its
    `when_lost`); should the code server, the webserver or the daemon end or never serve,
    everything stops, since a deployment without them must not look alive. Returns the exit
    status to give."""
    specs = {process.name: process for process in processes}
    running: dict[str, subprocess.Popen] = {}
    stopping: list[int] = []
    previous = stop_on_sigterm(lambda signum, _: stopping.append(signum))
    try:
        for name, spec in specs.items():
            running[name] = _start(spec)
            if not _wait_until_ready(spec, running[name], stopping, ready_within):
                say(f"the {name} did not serve within {ready_within:.0f} s: stopping the "
                    "deployment")
                return 1
        while not stopping:
            for name, process in list(running.items()):
                if process.poll() is None:
                    continue
                if not name.startswith(WORKER):
                    say(f"the {name} stopped (exit {process.returncode}): stopping the "
                        "deployment")
                    return 1
                say(f"{name} stopped (exit {process.returncode}): starting it again")
                # Whatever it started dies with it: nothing of it may go on with a step
                # that is handed to another worker.
                _signal_group(process, signal.SIGKILL)
                if specs[name].when_lost:
                    specs[name].when_lost([other for other, kept in running.items()
                                           if other.startswith(WORKER) and kept.poll() is None],
                                          say)
                running[name] = _start(specs[name])
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(running)
