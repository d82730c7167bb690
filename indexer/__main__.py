"""``python -m indexer DIR... [options]``: the same as ``hum-search index DIR... [options]``
(``-v``/``-vv`` for more log output work here too).

Until the CLI's ``main`` has set up its error boundary (importing it takes a few tens of
milliseconds), Ctrl-C or SIGTERM ends the process at once with one line and status 130 or 143
instead of a traceback: nothing has been opened or written yet. From then on ``main`` handles both
(the indexer writes what it has analysed and prints its summary)."""

import sys

from hum_search.__main__ import exit_on_signals_until_main, leave


def _argv(args: list[str]) -> list[str]:
    verbose = [a for a in args if a in ("-v", "-vv", "-vvv", "--verbose")]
    rest = [a for a in args if a not in verbose]
    return [*verbose, "index", *rest]


if __name__ == "__main__":
    exit_on_signals_until_main()  # before importing the CLI: an early Ctrl-C is one line
    from hum_search.cli import main

    leave(main(_argv(sys.argv[1:])))  # (not sys.exit: see ``leave``; an interrupted run ended "killed by SIGINT")
