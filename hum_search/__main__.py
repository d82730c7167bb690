"""``python -m hum_search``: the ``hum-search`` command line (``hum_search.cli.main``).

Until ``main`` has set up its error boundary (importing the CLI takes a few tens of milliseconds),
Ctrl-C or SIGTERM ends the process at once, with one line and status 130 or 143, instead of a
``KeyboardInterrupt`` traceback: nothing has been opened or written yet, so there is nothing to
clean up.
"""

import os
import signal
import sys


def _exit_now(signum, frame) -> None:
    os.write(2, b"interrupted\n" if signum == signal.SIGINT else b"terminated\n")
    os._exit(128 + signum)


def exit_on_signals_until_main() -> None:
    """Ctrl-C and SIGTERM end the process at once (``main`` replaces this handling when it starts)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored by whoever started us: stays ignored
            signal.signal(sig, _exit_now)


def leave(status: int) -> None:
    """Exit with ``status``. After an interrupted run, at once: CPython remembers a KeyboardInterrupt
    that passed through code an extension module runs with ``PyRun_String`` while it is imported, and
    at exit kills the process with SIGINT even though ``main`` handled it and reported status 130
    (a Ctrl-C in the CLI's first ~0.3 s ended "killed by SIGINT" in 10 of 40 tries). By then ``main``
    has closed the store and the worker pool (workers die with their parent: PR_SET_PDEATHSIG)."""
    if status == 128 + signal.SIGINT:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)


def run() -> None:
    """The ``hum-search`` command: ``python -m hum_search`` and the installed script alike."""
    exit_on_signals_until_main()
    from .cli import main  # lazy: the signal handlers above must be in place before the CLI is imported

    leave(main())


if __name__ == "__main__":
    run()
