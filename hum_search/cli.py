"""The ``hum-search`` command line, and its one error boundary.

Each sub-command lives in its own module under ``hum_search.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a ``run(args) -> int``.
Library code logs; only the commands print.

``main`` is the boundary for every way the CLI is started (the ``hum-search`` script,
``python -m hum_search``, ``python -m indexer``). Everything a command does, including importing the
sub-commands (about 0.4 s of numpy/scipy imports) and reading the settings, runs inside it:

- a ``HumSearchError`` (bad argument, bad setting, missing index, ...) ends the command with its one
  line, "cause. Fix: fix", on stderr and exit status 2;
- any other exception becomes one line naming its type, with the fix to run again with
  ``HUM_SEARCH_LOG_LEVEL=DEBUG`` and report the log; exit status 2;
- Ctrl-C exits 130 and SIGTERM 143 (both raise ``KeyboardInterrupt`` inside the command, so that the
  indexer keeps what it has analysed and prints its summary); an error that follows the signal is
  its doing and reported as the signal (numpy's C-extension import, interrupted, raises "Importing
  the numpy C-extensions failed", without the KeyboardInterrupt in its chain); a signal that CPython
  could not deliver while the sub-commands were imported (raised in an import-lock weakref callback)
  stops the command before it starts, and one lost later is reported when the command returns;
- the traceback goes to the log at DEBUG level only, and every message and log line is scrubbed of
  URL credentials and of the configured password and API key.

Before ``main`` runs, the ``hum-search`` script and ``python -m hum_search`` (both ``__main__.run``)
and ``python -m indexer`` end the process at once on Ctrl-C or SIGTERM (none can before CPython's
own start-up is done), and all three exit through ``__main__.leave``.
A signal that was ignored when the process started (``nohup``, ``cmd &`` in a script) stays ignored.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import signal
import sys
import threading

from . import __version__
from .config import Settings, check_log_level, known_secrets
from .errors import (
    REPORT_FIX,
    ConfigError,
    HumSearchError,
    RedactingFormatter,
    Terminated,
    UsageError,
    one_line,
    redact,
)

log = logging.getLogger(__name__)

COMMANDS = [
    "index", "query", "record", "stats", "remove", "download_models", "eval", "demo", "elastic",
]
EXIT_ERROR = 2
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
_MAX_DETAIL_CHARS = 160  # of an unexpected exception's own message
_OS_FIXES = {
    errno.ENOSPC: "free some disk space, then run the same command again",
    errno.EDQUOT: "free some disk space (or raise the quota), then run the same command again",
    errno.EACCES: "check the permissions of that path",
    errno.EPERM: "check the permissions of that path",
    errno.EROFS: "use a location on a writable file system",
    errno.ENOENT: "check that the path exists",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UsageError (one line with a fix), not usage text plus exit."""

    def error(self, message: str):  # type: ignore[override]
        raise UsageError(f"{self.prog}: {one_line(message)}", f"see {self.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hum-search",
        description="Find songs in your music collection by humming it.",
        epilog="Configuration comes from HUM_SEARCH_* environment variables; see README.md. Exit status: 0 done, "
               "1 partly done (see the command's help), 2 an error (one line: cause and fix), 130 Ctrl-C, "
               "143 terminated.",
    )
    parser.add_argument("--version", action="version", version=f"hum-search {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    boundary = _Boundary(argv)
    try:
        boundary.start()
        parser = build_parser()
        args = parser.parse_args(argv)
        settings = Settings.from_env()
        boundary.configure_logging({0: settings.log_level, 1: "INFO"}.get(args.verbose, "DEBUG"))
        boundary.raise_pending()
        status = int(args.func(args) or 0)
        if (boundary.interrupted or boundary.terminated) and status not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
            how = "terminated" if boundary.terminated else "interrupted"
            return boundary.fail(f"{how} (the signal came while a library was loading and took effect only now: the "
                                 "command had run to its end)", EXIT_TERMINATED if how == "terminated" else EXIT_INTERRUPTED)
        return EXIT_TERMINATED if boundary.terminated and status == EXIT_INTERRUPTED else status
    except Terminated as e:
        return boundary.fail("terminated", EXIT_TERMINATED, exc=e)
    except KeyboardInterrupt as e:
        return boundary.fail("interrupted", EXIT_INTERRUPTED, exc=e)
    except BrokenPipeError:  # output piped into `head` and the like
        _silence_stdout()
        return 0
    except Exception as e:
        return boundary.fail(*_failure(e, boundary), exc=e)
    finally:
        boundary.stop()


def _failure(e: Exception, boundary: "_Boundary") -> tuple[str, int]:
    """The one line and exit status for an exception that reached the boundary; after Ctrl-C or
    SIGTERM, the signal's (what failed then failed because of it: a library interrupted while
    importing raises its own ImportError, 1 in 15 runs of a Ctrl-C during start-up on a busy machine)."""
    if boundary.terminated:
        return "terminated", EXIT_TERMINATED
    if boundary.interrupted:
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(e, HumSearchError):
        return f"error: {e}", EXIT_ERROR
    if isinstance(e, OSError):
        return f"error: {os_error_line(e)}", EXIT_ERROR
    return f"error: {unexpected_line(e)}", EXIT_ERROR


def os_error_line(e: OSError) -> str:
    """'No space left on device: /path. Fix: ...' for an OSError that reached the boundary."""
    what = e.strerror or type(e).__name__
    where = f": {e.filename}" if e.filename else ""
    return f"{what}{where}. Fix: {_OS_FIXES.get(e.errno or 0, REPORT_FIX)}"


def unexpected_line(e: BaseException) -> str:
    detail = one_line(e)
    if len(detail) > _MAX_DETAIL_CHARS:
        detail = detail[:_MAX_DETAIL_CHARS - 1] + "…"
    return f"unexpected {type(e).__name__}" + (f" ({detail})" if detail else "") + f". Fix: {REPORT_FIX}"


class _Boundary:
    """Signal handling, logging and the one-line report for one ``main`` call. Restores the
    previous signal handlers afterwards (``main`` also runs inside tests and other programs)."""

    def __init__(self, argv: list[str]):
        self.secrets = known_secrets(argv)
        self.terminated = False  # SIGTERM came, whether or not its exception reached ``main``
        self.interrupted = False  # Ctrl-C came, likewise
        self.logging_ready = False
        self._previous: dict[int, object] = {}
        self._previous_hook = None

    def start(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set in the main thread
        self._previous_hook, sys.unraisablehook = sys.unraisablehook, self._unraisable
        for sig, handler in ((signal.SIGINT, self._on_sigint), (signal.SIGTERM, self._on_sigterm)):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored (nohup, `cmd &` in a script): keep it so
                self._previous[sig] = signal.signal(sig, handler)

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True
        raise KeyboardInterrupt()

    def _on_sigterm(self, signum, frame) -> None:
        self.terminated = True
        raise Terminated()

    def _unraisable(self, unraisable) -> None:
        """A signal's KeyboardInterrupt raised where CPython cannot propagate it (a weakref callback
        of the import system: "Exception ignored in ... Terminated", 1 in 2 CI runs of a SIGTERM
        during start-up) is not printed as a traceback; ``main`` reports the signal when the
        command returns."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            if isinstance(unraisable.exc_value, Terminated):
                self.terminated = True
            else:
                self.interrupted = True
            return
        (self._previous_hook or sys.__unraisablehook__)(unraisable)

    def raise_pending(self) -> None:
        """A signal swallowed while the sub-commands were imported (``_unraisable``) stops the command
        before it starts, as one that was not swallowed does."""
        if self.terminated:
            raise Terminated()
        if self.interrupted:
            raise KeyboardInterrupt()

    def stop(self) -> None:
        if self._previous_hook is not None:
            sys.unraisablehook = self._previous_hook
        for sig, handler in self._previous.items():
            try:
                signal.signal(sig, handler)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                pass

    def configure_logging(self, level: str) -> None:
        handler = logging.StreamHandler()
        handler.setFormatter(RedactingFormatter(self.secrets))
        logging.basicConfig(level=level, handlers=[handler])
        self.logging_ready = True

    def fail(self, line: str, status: int, exc: BaseException | None = None) -> int:
        if exc is not None:
            if not self.logging_ready:  # it failed before the settings were read: the raw variable decides
                self.configure_logging(_raw_log_level())
            log.debug("%s failed", type(exc).__name__, exc_info=exc)
        try:
            print(redact(one_line(line), self.secrets), file=sys.stderr, flush=True)
        except (OSError, ValueError):  # stderr closed: the status still tells
            pass
        return status


def _raw_log_level() -> str:
    try:
        return check_log_level("HUM_SEARCH_LOG_LEVEL", os.environ.get("HUM_SEARCH_LOG_LEVEL") or "WARNING")
    except ConfigError:
        return "WARNING"


def _silence_stdout() -> None:
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
