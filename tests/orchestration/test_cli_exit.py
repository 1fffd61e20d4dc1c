"""The `steward` command ends with its command's exit code and leaves the objects it loaded
to the operating system (frozen, so Python's exit does not collect garbage over them)."""

import gc

import pytest

from orchestration import cli


@pytest.mark.parametrize(("args", "code"), [(["policy", "check"], 0),
                                            (["no-such-command"], 2)])
def test_the_command_exits_with_its_code_and_the_heap_frozen(monkeypatch, args, code):
    monkeypatch.setattr("sys.argv", ["steward", *args])
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main()
        assert exited.value.code == code
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the rest of the test process collects as before
