"""The ``hum-search`` command line.

Each sub-command lives in its own module under ``hum_search.commands`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a ``run(args) -> int``.
Library code logs; only the commands print. A HumSearchError ends the command with its one-line
message (cause and fix) and exit status 2, never with a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from . import __version__
from .config import Settings
from .errors import HumSearchError

COMMANDS = [
    "index", "query", "record", "stats", "remove", "download_models", "eval", "demo", "elastic",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hum-search",
        description="Find songs in your music collection by humming them.",
        epilog="Configuration comes from HUM_SEARCH_* environment variables; see README.md.",
    )
    parser.add_argument("--version", action="version", version=f"hum-search {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f".commands.{name}", __package__).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    level = {0: settings.log_level, 1: "INFO"}.get(args.verbose, "DEBUG")
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HumSearchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
