"""The README stays true to the tree: its make targets exist and the paths it names are real."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_make_command_in_the_readme_is_a_target():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    commands = set(re.findall(r"make ([a-z][a-z-]*)", README))
    assert {"run", "test"} <= commands
    assert commands <= targets, commands - targets


def test_every_path_in_the_readme_exists():
    paths = set(re.findall(r"`((?:orchestration|dbt_project|policies|expectations|tests|bench|"
                           r"\.ci)/[^`\s]*)`", README))
    assert paths
    missing = [p for p in paths if not (ROOT / p.rstrip("/")).exists()]
    assert not missing, missing


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
