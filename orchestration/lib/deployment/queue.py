"""What the run queue of a shared deployment orders runs by (deploy/dagster/dagster.yaml).

Three guards, all Dagster's own:
- one run per region at a time: a region's models are built by runs of its partition, which
  Dagster tags `dagster/partition`, whoever launched them (`steward run`, automation, the UI);
- on DuckDB, one run at a time altogether: a file has one writer and a run touches several, so
  every run carries the same lane tag (`steward/writes`);
- a step's *pool*, named after the relations it writes: two runs that would write the same
  relation (the same source's raw tables, the models, a consumer's scores) take turns at that
  step.
"""

from __future__ import annotations

from orchestration.lib.settings import get_settings

LANE_TAG = "steward/writes"
MODELS_POOL = "steward/models"
GLOBAL_POOL = "steward/global"


def lane_tags() -> dict[str, str]:
    """The tag that makes runs on DuckDB files take turns; none is needed on PostgreSQL."""
    return {LANE_TAG: "duckdb"} if get_settings().warehouse == "duckdb" else {}


def raw_pool(source: str, table: str) -> str:
    return f"steward/raw/{source}/{table}"


def consumer_pool(consumer: str) -> str:
    return f"steward/consumer/{consumer}"
