"""``hum-search index DIR...`` (also ``python -m indexer DIR...``): index the audio files under the
folders. The work is done by ``hum_search.indexing.run``; this module parses, prints and exits."""

from __future__ import annotations

import argparse
import signal
import sys

from ..engine import (
    RebuildPlan,
    finish_rebuild,
    load_sound,
    open_engine,
    open_rebuild,
    plan_rebuild,
)
from ..errors import HumSearchError, StoreFeaturesError
from ..indexing.files import check_roots, no_audio_reason
from ..indexing.report import (
    DUPLICATE,
    FAILED,
    IndexInterrupted,
    IndexReport,
    ProgressEvent,
    default_failures_file,
)
from ..indexing.run import DEFAULT_BATCH_SIZE
from ._common import (
    add_device_arg,
    add_store_arg,
    index_progress,
    mmss,
    non_negative_int,
    positive_int,
    settings_from_args,
    stderr,
)

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: Ctrl-C, as shells report it
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: SIGTERM (the CLI's boundary turns it into Terminated)

DESCRIPTION = """\
Index the audio files (wav, mp3, flac, ogg, opus, m4a/aac, webm, aiff) under each DIR, recursively,
into the store. Title, artist, album and genre come from the files' tags; without a genre tag the
name of the file's folder is the genre (not for files directly in DIR).

Only new and changed files are analysed: a file whose size and modification time are unchanged is
skipped without being read. A song's id is the hash of its bytes, so a moved or renamed file is
updated in place (not analysed again) and a second copy of a file is reported as a duplicate and
skipped. Interrupted runs (Ctrl-C, SIGTERM, a crash, SIGKILL) lose at most the last few songs: run the same
command again to finish.

Files that cannot be used (corrupt, truncated, empty, not audio, unreadable, too long) are reported
as "PATH: reason", appended to the failure report (--failures-file) and skipped; the others are
indexed; a folder that cannot be read is reported as one line. Files deleted from disk
stay in the index unless --prune is given (which also forgets their recorded failures);
`hum-search remove` takes single songs out.

--force analyses every file again. On a store whose features an earlier release computed (it
refuses to open, naming what changed), --force rebuilds it: a new store is built beside it
(STORE.rebuild) from the DIRs and the old store's files found elsewhere, and replaces the old one
when complete; an interrupted rebuild leaves the old store as it was, and the same command
continues it. (On Elasticsearch, index into a new alias instead: HUM_SEARCH_ES_INDEX=NEW_NAME.)"""

EPILOG = """\
exit status: 0 every file was indexed, unchanged, moved or a duplicate; 1 some files failed (the
others were indexed; see the failure report), a folder could not be read, or a DIR holds no audio
file ("no audio files found under DIR", with what to check); 2 nothing could be done (no such
folder, store unusable, disk full, ...); 130 interrupted by Ctrl-C, 143 stopped by SIGTERM (kill):
in both cases what was analysed is kept and the summary is printed; run the same command again to
finish.

Environment: HUM_SEARCH_STORE, HUM_SEARCH_WORKERS, HUM_SEARCH_DEVICE, HUM_SEARCH_MAX_DURATION_S,
HUM_SEARCH_PANNS_CHECKPOINT (see README.md)."""


def register(subparsers) -> None:
    p = subparsers.add_parser("index", help="index the audio files under folders (new and changed files only)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", metavar="DIR", help="folder to index (or a single audio file)")
    add_store_arg(p)
    p.add_argument("--workers", "-j", type=non_negative_int, default=None, metavar="N",
                   help="feature-extraction processes (default: $HUM_SEARCH_WORKERS, else the number of CPU "
                        "cores; 0 = in this process)")
    add_device_arg(p)
    p.add_argument("--no-sound", action="store_true",
                   help="skip the PANNs sound embeddings (melody only; faster on a CPU)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--continue-on-error", dest="stop_on_error", action="store_false", default=False,
                   help="report files that fail and go on with the others (default)")
    g.add_argument("--stop-on-error", dest="stop_on_error", action="store_true",
                   help="stop at the first file that fails (what was indexed is kept)")
    p.add_argument("--failures-file", metavar="PATH", default=None,
                   help="append failed files (time, path, reason; tab-separated) here (default: "
                        "index-failures.tsv in the store folder, or ./hum-search-failures.tsv for Elasticsearch)")
    p.add_argument("--force", action="store_true", help="analyse every file again, even unchanged ones")
    p.add_argument("--prune", action="store_true",
                   help="also remove from the index the songs (and the recorded failures) whose files under DIR "
                        "no longer exist (a DIR in which no audio file is found is left alone)")
    p.add_argument("--batch-size", type=positive_int, default=None, metavar="N",
                   help="songs per store write (default: 8; a write also happens every 2 s)")
    g2 = p.add_mutually_exclusive_group()
    g2.add_argument("--progress", dest="progress", action="store_true", default=None,
                    help="show the progress bar even when stderr is not a terminal")
    g2.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    check_roots(args.dirs)  # before creating a store for a mistyped folder
    sound = load_sound(settings, "off" if args.no_sound else "auto")  # once, also for a rebuild
    try:
        engine = open_engine(settings, create=True, sound=sound)
    except StoreFeaturesError:
        plan = plan_rebuild(settings, args.dirs) if args.force else None
        if plan is None:  # without --force, or on Elasticsearch: the error says what to do
            raise
        return _rebuild(args, settings, plan, sound)
    with engine:
        return _index(args, engine, args.dirs, force=args.force, failures_file=args.failures_file
                      or str(default_failures_file(settings.store)))[0]


def _rebuild(args: argparse.Namespace, settings, plan: RebuildPlan, sound) -> int:
    """``--force`` on a store of an earlier release's features: build a new one beside it from the
    folders (and the old store's other files), then put it in the old one's place."""
    others = f" and {plan.carried:,} files of the old index found elsewhere" if plan.carried else ""
    print(f"{plan.store} holds features of another release: analysing {', '.join(args.dirs)}{others} again into "
          f"{plan.work}; it replaces the old index when complete", flush=True)
    if plan.missing:
        stderr(f"{plan.missing:,} songs of the old index are left out: their files no longer exist")
    with open_rebuild(plan, settings, sound=sound) as engine:
        rc, complete = _index(args, engine, plan.roots, force=False, failures_file=args.failures_file
                              or str(default_failures_file(plan.store)))
    if complete:
        finish_rebuild(plan)
        print(f"rebuilt: {plan.store} now holds the songs analysed with this release's features", flush=True)
    elif rc not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        stderr("the old index stays in place: the rebuild did not get through every folder; fix what is "
               "reported above and run the same command again to finish it")
    return rc


def _index(args: argparse.Namespace, engine, roots: list[str], *, force: bool, failures_file: str) -> tuple[int, bool]:
    """Index ``roots`` with ``engine``, printing as it goes: (exit code, whether it ran to the end)."""
    store, embedder = engine.store, engine.sound.embedder
    store.progress = index_progress("updating the search index")  # shown when closing a large store
    if args.no_sound:
        stderr("sound channel off (--no-sound): melody only")
    elif engine.sound.off is not None:
        stderr(sound_off_line(engine.sound.off))
    printer = _Printer(show_bar=sys.stderr.isatty() if args.progress is None else args.progress)
    print(f"indexing {', '.join(args.dirs)} into {store.location} ({store.kind} store"
          f"{', sound embeddings on ' + embedder.device if embedder is not None else ''})", flush=True)
    try:
        report = engine.index(
            roots, progress=printer, stop_on_error=args.stop_on_error, force=force, prune=args.prune,
            failures_file=failures_file, batch_size=args.batch_size or DEFAULT_BATCH_SIZE)
    except IndexInterrupted as e:
        printer.close()
        print_summary(e.report)
        how = "stopped by SIGTERM" if e.terminated else "interrupted"
        stderr(f"{how}: the songs analysed so far are in the index; run the same command again to finish")
        return (EXIT_TERMINATED if e.terminated else EXIT_INTERRUPTED), False
    finally:
        printer.close()
    print_summary(report)
    return report.exit_code, not report.stopped and not report.unreadable


def sound_off_line(reason: HumSearchError) -> str:
    """Why indexing runs without sound embeddings, and what to do for sound search."""
    cause = reason.cause.removeprefix("sound search unavailable: ")
    tail = f"for sound search too: {reason.fix}, then index again with --force" if reason.fix else \
        "sound search stays off for the songs indexed now"
    return f"sound channel unavailable: {cause} — melody search works; {tail}"


class _Printer:
    """Progress callback: a tqdm bar on stderr (with ETA) and one stdout line per unreadable folder,
    failed file, duplicate and warning."""

    def __init__(self, show_bar: bool):
        self.show_bar = show_bar
        self.bar = None

    def __call__(self, ev: ProgressEvent) -> None:
        if ev.outcome is None:
            self._start(ev)
            return
        o = ev.outcome
        lines = []
        if o.status == FAILED:
            lines.append(failure_line(o.path, o.detail or "failed"))
        elif o.status == DUPLICATE:
            lines.append(f"{o.path}: {o.detail} (skipped)")
        lines += [f"{o.path}: warning: {w}" for w in o.warnings]
        for line in lines:
            self._print(line)
        if self.bar is not None:
            self.bar.update(1)

    def _start(self, ev: ProgressEvent) -> None:
        r = ev.report
        print(f"{r.files} audio files: {r.unchanged} unchanged, {ev.total} to check"
              + (f" with {r.workers} worker processes" if r.workers else ""), flush=True)
        for folder, reason in r.unreadable:
            print(failure_line(folder, reason), flush=True)
        if self.show_bar and ev.total:
            from tqdm import tqdm

            self.bar = tqdm(total=ev.total, unit="file", file=sys.stderr, dynamic_ncols=True,
                            smoothing=0.1, desc="indexing")

    def _print(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            print(line, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def failure_line(path: str, reason: str) -> str:
    """``PATH: reason``, without naming the path twice when the reason starts with it."""
    if reason.startswith(path + " "):
        reason = reason[len(path) + 1:]
    return f"{path}: {reason}"


def print_summary(r: IndexReport) -> None:
    parts = [f"{what} {n}" for what, n in r.counts()]
    print(f"{', '.join(parts)} (of {r.files} files) in {mmss(r.seconds)} ({r.seconds:.1f} s): "
          f"{r.songs_per_hour:.0f} songs/hour", flush=True)
    if r.sound and r.indexed:
        print(f"sound embeddings: {r.sound_seconds:.1f} s of PANNs in this process, "
              f"melody analysis: {r.analysis_seconds:.1f} s in the workers", flush=True)
    if (r.failed or r.unreadable) and r.failures_file:
        print(f"failed files are listed in {r.failures_file}", flush=True)
    for root in r.without_audio:
        stderr(no_audio_reason(root))
