"""The README stays true to the tree: its make targets exist and the paths it names are real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_make_command_in_the_readme_is_a_target():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
    commands = set(re.findall(r"make ([a-z][a-z-]*)", README))
    assert {"run", "test"} <= commands
    assert commands <= targets, commands - targets


@pytest.mark.parametrize("page", ["README.md", "docs/architecture.md", "docs/reliability.md"])
def test_every_path_a_page_names_exists(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    # Paths in backticks, and in the diagrams any path from the top of the tree.
    paths = set(re.findall(r"`((?:orchestration|dbt_project|policies|expectations|tests|bench|"
                           r"\.ci|docs)/[^`\s]*)`", text))
    paths |= set(re.findall(r"(?<![\w/])((?:orchestration|dbt_project|policies|expectations)/"
                            r"[\w/.*]*)", text))
    # The architecture picture names the code location's packages from orchestration/.
    paths |= {f"orchestration/{p}" for p in re.findall(r"(?<![\w/])(lib/[\w/.]+)", text)}
    assert paths
    missing = [p for p in paths
               if not any(ROOT.glob(p.split("::")[0].rstrip("/").rstrip(".")))]
    assert not missing, missing


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
