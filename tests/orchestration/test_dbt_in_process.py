"""dbt built inside the step's process: what Steward changes in dbt's own start-up there."""

from __future__ import annotations

import inspect

import pytest
from dbt_common.behavior_flags import BehaviorFlagRendered

from orchestration.lib import dbt_in_process


def test_a_behavior_flag_names_the_module_that_made_it_without_reading_every_source(
        monkeypatch):
    monkeypatch.setattr(BehaviorFlagRendered, "_default_source",
                        BehaviorFlagRendered.__dict__["_default_source"])  # restored after
    dbt_in_process._name_flag_sources_cheaply()
    monkeypatch.setattr(inspect, "stack", lambda *_: pytest.fail("read the stack's sources"))
    flag = BehaviorFlagRendered({"name": "probe", "default": False, "description": "a probe"},
                                {})
    assert flag._behavior_change_event.flag_source == __name__
