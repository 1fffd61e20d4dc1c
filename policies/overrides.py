"""The two environment variables that change what Steward enforces, kept to tests.

`STEWARD_NOW` moves Steward's clock (and with it what has expired) and `STEWARD_POLICIES_DIR`
swaps the rule files. Either would let whoever starts a command decide its rules, so both are
honoured only under `STEWARD_TEST_MODE=1`; set without it they stop the command, naming the
variable. While one is in force the CLI says so on every command and every audit entry names it.
"""

from __future__ import annotations

import os

TEST_MODE = "STEWARD_TEST_MODE"
GUARDED = ("STEWARD_NOW", "STEWARD_POLICIES_DIR")


class OverrideRefused(RuntimeError):
    """A guarded variable is set outside the test mode."""


def in_test_mode() -> bool:
    return os.environ.get(TEST_MODE, "").strip() == "1"


def honoured(variable: str) -> str | None:
    """The value of a guarded variable, when it is set and the test mode allows it."""
    value = (os.environ.get(variable) or "").strip()
    if not value:
        return None
    if not in_test_mode():
        raise OverrideRefused(
            f"{variable} is set ({value!r}) but Steward is not in test mode: it changes what "
            f"is enforced, so it is honoured only with {TEST_MODE}=1 (tests and previews, "
            "never production). Unset it, or set the test mode deliberately.")
    return value


def active() -> dict[str, str]:
    """The guarded variables in force, by name (empty outside the test mode)."""
    return {name: value for name in GUARDED if (value := honoured(name))}
