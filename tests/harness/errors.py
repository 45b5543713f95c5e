"""The one exception type of the harness."""


class HarnessError(RuntimeError):
    """A real component of the harness failed to start or behave; the message says why.

    Raised from inside a `wait_until` probe, it ends the wait at once: the condition can
    no longer come true (a server exited, a tool is missing).
    """
