"""The dbt project parsed once per process and handed to the builds of every store.

dbt parses before each build. In a folder holding its last parse (dbt's partial parsing) that
costs 0.2 s; otherwise 1.4 s, and a store's first build has no such folder. dbt cannot share a
parse between stores: it starts afresh when the `--vars` (the region) or the connection (the
store's file or database) differ from the parse it kept. Yet the parsed projects differ only in
the database each node is built in, which is where the connection puts it. So the first build
in a process parses, and every build takes a copy of that parse with its own database written
in. This takes the project to be the same in every region, as Dagster's asset graph already
does (one manifest for every region's partition): a model may read `var('region')` when it is
built, not choose by it what it is.

The parse itself starts from the one kept by the project manifest's compile (`dbt compile` of
the local target over an empty scratch store, the manifest Dagster's definitions read), so a
process on a new estate needs no parse in full either: 1.0 s in a new process instead of 3.3 s.

A project that puts nodes in more than one database, or declares functions or semantic models
(which name databases elsewhere), is not rewritten: each of its builds parses as before.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestration.lib import file_state

COMPILED_FOR = "local"  # the target the project manifest is compiled for (DuckDB)
_last: tuple[tuple[str, ...], Any] | None = None  # (what was parsed, dbt's Manifest)


def compile_folder(project_dir: Path) -> Path:
    """Where the project manifest is compiled, beside the manifest in the project's target."""
    return project_dir.resolve() / "target" / "compile"


def compile_invocation(project_dir: Path) -> tuple[list[str], dict[str, str]]:
    """The options and environment of the project manifest's compile: the local target over an
    empty scratch store, never a real one."""
    folder = compile_folder(project_dir)
    scratch = folder.parent / "compile-store"
    scratch.mkdir(parents=True, exist_ok=True)
    return (["--target", COMPILED_FOR, "--project-dir", str(project_dir),
             "--profiles-dir", str(project_dir), "--target-path", str(folder)],
            {"STEWARD_STORE_DIR": str(scratch)})


@contextmanager
def compiling(project_dir: Path) -> Iterator[None]:
    """Held, across processes, by whatever writes the compile's folder."""
    folder = compile_folder(project_dir)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".compile.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def project_state(project_dir: Path, also: Sequence[str] = ()) -> str:
    """What a parse of the project reads besides its connection and vars: the project's files
    and dbt's own settings (DBT_ variables), with `also`."""
    return file_state.digest([project_dir], frozenset({"target", "logs"}),
                             [*(f"{name}={value}" for name, value in sorted(os.environ.items())
                                if name.startswith("DBT_")), *also])


def manifest_for(options: Sequence[str], logging: Sequence[str], project_dir: Path,
                 target: str, database: str, callbacks: list[Callable]) -> Any | None:
    """A parsed manifest for a build on `target` in `database` with dbt's `options` (vars and
    folders, no selection) and `logging`, or None for the build to parse itself."""
    global _last
    key = (str(project_dir), target, project_state(project_dir))
    if _last is None or _last[0] != key or not _same_environment(_last[1]):
        parsed = _parse(options, logging, project_dir, target, callbacks)
        if not parsed.success:
            return None  # the build parses again and says why
        _last = (key, parsed.result)
    # A model read an environment variable whose value here differs from the parse's (the
    # compile's scratch store, say): this build parses with its own.
    return _in_database(_last[1], database) if _same_environment(_last[1]) else None


def _parse(options: Sequence[str], logging: Sequence[str], project_dir: Path, target: str,
           callbacks: list[Callable]) -> Any:
    """dbt's parse for a build: as the compile parsed, in its folder, when the build's target
    is the one compiled for and that folder may be written; otherwise as the build would."""
    from dbt.cli.main import dbtRunner

    if target == COMPILED_FOR:
        try:
            compiled, environment = compile_invocation(project_dir)
            with compiling(project_dir), _environment(environment):
                return dbtRunner(callbacks=callbacks).invoke(["parse", *compiled, *logging])
        except OSError:  # an image may ship the project read-only
            pass
    return dbtRunner(callbacks=callbacks).invoke(["parse", *options, *logging])


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """These environment variables set while inside (dbt reads its profile from them)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _same_environment(manifest: Any) -> bool:
    """Whether every environment variable the models read while parsing still has its value
    (or, where they fell back on a default, is still unset)."""
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER

    return all(os.environ.get(name) == value if value != DEFAULT_ENV_PLACEHOLDER
               else name not in os.environ for name, value in manifest.env_vars.items())


def _in_database(parsed: Any, database: str) -> Any | None:
    """A copy of `parsed` whose nodes are built in `database`; the copy is the build's to
    change (dbt writes compiled SQL into it)."""
    nodes = [*parsed.nodes.values(), *parsed.sources.values()]
    databases = {node.database for node in nodes if node.database}
    if len(databases) != 1 or parsed.functions or parsed.semantic_models or (
            parsed.saved_queries or parsed.unit_tests):
        return None
    [parsed_in] = databases
    manifest = parsed.deepcopy()
    if parsed_in == database:
        return manifest
    quoted, moved = f'"{parsed_in}".', f'"{database}".'
    for node in (*manifest.nodes.values(), *manifest.sources.values()):
        if node.database == parsed_in:
            node.database = database
        relation = getattr(node, "relation_name", None)
        if relation:
            if not relation.startswith(quoted):  # quoted otherwise than dbt's default
                return None
            node.relation_name = moved + relation[len(quoted):]
    manifest.build_flat_graph()
    return manifest
