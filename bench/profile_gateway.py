"""Run ``textgate serve`` under cProfile and write the stats when it exits.

Used by ``bench/e2e.py --profile``; by hand::

    TEXTGATE_...=... .venv/bin/python bench/profile_gateway.py OUT.prof [--clock cpu|wall]

Unlike ``python -m cProfile`` it can time with the main thread's CPU clock
(``--clock cpu``): time the event loop thread spends waiting (for the GIL, in epoll)
is then left out, so the entries show where the loop thread burns CPU. Work done in
other threads (aiosqlite runs SQLite in one) is never in a cProfile profile.
With ``--on-signal`` the profiler starts off: SIGUSR1 switches it on, SIGUSR2 off, so the
profile covers only the window the benchmark measures (not start-up, warm-up, shutdown).
Stop it with SIGINT (uvicorn re-raises the signal it caught; SIGINT's KeyboardInterrupt
lets the stats be written, SIGTERM's default action would not).
"""

from __future__ import annotations

import argparse
import cProfile
import signal
import sys
import time
from types import FrameType


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where to write the pstats file")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="wall")
    parser.add_argument(
        "--on-signal", action="store_true", help="profile only between SIGUSR1 and SIGUSR2"
    )
    args = parser.parse_args()

    from textgate.cli import main as textgate_main

    timer = time.thread_time if args.clock == "cpu" else time.perf_counter
    profiler = cProfile.Profile(timer)
    sys.argv = ["textgate", "serve"]

    def switch(signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGUSR1:
            profiler.enable()
        else:
            profiler.disable()

    try:
        if args.on_signal:
            signal.signal(signal.SIGUSR1, switch)
            signal.signal(signal.SIGUSR2, switch)
            textgate_main()
        else:
            profiler.runcall(textgate_main)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        profiler.disable()
        profiler.dump_stats(args.out)


if __name__ == "__main__":
    main()
