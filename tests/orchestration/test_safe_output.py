"""`--out` writes only a new file of its owner's, never through a link, never into Steward's
data folder; `-` is stdout."""

from __future__ import annotations

import pytest

from orchestration.lib.security.safe_output import OutputRefused, check_output, opened_output


@pytest.fixture
def elsewhere(tmp_path_factory, data_dir):
    """A folder outside the test's data folder, where a read may write."""
    return tmp_path_factory.mktemp("elsewhere")


def test_a_new_file_is_written_readable_by_its_owner_only(elsewhere):
    target = elsewhere / "rows.parquet"
    with opened_output(str(target)) as handle:
        handle.write(b"rows")
    assert target.read_bytes() == b"rows" and target.stat().st_mode & 0o777 == 0o600


def test_an_existing_file_is_replaced_only_with_force(elsewhere):
    target = elsewhere / "rows.parquet"
    target.write_bytes(b"someone's work")
    target.chmod(0o644)
    with pytest.raises(OutputRefused, match="exists; pass --force"):
        check_output(str(target))
    with opened_output(str(target), force=True) as handle:
        handle.write(b"rows")
    assert target.read_bytes() == b"rows" and target.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("where", "why"), [
    ("store/audit.duckdb", "inside Steward's data folder"),
    ("landing/crm/customers/x.csv", "inside Steward's data folder"),
    ("reports/rows.parquet", "inside Steward's data folder"),
])
def test_nothing_is_written_inside_the_data_folder(data_dir, where, why):
    with pytest.raises(OutputRefused, match=why):
        check_output(str(data_dir / where), force=True)


def test_a_link_is_never_followed_even_with_force(elsewhere):
    victim = elsewhere / "victim.txt"
    victim.write_text("keep me")
    link = elsewhere / "rows.parquet"
    link.symlink_to(victim)
    with pytest.raises(OutputRefused, match="symbolic link"):
        check_output(str(link), force=True)
    assert victim.read_text() == "keep me"


def test_a_missing_folder_is_not_created(elsewhere):
    with pytest.raises(OutputRefused, match="does not exist"):
        check_output(str(elsewhere / "nope" / "rows.parquet"))
    assert not (elsewhere / "nope").exists()
