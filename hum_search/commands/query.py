"""``hum-search query FILE...``: find the songs that recordings (hums, or with ``--mode sound`` any
audio) match. All files go through one Searcher, so the store and models are loaded once."""

from __future__ import annotations

import argparse
import logging
import shlex

from ..engine import Engine, open_engine
from ..errors import (
    REPORT_FIX,
    EmptyIndexError,
    HumSearchError,
    ModelError,
    ModelUnavailableError,
    StoreError,
    UsageError,
    redact,
)
from ._common import (
    add_device_arg,
    add_mode_arg,
    add_search_args,
    add_store_arg,
    index_progress,
    json_line,
    mmss,
    one_line,
    settings_from_args,
    song_label,
    stderr,
)

log = logging.getLogger(__name__)

EPILOG = """\
--json prints exactly one line per FILE, in order:
  {"query": FILE, "mode": ..., "confident": bool, "results": [{"rank", "song_id", "title", "artist",
   "genre", "path", "score", "match_start_s", "match_end_s"}, ...],
   "timing_ms": {"decode", "features", "search", "rerank", "total"}}
or, for a file that could not be searched, {"query": FILE, "error": "<cause. Fix: ...>", "results": []}.

--genre matches the index's genres whatever the case; a genre no song has is an error that lists
the genres there are (unless another --genre given matches).

exit status: 0 every file was searched; 1 some files could not be searched (the others were);
2 nothing could be searched (no index, an empty index, an unknown genre, sound model unavailable, ...)."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "query", help="find the songs that hummed recordings match",
        description="Search the index with one or more recordings: hum or sing a tune (--mode hum, the default), "
                    "or any audio for songs that sound alike (--mode sound, needs the PANNs model). Results say "
                    "where in each song the hum matches.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="audio file (wav, mp3, flac, ogg, m4a, webm, ...)")
    add_search_args(p)
    add_mode_arg(p)
    add_store_arg(p)
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with open_search_engine(args) as engine:
        args.genres = resolve_genres(engine, args.genres)
        failed = 0
        for path in args.files:
            if not search_and_print(engine.searcher, path, path, args):
                failed += 1
        return 1 if failed else 0


def open_search_engine(args: argparse.Namespace) -> Engine:
    """One engine for the whole command. Sound mode needs the PANNs model (a missing one ends the
    command with one line); hum mode does not load it."""
    settings = settings_from_args(args)
    if args.mode != "sound":
        engine = _not_empty(open_engine(settings, sound="off"))
        engine.store.prepare_search(progress=index_progress())
        return engine
    try:
        engine = _not_empty(open_engine(settings, sound="required"))
    except ModelUnavailableError as e:
        raise ModelUnavailableError(e.cause, (e.fix + "; " if e.fix else "") +
                                    "humming search (--mode hum) works without it") from None
    try:
        if engine.store.stats().with_sound == 0:
            stderr("note: no song in this index has a sound embedding, so sound search finds nothing; "
                   "index again with the sound model available: hum-search index DIR --force")
    except Exception:  # stats are only for the hint
        log.debug("stats failed", exc_info=True)
    return engine


def _not_empty(engine: Engine) -> Engine:
    """The engine, unless its index holds no songs (then nothing could ever be found: say so)."""
    try:
        songs = engine.store.count()
    except BaseException:
        engine.close()
        raise
    if songs == 0:
        engine.close()
        location = engine.store.location
        raise EmptyIndexError(f"the index at {location} holds no songs",
                              f"index a music folder first: hum-search index DIR --store {shlex.quote(location)}")
    return engine


def resolve_genres(engine: Engine, wanted: list[str] | None) -> list[str] | None:
    """The index's own spellings of the --genre values (case-insensitive). A genre no song has is an
    error listing the genres there are, unless another given genre matches (then a note)."""
    if not wanted:
        return wanted
    have = engine.store.genres()
    by_key: dict[str, list[str]] = {}
    for g in have:
        by_key.setdefault(g.strip().casefold(), []).append(g)
    found, unknown = [], []
    for g in wanted:
        matches = by_key.get(g.strip().casefold())
        if matches:
            found.extend(matches)
        else:
            unknown.append(g)
    if unknown:
        listed = ", ".join(sorted(have, key=str.casefold)) or "none: no song has a genre"
        names = ", ".join(repr(g) for g in unknown)
        if not found:
            raise UsageError(f"no song in the index has the genre {names}",
                             f"use one of the genres there are: {listed}")
        stderr(f"note: no song has the genre {names}; searching {', '.join(dict.fromkeys(found))}")
    return list(dict.fromkeys(found))


def search_and_print(searcher, source, name: str, args: argparse.Namespace) -> bool:
    """Search one recording and print its result (JSON line or table). False when it failed; only
    problems with this recording are caught, a broken store or model ends the command."""
    try:
        resp = searcher.search(source, top=args.top, genres=args.genres or None, mode=args.mode, query_name=name)
    except (StoreError, ModelError):
        raise
    except HumSearchError as e:
        print_error(name, str(e), args.json)
        return False
    except Exception as e:  # a bug for one recording must not lose the others' answers
        log.debug("search of %s failed", name, exc_info=True)
        print_error(name, f"searching failed ({type(e).__name__}: {redact(one_line(e))}). Fix: {REPORT_FIX}", args.json)
        return False
    print_response(resp, name, args.json, genres=args.genres)
    return True


def print_error(name: str, message: str, as_json: bool) -> None:
    message = one_line(message)
    if as_json:
        json_line({"query": name, "error": message, "results": []})
    else:
        if message.startswith(name + " "):  # the message names the file already
            message = message[len(name) + 1:]
        print(f"{name}: error: {message}", flush=True)


def print_response(resp, name: str, as_json: bool, genres=None) -> None:
    if as_json:
        d = resp.to_dict()
        d["query"] = name
        json_line(d)
        return
    print(format_table(resp, name, genres), flush=True)


def format_table(resp, name: str, genres=None) -> str:
    qa = resp.analysis
    about = [resp.mode]
    if qa is not None:
        about.append(f"{qa.duration_s:.1f} s")
        if resp.mode == "hum":
            about.append(f"{qa.voiced_s:.1f} s hummed")
    about.append(f"{resp.timing_ms.get('total', 0):.0f} ms")
    lines = [f"{name} ({', '.join(about)})"]
    if not resp.results:
        where = f" in genre {', '.join(genres)}" if genres else ""
        lines.append(f"  no matching songs{where}")
        return "\n".join(lines)
    rows = [("#", "score", "song", "genre", "match", "path")]
    for r in resp.results:
        s = r.song
        match = "" if r.match_start_s is None else f"{mmss(r.match_start_s)}–{mmss(r.match_end_s)}"
        rows.append((str(r.rank), f"{r.score:.3f}", _cut(song_label(s.title, s.artist, s.path), 48),
                     _cut(s.genre or "-", 20), match, s.path))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [row[0].rjust(widths[0]), row[1].rjust(widths[1])] + [c.ljust(w) for c, w in zip(row[2:-1], widths[2:])]
        lines.append("  " + "  ".join(cells + [row[-1]]).rstrip())
    if not resp.confident:
        lines.append("  no confident match: these are the closest songs, but none stands out"
                     if resp.mode == "hum" else "  no confident match")
        if resp.hint:
            lines.append(f"  hint: {resp.hint}")
    return "\n".join(lines)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
