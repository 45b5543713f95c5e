"""Run a Python program (ucvd) with the stdlib profiler, switched on and off by signals.

    python -m tests.bench.profiled OUT.prof SCRIPT [ARGS...]

SIGUSR1 starts profiling the main thread (the event loop's); SIGUSR2 stops it and writes
the statistics to OUT.prof. So a benchmark profiles only its steady window, not the start.
Tracing every call costs the program CPU, so a measure of CPU is taken apart from it.
"""

from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from types import FrameType


def main() -> None:
    out, script, *args = sys.argv[1:]
    prof = cProfile.Profile()

    def start(_signum: int, _frame: FrameType | None) -> None:
        prof.enable()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        prof.disable()
        prof.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    sys.argv = [script, *args]
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
