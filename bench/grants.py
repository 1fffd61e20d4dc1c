"""The policy compiled into PostgreSQL at scale: `grants apply` and `grants plan` for TABLES
stored tables of COLUMNS columns and CONSUMERS consumers, each reading READS of the tables with
a third of their columns masked (target: apply ≤ 10 s). Runs on a throwaway cluster; skipped,
saying why, where Debian's PostgreSQL is not installed.
"""

from __future__ import annotations

import random
import time

from orchestration.lib.warehouse import postgres
from orchestration.lib.warehouse.grants import DatabaseGrants, ExposedTable, apply, plan
from orchestration.lib.warehouse.regex import postgres_regex, redaction_expression
from policies.redaction import redaction_rules
from tests.postgres_cluster import bench_cluster

TABLES, COLUMNS, CONSUMERS, READS = 1000, 10, 20, 50
ACTIONS = ("pass", "pass", "keyed_hash")


def _grants(rng: random.Random) -> DatabaseGrants:
    tables = [ExposedTable(f"bench/t{i}", "bench", f"t{i}",
                           tuple((f"c{j}", "pass") for j in range(COLUMNS)), "c0", 365)
              for i in range(TABLES)]
    consumers = {
        f"c{n}": tuple(ExposedTable(t.dataset, t.schema, t.table,
                                    tuple((c, rng.choice(ACTIONS)) for c, _ in t.columns),
                                    t.event_time, t.retention_days)
                       for t in rng.sample(tables, READS))
        for n in range(CONSUMERS)}
    return DatabaseGrants(consumers, {c: rng.randbytes(32) for c in consumers},
                          redaction_expression("$1", redaction_rules(), postgres_regex))


def bench_grants() -> None:
    print(f"\ngrants on PostgreSQL: {TABLES:,} tables x {COLUMNS} columns, {CONSUMERS} consumers "
          f"reading {READS} tables each")
    with bench_cluster() as cluster:
        if cluster is None:
            return
        dsn = cluster.dsn()
        columns = ", ".join(["c0 timestamp"] + [f"c{j} varchar" for j in range(1, COLUMNS)])
        with postgres.write_connection(dsn) as con:
            con.execute("CREATE SCHEMA bench")
            for i in range(TABLES):
                con.execute(f"CREATE TABLE bench.t{i} ({columns})")
            grants = _grants(random.Random(7))
            for label in ("first apply", "apply again (nothing to change)"):
                started = time.perf_counter()
                changes = apply(con, "postgres", grants)
                print(f"  {label:<32}{time.perf_counter() - started:>7.2f}s "
                      f"({len(changes):,} changes; target <= 10 s)")
            started = time.perf_counter()
            left = plan(con, "postgres", grants)
            print(f"  {'plan (drift check)':<32}{time.perf_counter() - started:>7.2f}s "
                  f"({len(left)} differences)")


if __name__ == "__main__":
    bench_grants()
