"""``python -m indexer DIR... [options]``: the same as ``hum-search index DIR... [options]``
(``-v``/``-vv`` for more log output work here too)."""

import sys

from hum_search.cli import main


def _argv(args: list[str]) -> list[str]:
    verbose = [a for a in args if a in ("-v", "-vv", "-vvv", "--verbose")]
    rest = [a for a in args if a not in verbose]
    return [*verbose, "index", *rest]


if __name__ == "__main__":
    sys.exit(main(_argv(sys.argv[1:])))
