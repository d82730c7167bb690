"""Bulk indexing: find the audio files under some folders, analyse the new and changed ones in
parallel and write them to a store. Used by ``hum-search index`` / ``python -m indexer`` (through
``Engine.index``) and by the web app (``index_paths`` with a progress callback). Library code: it
logs, it never prints.

The rooms of a run, in the order a file meets them:

    files.py        find the audio files, hash them (song id = content hash), file-system errors
    changes.py      unchanged / moved / duplicate / to analyse, against the store's file states; prune
    workers.py      the analysis processes (``analyze_file``), crash isolation, exit with the parent
    sound_batch.py  the PANNs thread that embeds the crops of several songs per forward pass
    report.py       FileOutcome, ProgressEvent, IndexReport, IndexInterrupted, the failure report file
    run.py          this module: ``index_paths`` and the loop that ties them together

Each file ends **indexed**, **unchanged**, **moved**, **duplicate** or **failed**: it could not be
read or decoded (corrupt, truncated, empty, not audio, unreadable, too long, under MIN_SONG_S of
audio, ...). A failure's reason (cause and fix, one line) is reported, recorded with
``store.record_failures`` and appended to the failure report file; the run continues, and failed
files are tried again on the next run. A folder that cannot be read is reported once (it is not a
file: it is neither counted among the files nor recorded in the store); so is a folder in which no
audio file was found. Files deleted from disk stay in the index unless ``prune=True``.

Resuming
--------
Results go to the store in batches (every ``batch_size`` songs or ``FLUSH_SECONDS``, whichever
comes first), each one atomic. A run killed with SIGKILL loses at most the batch in flight; the next
run sees the stored files as unchanged and analyses the rest. Nothing is duplicated: a song's id
is its content hash, and a path holds one song. Ctrl-C (and SIGTERM, which the CLI turns into
``errors.Terminated``, a KeyboardInterrupt) writes what is ready, stops the workers and raises
IndexInterrupted with the report. A full disk ends the run with one StoreError line; the batches
written before it stay.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import threading
import time
from collections import deque
from typing import Callable, Iterator, Sequence

from ..config import Settings, utc_now
from ..errors import one_line
from ..types import SongMeta, SongRecord
from .changes import Changes, Settled, Task
from .files import (
    check_roots,
    disk_full_error,
    find_audio_files,
    is_disk_full,
    no_audio_reason,
    roots_without_audio,
)
from .report import (
    DUPLICATE,
    FAILED,
    FAILURES_FILE,
    INDEXED,
    MOVED,
    UNCHANGED,
    FailureFile,
    FileOutcome,
    IndexInterrupted,
    IndexReport,
    ProgressEvent,
    default_failures_file,
)
from .sound_batch import Pending, SoundThread
from .workers import CRASH_REASON, AnalysisPool, WorkerResult, analyze_file

__all__ = [
    "CRASH_REASON", "DEFAULT_BATCH_SIZE", "DUPLICATE", "FAILED", "FAILURES_FILE", "INDEXED", "MOVED", "UNCHANGED",
    "FileOutcome", "IndexInterrupted", "IndexReport", "ProgressEvent", "analyze_file", "check_roots",
    "default_failures_file", "find_audio_files", "index_paths",
]

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8  # songs per store write
FLUSH_SECONDS = 2.0  # ... or at least this often while songs are waiting
INFLIGHT_PER_WORKER = 2  # files handed to the pool per worker process (keeps workers busy)
POLL_S = 0.25  # longest wait for a worker or PANNs before looking at the stop conditions again


def index_paths(
    store,
    roots: Sequence[str | os.PathLike],
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    sound_embedder=None,
    progress: Callable[[ProgressEvent], None] | None = None,
    stop_event: threading.Event | None = None,
    stop_on_error: bool = False,
    force: bool = False,
    prune: bool = False,
    failures_file: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    analyze: Callable[..., WorkerResult] | None = None,
    exclude: Callable[[str], bool] | None = None,
    follow_links: bool = True,
) -> IndexReport:
    """Index the audio files under ``roots`` into ``store`` (see the module docstring).

    ``workers``: analysis processes (default ``settings.workers``); 0 analyses in this process (no
    crash isolation; for tiny jobs and tests). ``sound_embedder``: a loaded SoundEmbedder, or None
    for the melody channel only. ``progress``: called with a ProgressEvent, in this thread.
    ``stop_event``: set it to stop after the files in flight (they are written). ``stop_on_error``:
    stop at the first failed file (or unreadable folder). ``force``: analyse again even unchanged
    files. ``prune``: remove the songs and failure records of files under ``roots`` that are gone.
    ``failures_file``: append ``failed_at, path, reason`` lines there (TSV). ``analyze``: replaces
    ``analyze_file`` (tests; must be picklable). ``exclude``: files (absolute paths) for which it
    returns True are left out (e.g. songs held out by ``eval``). ``follow_links=False``: descend into
    no symbolic link to a folder (the web app's sidebar stays inside its music root).

    Raises HumSearchError for a missing root and StoreError when the store fails or the disk is
    full (what was written before stays); Ctrl-C raises IndexInterrupted after writing the songs
    already analysed."""
    settings = settings or Settings.from_env()
    run = _Run(store, [os.fspath(r) for r in roots], settings=settings,
               workers=settings.workers if workers is None else workers, embedder=sound_embedder,
               progress=progress, stop_event=stop_event, stop_on_error=stop_on_error, force=force, prune=prune,
               failures_file=failures_file, batch_size=max(1, batch_size), analyze=analyze or analyze_file,
               exclude=exclude, follow_links=follow_links)
    return run.run()


class _Run:
    def __init__(self, store, roots: list[str], *, settings: Settings, workers: int, embedder, progress,
                 stop_event, stop_on_error: bool, force: bool, prune: bool, failures_file, batch_size: int,
                 analyze, exclude=None, follow_links: bool = True) -> None:
        self.store = store
        self.exclude = exclude
        self.follow_links = follow_links
        self.roots = roots
        self.settings = settings
        self.workers = max(0, int(workers))
        self.embedder = embedder
        self.progress = progress
        self.stop_event = stop_event
        self.stop_on_error = stop_on_error
        self.force = force
        self.prune = prune
        self.failure_file = FailureFile(failures_file)
        self.batch_size = batch_size
        self.analyze = analyze
        self.report = IndexReport(roots=list(roots), sound=embedder is not None,
                                  failures_file=str(self.failure_file.path) if self.failure_file.path else None)
        self.changes: Changes | None = None
        self.pending: list[Pending] = []
        self.unrecorded_failures: list[tuple[str, str]] = []
        self.suspects: deque[Task] = deque()
        self.pool = AnalysisPool(0, analyze)
        self.sound = SoundThread(embedder) if embedder is not None else None
        self.done = 0
        self.last_flush = time.monotonic()
        self._store_full = False

    # --- driver -----------------------------------------------------------------------------------------
    def run(self) -> IndexReport:
        t0 = time.monotonic()
        r = self.report
        files, todo = self._plan()
        if self.sound is not None:
            self.sound.start()
        try:
            with self.store.batch():  # writes become searchable once, at the end (Elasticsearch: one refresh)
                self._process(deque(todo))
        except KeyboardInterrupt as e:
            self.pool.abort()
            self._flush_safely()
            r.stopped = True
            r.not_processed = max(0, r.to_check - self.done)
            r.seconds = time.monotonic() - t0
            raise IndexInterrupted(r, e) from None
        except BaseException:
            self.pool.abort()
            self._flush_safely()
            raise
        finally:
            self.pool.close()
            if self.sound is not None:
                self.sound.stop()
                r.sound_seconds = self.sound.seconds
        if self.prune and not r.stopped:
            assert self.changes is not None
            with self._writing():
                r.pruned, r.pruned_failures = self.changes.prune(self.roots, files)
        r.seconds = time.monotonic() - t0
        log.info("indexed %d, unchanged %d, moved %d, duplicates %d, failed %d in %.1f s", r.indexed, r.unchanged,
                 len(r.moved), len(r.duplicates), len(r.failed), r.seconds)
        return r

    def _plan(self) -> tuple[list[tuple[str, str]], list[Task]]:
        """Walk the roots and sort the files into unchanged and to look at; emits the start event."""
        r = self.report
        files, r.unreadable = find_audio_files(self.roots, follow_links=self.follow_links)
        r.without_audio = roots_without_audio(self.roots, files, r.unreadable)
        if self.exclude is not None:
            files = [f for f in files if not self.exclude(f[0])]
        r.files = len(files)
        self.changes = Changes(self.store, force=self.force)
        todo, r.unchanged = self.changes.plan(files)
        r.to_check = len(todo)
        r.workers = min(self.workers, len(todo)) if self.workers else 0
        self.pool = AnalysisPool(r.workers, self.analyze)
        log.info("%d audio files under %s: %d unchanged, %d to check", r.files, ", ".join(self.roots),
                 r.unchanged, len(todo))
        for folder, reason in r.unreadable:
            log.info("%s: %s", folder, reason)
            self.failure_file.append(folder, reason)
        for root in r.without_audio:
            log.info("%s", no_audio_reason(root))
        self._emit(None)
        return files, todo

    def _should_stop(self) -> bool:
        return bool((self.stop_event is not None and self.stop_event.is_set())
                    or (self.stop_on_error and (self.report.failed or self.report.unreadable)))

    def _process(self, todo: deque[Task]) -> None:
        inflight: dict[cf.Future, Task] = {}
        max_inflight = max(1, self.report.workers * INFLIGHT_PER_WORKER)
        while True:
            stopping = self._should_stop()
            while not stopping and len(inflight) < max_inflight and not self._sound_full():
                if self.suspects:
                    if inflight:
                        break
                    task = self.suspects.popleft()
                    task.isolated = True
                elif todo:
                    task = todo.popleft()
                    if not self._decide(task):
                        stopping = self._should_stop()
                        continue
                else:
                    break
                inflight[self._submit(task)] = task
            if inflight:
                self._wait(inflight)
            elif self.sound is not None and self.sound.backlog:
                self.pending.extend(self.sound.take(timeout=POLL_S))
            elif stopping or (not todo and not self.suspects):
                break
            if self.sound is not None:
                self.pending.extend(self.sound.take())
            if self.pending and (len(self.pending) >= self.batch_size
                                 or time.monotonic() - self.last_flush >= FLUSH_SECONDS):
                self._flush()
        self._flush()
        self.report.not_processed = len(todo) + len(self.suspects)
        self.report.stopped = self.report.stopped or self.report.not_processed > 0

    def _wait(self, inflight: dict[cf.Future, Task]) -> None:
        done, _ = cf.wait(list(inflight), timeout=POLL_S, return_when=cf.FIRST_COMPLETED)
        broken = False
        for fut in done:
            task = inflight.pop(fut)
            try:
                result = fut.result()
            except cf.process.BrokenProcessPool:
                broken = True
                self._crashed(task)
            except Exception as e:  # e.g. a result that could not be sent back
                self._fail(task.path, f"analysis failed ({type(e).__name__}: {e}). Fix: report this as a bug")
            else:
                self._on_result(task, result)
        if broken or self.pool.broken:
            for fut, task in list(inflight.items()):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._on_result(task, fut.result())
                else:
                    self._crashed(task)
            inflight.clear()
            self.pool.abort()

    def _sound_full(self) -> bool:
        return self.sound is not None and self.sound.full

    def _crashed(self, task: Task) -> None:
        if task.isolated:
            self._fail(task.path, CRASH_REASON)
        else:
            log.info("a worker process died; %s will be retried on its own", task.path)
            self.suspects.append(task)

    # --- deciding without analysis ------------------------------------------------------------------------
    def _decide(self, task: Task) -> bool:
        """True: analyse it; otherwise it was settled (and reported) here."""
        assert self.changes is not None
        with self._writing():
            settled = self.changes.decide(task)
        if settled is None:
            return True
        self._settle(settled)
        return False

    def _settle(self, s: Settled) -> None:
        o, r = s.outcome, self.report
        if o.status == FAILED:
            self._fail(o.path, o.detail or "failed")
            return
        if o.status == UNCHANGED:
            r.unchanged += 1
        elif o.status == MOVED:
            r.moved.append((s.other or "", o.path))
        elif o.status == DUPLICATE:
            r.duplicates.append((o.path, s.other or ""))
        self._outcome(o)

    # --- analysis -------------------------------------------------------------------------------------------
    def _submit(self, task: Task) -> cf.Future:
        return self.pool.submit(task.path, task.root, float(self.settings.max_duration_s), self.embedder is not None)

    def _on_result(self, task: Task, res: WorkerResult) -> None:
        self.report.analysis_seconds += res.seconds
        if not res.ok:
            self._fail(task.path, res.reason or "analysis failed", res.warnings)
            return
        m = res.meta or {}
        meta = SongMeta(song_id=task.song_id, path=task.path, title=m.get("title"), artist=m.get("artist"),
                        album=m.get("album"), genre=m.get("genre"), duration_s=res.duration_s,
                        content_hash=task.content_hash, file_size=task.size, file_mtime=task.mtime,
                        indexed_at=utc_now())
        item = Pending(task, SongRecord(meta, res.melody, None), res.crops, res.warnings)
        if item.crops is not None and self.sound is not None:
            self.sound.put(item)
        else:
            self.pending.append(item)

    # --- writing --------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Store writes: a full disk becomes one StoreError line (cause and fix) and ends the run."""
        try:
            yield
        except Exception as e:
            if not is_disk_full(e):
                raise
            self._store_full = True
            raise disk_full_error(f"to the index at {self.store.location}", e) from None

    def _flush(self) -> None:
        assert self.changes is not None
        if self.pending:
            batch, self.pending = self.pending, []
            with self._writing():
                refused = {f.song_id: f.reason for f in self.store.add([p.record for p in batch])}
            for p in batch:
                if p.record.song_id in refused:
                    self._fail(p.task.path, f"the store refused it ({refused[p.record.song_id]}). "
                                            "Fix: report this as a bug")
                    continue
                self.changes.stored(p.task, p.record.song_id)
                self.report.indexed += 1
                for w in p.warnings:
                    self.report.warnings.append((p.task.path, w))
                self._outcome(FileOutcome(p.task.path, INDEXED, None, p.record.song_id, p.warnings))
        if self.unrecorded_failures:
            batch_f, self.unrecorded_failures = self.unrecorded_failures, []
            with self._writing():
                self.store.record_failures(batch_f)
        self.last_flush = time.monotonic()

    def _flush_safely(self) -> None:
        """Write what is ready (songs still waiting for PANNs are dropped: the next run redoes them),
        unless the store's disk is full."""
        if self._store_full or self.changes is None:
            return
        try:
            if self.sound is not None:
                self.pending.extend(self.sound.take())
            self._flush()
        except Exception as e:
            log.warning("could not write the last batch of songs (%s); the next run analyses them again",
                        one_line(e))
            log.debug("writing the last batch failed", exc_info=True)

    def _fail(self, path: str, reason: str, warnings: tuple[str, ...] = ()) -> None:
        reason = one_line(reason)
        self.report.failed.append((path, reason))
        self.unrecorded_failures.append((path, reason))
        self.failure_file.append(path, reason)
        self._outcome(FileOutcome(path, FAILED, reason, None, tuple(warnings)))

    def _outcome(self, outcome: FileOutcome) -> None:
        self.done += 1
        self._emit(outcome)

    def _emit(self, outcome: FileOutcome | None) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(self.done, self.report.to_check, outcome, self.report))
