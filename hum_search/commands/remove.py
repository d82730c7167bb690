"""``hum-search remove PATH|ID...``: take songs out of the index (the files are not touched)."""

from __future__ import annotations

import argparse
import os

from ..engine import open_engine
from ._common import add_store_arg, settings_from_args, stderr


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "remove", help="take songs out of the index (by file path or song id)",
        description="Remove songs from the index, each given by the path it was indexed from (relative paths are "
                    "made absolute) or by its song id (as printed by hum-search query). The audio files are not "
                    "touched; indexing their folder again adds them back.",
        epilog="exit status: 0 every PATH|ID matched a song; 1 some matched nothing (the others were removed); "
               "2 the index could not be opened.")
    p.add_argument("targets", nargs="+", metavar="PATH|ID")
    add_store_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    missing = 0
    with open_engine(settings, sound="off") as engine:
        store = engine.store
        for target in args.targets:
            names = _describe(store, target)
            ids = store.remove(target)
            if not ids:
                missing += 1
                stderr(f"{target}: no song in the index has this path or id")
                continue
            for sid in ids:
                print(f"removed {sid} ({names.get(sid) or target})", flush=True)
    return 1 if missing else 0


def _describe(store, target: str) -> dict[str, str]:
    """song_id -> indexed path, for the songs ``target`` names (for the report only)."""
    out: dict[str, str] = {}
    try:
        for sid, rec in store.get([target], melody=False).items():
            out[sid] = rec.meta.path
        states = store.file_states()
        for p in (target, os.path.abspath(os.path.expanduser(target))):
            if p in states:
                out[states[p].song_id] = p
    except Exception:  # only for nicer messages
        pass
    return out
