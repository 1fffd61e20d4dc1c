"""How a long-running Steward process (a service, a deployment's supervisor) is asked to stop."""

from __future__ import annotations

import signal
from collections.abc import Callable


def stop_on_sigterm(handler: Callable) -> Callable | int | None:
    """Take SIGTERM with `handler` even where the parent left it ignored or blocked (both
    survive exec): a service stops when its supervisor asks. Returns the handler it replaced."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    return signal.signal(signal.SIGTERM, handler)
