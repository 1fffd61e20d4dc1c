"""Settings are kept between calls, and read again when what they come from changes: a
STEWARD_ variable, or the working directory a relative path is resolved against."""

from __future__ import annotations

import pytest

from orchestration.lib.settings import get_settings


@pytest.fixture
def relative_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_DATA_DIR", "data")
    for name in ("STEWARD_STORE_DIR", "STEWARD_LANDING_DIR"):
        monkeypatch.delenv(name, raising=False)


def test_settings_are_kept_while_nothing_they_read_changes(relative_data_dir):
    assert get_settings() is get_settings()


def test_a_relative_data_folder_follows_the_working_directory(relative_data_dir, tmp_path,
                                                              monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        settings = get_settings()
        assert settings.data_dir == tmp_path / name / "data"
        assert settings.store_dir == tmp_path / name / "data" / "store"


def test_a_changed_variable_is_read_at_the_next_call(relative_data_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STEWARD_DUCKDB_MEMORY_LIMIT", raising=False)
    assert get_settings().duckdb_memory_limit == "640MB"
    monkeypatch.setenv("STEWARD_DUCKDB_MEMORY_LIMIT", "1GB")
    assert get_settings().duckdb_memory_limit == "1GB"
    assert get_settings().data_dir == tmp_path / "data"
