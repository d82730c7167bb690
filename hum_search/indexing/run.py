"""Bulk indexing: find the audio files under some folders, analyse the new and changed ones in
parallel and write them to a store. Used by ``hum-search index`` / ``python -m indexer`` and by the
web app (``index_paths`` with a progress callback). Library code: it logs, it never prints.

What happens to each file
-------------------------
* Files are found recursively (symbolic links are followed, each folder is visited once so link
  loops end; hidden files and folders, names starting with ".", are skipped). Extensions:
  ``hum_search.features.audio.AUDIO_EXTENSIONS``. Paths are stored absolute.
* **unchanged**: the store already has this path with the same size and modification time. Nothing
  is read. (A file whose time stamp changed but whose bytes did not is hashed, found unchanged and
  its time stamp refreshed.)
* Otherwise the file is hashed (SHA-256 of its bytes; ``song_id`` = the first 16 hex digits). When
  the store already holds that content under another path:
  * **moved**: the old path no longer holds it: the song's location is updated (its metadata too
    when the genre came from the folder name and the folder changed), nothing is re-analysed;
  * **duplicate**: the old path still holds the same bytes: the copy is skipped and reported.
* **indexed**: the file is analysed (``analysis.analyze_song``) and stored.
* **failed**: the file could not be read or decoded (corrupt, truncated, empty, not audio,
  unreadable, too long, under MIN_SONG_S of audio, ...). The reason is reported, recorded with
  ``store.record_failures`` and appended to the failure report file; the run continues. Failed
  files are tried again on the next run.
* Files deleted from disk are *not* removed from the index, unless ``prune=True`` (``--prune``),
  which removes songs whose file under one of the given folders no longer exists; a folder in which
  no audio file at all was found (an unmounted drive?) is never pruned.

Parallelism and the sound channel
---------------------------------
Feature extraction runs in a ``ProcessPoolExecutor`` of ``workers`` processes (spawn context, one
BLAS/OpenMP thread each; they exit if the indexer dies, even by SIGKILL). Each worker decodes a file
once and returns its melody features and, when a sound embedder is in use, the (at most 3)
10-second 32 kHz crops that ``sound.make_crops`` picks: at most 3.8 MB per song, instead of the whole
decoded song. PANNs is loaded once, in the main process, and a thread there (``_SoundThread``; torch
releases the GIL) embeds the crops of several songs per ``SoundEmbedder.embed_batch`` call (up to
SOUND_BATCH_CROPS crops: batched on the GPU when there is one) while the main thread keeps the
workers busy. ``make_crops`` of the concatenated crops gives back exactly the same crops, so the
stored vector equals ``embed(whole song)`` (tested). At most SOUND_BACKLOG analysed songs wait for
PANNs, which bounds memory when PANNs is the slower stage.

Why not PANNs inside each worker: on a CPU the total work is the same either way, and one Cnn14
per worker would cost ~0.3 GB of weights plus activations per process and could not batch on a
GPU. Measured on the 2-core development box (random-weight Cnn14, 16 songs of 80 s, 2 workers):
melody analysis 15.6 worker-seconds, PANNs 29.9 s for 48 crops (~0.6 s per 10-s crop), wall time
31.5 s, against 4.6 s with ``--no-sound``. So on a CPU-only machine the sound channel dominates
indexing time (``--no-sound`` skips it; ``download-models`` + ``--force`` adds it later); on a GPU
the crops are batched (not measured yet: no GPU was available). ``IndexReport.analysis_seconds``
and ``sound_seconds`` show the split (printed in the summary).

A worker that dies (a decoder segfault, the OOM killer) breaks the pool: the pool is restarted and
the files that were in flight are retried one at a time; the one that kills a worker on its own is
reported as failed.

Resuming
--------
Results go to the store in batches (every ``batch_size`` songs or ``FLUSH_SECONDS``, whichever
comes first), each one atomic. A run killed with SIGKILL loses at most the batch in flight; the next
run sees the stored files as unchanged and analyses the rest. Nothing is duplicated: a song's id
is its content hash, and a path holds one song.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..config import IGNORE_MARKER, Settings, is_es_url, utc_now
from ..errors import HumSearchError
from ..features.audio import AUDIO_EXTENSIONS

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 8  # songs per store write
FLUSH_SECONDS = 2.0  # ... or at least this often while songs are waiting
INFLIGHT_PER_WORKER = 2  # files handed to the pool per worker process (keeps workers busy)
SOUND_BATCH_CROPS = 16  # 10 s crops per PANNs forward pass (sound.DEFAULT_BATCH_SIZE)
SOUND_BACKLOG = 32  # analysed songs waiting for PANNs at most (3.8 MB of crops each)
MIN_SONG_S = 1.0  # shorter decoded audio is a truncated or broken file, not a song
MTIME_TOLERANCE_S = 1e-3  # stores may keep modification times with less precision
FAILURES_FILE = "index-failures.tsv"  # in the embedded store's folder
ES_FAILURES_FILE = "hum-search-failures.tsv"  # in the current folder, for an Elasticsearch store
POLL_S = 0.25
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "TORCH_NUM_THREADS")

INDEXED, UNCHANGED, MOVED, DUPLICATE, FAILED = "indexed", "unchanged", "moved", "duplicate", "failed"
CRASH_REASON = ("the analysis process crashed while reading it (a decoder or native-library crash). "
                "Fix: check that it plays in a media player; re-export it or remove it from the folder")


# --- results ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileOutcome:
    """What happened to one file."""

    path: str
    status: str  # indexed | unchanged | moved | duplicate | failed
    detail: str | None = None  # failure reason, "duplicate of PATH", "moved from PATH"
    song_id: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProgressEvent:
    """Passed to the ``progress`` callback: once at the start (``outcome`` None) and once per file
    that had to be looked at (files found unchanged by size and time are counted in the report
    only). ``done``/``total`` count those files."""

    done: int
    total: int
    outcome: FileOutcome | None
    report: "IndexReport"


@dataclass
class IndexReport:
    roots: list[str]
    files: int = 0  # audio files found
    to_check: int = 0  # files that were not unchanged by size and time
    indexed: int = 0
    unchanged: int = 0
    moved: list[tuple[str, str]] = field(default_factory=list)  # (old path, new path)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, the stored copy's path)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, message), e.g. repaired samples
    pruned: list[str] = field(default_factory=list)  # removed from the index: file gone (prune=True)
    not_processed: int = 0  # files left undone because the run was stopped
    stopped: bool = False
    seconds: float = 0.0
    workers: int = 0
    sound: bool = False  # sound embeddings computed
    analysis_seconds: float = 0.0  # summed over the workers
    sound_seconds: float = 0.0  # PANNs in the main process
    failures_file: str | None = None

    @property
    def songs_per_hour(self) -> float:
        return 3600.0 * self.indexed / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: every file was indexed, unchanged, moved or a duplicate; 1: some failed."""
        return 1 if self.failed else 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["songs_per_hour"] = round(self.songs_per_hour, 1)
        d["exit_code"] = self.exit_code
        return d


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``index_paths``: the analysed songs were written; ``report`` says what was done."""

    def __init__(self, report: IndexReport):
        super().__init__("indexing interrupted")
        self.report = report


# --- files ----------------------------------------------------------------------------------------------


def find_audio_files(roots: Sequence[str | os.PathLike]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(files, errors)``: ``(absolute path, its root)`` of every audio file under ``roots``, sorted
    and without repeats, and ``(folder, reason)`` for folders that could not be read. Hidden
    files and folders, and folders that contain a ``.hum-search-ignore`` file, are skipped.

    A root may also be a single audio file. A root that does not exist raises HumSearchError."""
    files: list[tuple[str, str]] = []
    errors: list[tuple[str, str]] = []
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    check_roots(roots)
    for root in roots:
        r = os.path.abspath(os.path.expanduser(os.fspath(root)))
        if not os.path.isdir(r):
            if r not in seen_files:
                seen_files.add(r)
                files.append((r, os.path.dirname(r)))
            continue
        found: list[tuple[str, str]] = []

        def onerror(e: OSError, r: str = r) -> None:
            errors.append((e.filename or r, f"cannot read this folder ({e.strerror or e}). "
                                            "Fix: check its permissions (chmod a+rx)"))

        for dirpath, dirnames, filenames in os.walk(r, onerror=onerror, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            if (st.st_dev, st.st_ino) in seen_dirs:  # a link loop or a folder reached twice
                dirnames[:] = []
                continue
            seen_dirs.add((st.st_dev, st.st_ino))
            if IGNORE_MARKER in filenames:  # e.g. the demo's example hums: not songs
                dirnames[:] = []
                continue
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                    continue
                p = os.path.join(dirpath, name)
                if p not in seen_files:
                    seen_files.add(p)
                    found.append((p, r))
        files.extend(sorted(found))
    return files, errors


def check_roots(roots: Sequence[str | os.PathLike]) -> None:
    """HumSearchError unless every root is an existing folder or audio file (cheap; no walking)."""
    if not roots:
        raise HumSearchError("no folder to index was given", "give one or more music folders")
    for root in roots:
        r = os.path.abspath(os.path.expanduser(os.fspath(root)))
        if not os.path.exists(r):
            raise HumSearchError(f"{root} does not exist", "check the folder path")
        if not os.path.isdir(r) and os.path.splitext(r)[1].lower() not in AUDIO_EXTENSIONS:
            raise HumSearchError(f"{root} is neither a folder nor an audio file",
                                 f"give folders (or files ending in {', '.join(sorted(AUDIO_EXTENSIONS))})")


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def song_id_for(content_hash: str) -> str:
    return content_hash[:16]


def default_failures_file(store_location: str) -> Path:
    """``<store folder>/index-failures.tsv``, or ``./hum-search-failures.tsv`` for Elasticsearch."""
    if is_es_url(store_location):
        return Path.cwd() / ES_FAILURES_FILE
    return Path(store_location).expanduser() / FAILURES_FILE


def _io_reason(path: str, e: OSError) -> str:
    if isinstance(e, PermissionError):
        return (f"cannot read {path}: permission denied. "
                f"Fix: make it readable (chmod a+r '{path}') or run as its owner")
    if isinstance(e, FileNotFoundError):
        if os.path.islink(path):
            return f"{path} is a broken symbolic link. Fix: restore its target or remove the link"
        return f"{path} disappeared while indexing. Fix: index again once the folder is stable"
    return f"cannot read {path} ({e.strerror or e}). Fix: check the disk and the file"


# --- workers --------------------------------------------------------------------------------------------
@dataclass
class _WorkerResult:
    ok: bool
    reason: str | None = None
    meta: dict[str, str | None] | None = None
    duration_s: float = 0.0
    melody: Any = None  # MelodyFeatures
    crops: Any = None  # float32 (k * sound.CROP_SAMPLES,) or None
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0


class _CropMaker:
    """Stands in for the sound embedder inside ``analyze_song``: instead of an embedding it returns
    the 32 kHz crops PANNs will see, so the main process can embed them in batches without decoding
    the file again."""

    def embed(self, y_32k):
        from ..features.sound import make_crops

        return make_crops(y_32k).reshape(-1)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(" ".join(record.getMessage().split()))
        except Exception:  # a broken log call must not fail the file
            pass


def _worker_init(parent_pid: int) -> None:
    """Runs in each worker process: one thread for the numeric libraries, Ctrl-C left to the parent,
    and exit when the parent dies (even by SIGKILL), so no orphaned worker lingers."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    _exit_with_parent(parent_pid)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is an optimisation only
        pass
    from ..features import extract as analysis  # noqa: F401  import once, before the first file


def _exit_with_parent(parent_pid: int) -> None:
    try:  # Linux: the kernel sends SIGKILL when the parent dies
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent_pid:  # died before that was set up
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a fallback): notice being re-parented
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="hum-search-parent-watch", daemon=True).start()


def analyze_file(path: str, root: str | None, max_duration_s: float | None, want_crops: bool) -> _WorkerResult:
    """Metadata and features of one file (in a worker process). Never raises: errors come back as
    ``ok=False`` with a one-line reason (cause and fix)."""
    from ..features.extract import analyze_song
    from .tags import song_metadata

    collect = _Collect()
    logger = logging.getLogger("hum_search")
    logger.addHandler(collect)
    t0 = time.perf_counter()
    try:
        meta = song_metadata(path, root)
        a = analyze_song(path, max_duration_s=max_duration_s, sound_embedder=_CropMaker() if want_crops else None)
        if a.duration_s < MIN_SONG_S:
            raise HumSearchError(f"{path} holds only {a.duration_s:.2f} s of audio (truncated, or not a song)",
                                 "re-export or re-download it, or remove it from the folder")
        if a.melody is None or len(a.melody.vectors) == 0:
            collect.messages.append("no melody found in it (too short or no clear tune): humming will not find it, "
                                    "sound search can")
        return _WorkerResult(ok=True, meta=meta, duration_s=float(a.duration_s), melody=a.melody, crops=a.sound,
                             warnings=tuple(collect.messages), seconds=time.perf_counter() - t0)
    except HumSearchError as e:
        reason = str(e)
    except MemoryError:
        reason = (f"ran out of memory while analysing {path}. "
                  "Fix: lower HUM_SEARCH_MAX_DURATION_S or --workers, or split the file")
    except Exception as e:  # a bug in the analysis must cost one file, not the run
        log.debug("analysis of %s failed", path, exc_info=True)
        first = (str(e).strip().splitlines() or [""])[0][:200]
        reason = (f"analysis failed ({type(e).__name__}: {first}). "
                  "Fix: report this as a bug, with the file if you can")
    finally:
        logger.removeHandler(collect)
    return _WorkerResult(ok=False, reason=" ".join(reason.split()), warnings=tuple(collect.messages),
                         seconds=time.perf_counter() - t0)


# --- the sound channel, in a thread of the main process ---------------------------------------------------
class _SoundThread(threading.Thread):
    """Embeds the crops of analysed songs with PANNs, in batches, while the main thread keeps the
    workers busy (torch releases the GIL). Songs go in through ``put`` and come back, with
    ``record.sound`` set (or a warning), from ``take``."""

    def __init__(self, embedder, batch_crops: int = SOUND_BATCH_CROPS):
        super().__init__(name="hum-search-sound", daemon=True)
        self.embedder = embedder
        self.batch_crops = batch_crops
        self.inbox: queue.Queue = queue.Queue()
        self.outbox: queue.Queue = queue.Queue()
        self.backlog = 0  # songs put and not yet taken (main thread only)
        self.seconds = 0.0

    def put(self, item: "_Pending") -> None:
        self.backlog += 1
        self.inbox.put(item)

    def take(self, timeout: float | None = None) -> list["_Pending"]:
        out = []
        try:
            out.append(self.outbox.get(timeout=timeout) if timeout else self.outbox.get_nowait())
            while True:
                out.append(self.outbox.get_nowait())
        except queue.Empty:
            pass
        self.backlog -= len(out)
        return out

    def stop(self) -> None:
        self.inbox.put(None)

    def run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            items = [item]
            crops = len(item.crops) // _crop_samples()
            while crops < self.batch_crops:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self.inbox.put(None)
                    break
                items.append(nxt)
                crops += len(nxt.crops) // _crop_samples()
            t0 = time.perf_counter()
            try:
                self._embed(items)
            finally:
                self.seconds += time.perf_counter() - t0
                for p in items:
                    p.crops = None
                    self.outbox.put(p)

    def _embed(self, items: list["_Pending"]) -> None:
        try:
            vecs = self.embedder.embed_batch([p.crops for p in items], batch_size=self.batch_crops)
            for p, v in zip(items, vecs):
                p.record.sound = v
            return
        except Exception as e:  # one bad song (or a GPU hiccup) must not cost the others
            log.info("batched sound embedding failed (%s); embedding one song at a time", e)
        for p in items:
            try:
                p.record.sound = self.embedder.embed_batch([p.crops], batch_size=self.batch_crops)[0]
            except Exception as e:
                p.warnings = p.warnings + (f"indexed without a sound embedding ({' '.join(str(e).split())})",)


def _crop_samples() -> int:
    from ..features.sound import CROP_SAMPLES

    return CROP_SAMPLES


# --- the run --------------------------------------------------------------------------------------------
@dataclass
class _Task:
    path: str
    root: str
    size: int
    mtime: float
    content_hash: str = ""
    isolated: bool = False  # runs alone in the pool (after a worker crash)

    @property
    def song_id(self) -> str:
        return song_id_for(self.content_hash)


@dataclass
class _Pending:
    task: _Task
    record: Any  # SongRecord
    crops: Any
    warnings: tuple[str, ...]


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
    analyze: Callable[..., _WorkerResult] | None = None,
    exclude: Callable[[str], bool] | None = None,
) -> IndexReport:
    """Index the audio files under ``roots`` into ``store`` (see the module docstring).

    ``workers``: analysis processes (default ``settings.workers``); 0 analyses in this process (no
    crash isolation; for tiny jobs and tests). ``sound_embedder``: a loaded SoundEmbedder, or None
    for the melody channel only. ``progress``: called with a ProgressEvent, in this thread.
    ``stop_event``: set it to stop after the files in flight (they are written). ``stop_on_error``:
    stop at the first failed file. ``force``: analyse again even unchanged files. ``prune``: remove
    songs whose files under ``roots`` are gone. ``failures_file``: append ``failed_at, path, reason``
    lines there (TSV). ``analyze``: replaces ``analyze_file`` (tests; must be picklable). ``exclude``:
    files (absolute paths) for which it returns True are left out (e.g. songs held out by ``eval``).

    Raises HumSearchError for a missing root and StoreError when the store fails (what was written
    before stays); Ctrl-C raises IndexInterrupted after writing the songs already analysed."""
    settings = settings or Settings.from_env()
    run = _Run(store, [os.fspath(r) for r in roots], settings=settings,
               workers=settings.workers if workers is None else workers, embedder=sound_embedder,
               progress=progress, stop_event=stop_event, stop_on_error=stop_on_error, force=force, prune=prune,
               failures_file=failures_file, batch_size=max(1, batch_size), analyze=analyze or analyze_file,
               exclude=exclude)
    return run.run()


class _Run:
    def __init__(self, store, roots: list[str], *, settings: Settings, workers: int, embedder, progress,
                 stop_event, stop_on_error: bool, force: bool, prune: bool, failures_file, batch_size: int,
                 analyze, exclude=None) -> None:
        self.store = store
        self.exclude = exclude
        self.roots = roots
        self.settings = settings
        self.workers = max(0, int(workers))
        self.embedder = embedder
        self.progress = progress
        self.stop_event = stop_event
        self.stop_on_error = stop_on_error
        self.force = force
        self.prune = prune
        self.failures_file = Path(failures_file) if failures_file else None
        self.batch_size = batch_size
        self.analyze = analyze
        self.report = IndexReport(roots=list(roots), sound=embedder is not None,
                                  failures_file=str(self.failures_file) if self.failures_file else None)
        self.states: dict = {}
        self.seen_hashes: dict[str, str] = {}
        self.pending: list[_Pending] = []
        self.unrecorded_failures: list[tuple[str, str]] = []
        self.suspects: deque[_Task] = deque()
        self.pool: cf.ProcessPoolExecutor | None = None
        self.sound = _SoundThread(embedder) if embedder is not None else None
        self.done = 0
        self.last_flush = time.monotonic()
        self._failures_file_broken = False

    # --- driver -----------------------------------------------------------------------------------------
    def run(self) -> IndexReport:
        t0 = time.monotonic()
        r = self.report
        files, walk_errors = find_audio_files(self.roots)
        if self.exclude is not None:
            files = [f for f in files if not self.exclude(f[0])]
        r.files = len(files)
        self.states = self.store.file_states()
        todo: list[_Task] = []
        for path, root in files:
            try:
                st = os.stat(path)
            except OSError:
                todo.append(_Task(path, root, -1, 0.0))  # fails with its reason when its turn comes
                continue
            state = self.states.get(path)
            if (not self.force and state is not None and state.file_size == st.st_size
                    and abs(state.file_mtime - st.st_mtime) <= MTIME_TOLERANCE_S):
                r.unchanged += 1
            else:
                todo.append(_Task(path, root, st.st_size, st.st_mtime))
        r.to_check = len(todo) + len(walk_errors)
        r.workers = min(self.workers, len(todo)) if self.workers else 0
        log.info("%d audio files under %s: %d unchanged, %d to check", r.files, ", ".join(self.roots),
                 r.unchanged, len(todo))
        self._emit(None)
        for folder, reason in walk_errors:
            self._fail(folder, reason)
        if self.sound is not None:
            self.sound.start()
        try:
            self._process(deque(todo))
        except KeyboardInterrupt:
            self._abort_pool()
            self._flush_safely()
            r.stopped = True
            r.not_processed = max(0, r.to_check - self.done)
            r.seconds = time.monotonic() - t0
            raise IndexInterrupted(r) from None
        except BaseException:
            self._abort_pool()
            self._flush_safely()
            raise
        finally:
            self._close_pool()
            if self.sound is not None:
                self.sound.stop()
                r.sound_seconds = self.sound.seconds
        if self.prune and not r.stopped:
            self._prune(files)
        r.seconds = time.monotonic() - t0
        log.info("indexed %d, unchanged %d, moved %d, duplicates %d, failed %d in %.1f s", r.indexed, r.unchanged,
                 len(r.moved), len(r.duplicates), len(r.failed), r.seconds)
        return r

    def _should_stop(self) -> bool:
        return bool((self.stop_event is not None and self.stop_event.is_set())
                    or (self.stop_on_error and self.report.failed))

    def _process(self, todo: deque[_Task]) -> None:
        inflight: dict[cf.Future, _Task] = {}
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

    def _wait(self, inflight: dict[cf.Future, _Task]) -> None:
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
        if broken or (self.pool is not None and getattr(self.pool, "_broken", False)):
            for fut, task in list(inflight.items()):
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    self._on_result(task, fut.result())
                else:
                    self._crashed(task)
            inflight.clear()
            self._abort_pool()

    def _sound_full(self) -> bool:
        """Back-pressure: do not analyse further ahead of PANNs than SOUND_BACKLOG songs."""
        return self.sound is not None and self.sound.backlog >= SOUND_BACKLOG

    def _crashed(self, task: _Task) -> None:
        if task.isolated:
            self._fail(task.path, CRASH_REASON)
        else:
            log.info("a worker process died; %s will be retried on its own", task.path)
            self.suspects.append(task)

    # --- deciding without analysis ------------------------------------------------------------------------
    def _decide(self, task: _Task) -> bool:
        """Hash the file and settle moves, duplicates and touched files. True: analyse it."""
        try:
            if task.size < 0:  # could not be stat'ed while planning: raise the reason, or go on
                st = os.stat(task.path)
                task.size, task.mtime = st.st_size, st.st_mtime
            task.content_hash = file_sha256(task.path)
        except OSError as e:
            self._fail(task.path, _io_reason(task.path, e))
            return False
        h = task.content_hash
        first = self.seen_hashes.get(h)
        if first is not None and first != task.path:
            self._duplicate(task, first)
            return False
        self.seen_hashes[h] = task.path
        existing = self.store.find_by_hash(h)
        if existing is None:
            return True
        if existing.path == task.path:
            if self.force:
                return True
            self.store.update_location(existing.song_id, task.path, task.size, task.mtime)
            self._set_state(task, existing.song_id)
            self._outcome(FileOutcome(task.path, UNCHANGED, "same content, new time stamp", existing.song_id))
            self.report.unchanged += 1
            return False
        if self._still_holds(existing):
            self._duplicate(task, existing.path)
            return False
        if self.force:
            return True
        return not self._move(task, existing)

    def _still_holds(self, meta) -> bool:
        """Whether ``meta.path`` still holds the bytes stored for it."""
        try:
            st = os.stat(meta.path)
        except OSError:
            return False
        if st.st_size != meta.file_size:
            return False
        if abs(st.st_mtime - meta.file_mtime) <= MTIME_TOLERANCE_S:
            return True
        try:
            return file_sha256(meta.path) == meta.content_hash
        except OSError:
            return True  # there but unreadable: do not take its song away

    def _duplicate(self, task: _Task, original: str) -> None:
        stale = self.states.get(task.path)
        if stale is not None and stale.song_id != task.song_id:
            # this path held other content before and now holds a copy of another file
            self.store.remove(task.path)
            self.states.pop(task.path, None)
        self.report.duplicates.append((task.path, original))
        self._outcome(FileOutcome(task.path, DUPLICATE, f"duplicate of {original}", task.song_id))

    def _move(self, task: _Task, existing) -> bool:
        """Point the stored song at its new path. False when it has to be analysed after all."""
        from .tags import TAG_FIELDS, song_metadata

        meta = song_metadata(task.path, task.root)
        if any(meta.get(k) != getattr(existing, k) for k in TAG_FIELDS):
            # e.g. moved to another genre folder: rewrite the record with the new metadata
            rec = self.store.get([existing.song_id], melody=True).get(existing.song_id)
            if rec is None:
                return False
            rec.meta = dataclasses.replace(existing, path=task.path, file_size=task.size, file_mtime=task.mtime,
                                           indexed_at=utc_now(), **{k: meta.get(k) for k in TAG_FIELDS})
            if self.store.add([rec]):
                return False
        else:
            self.store.update_location(existing.song_id, task.path, task.size, task.mtime)
        self.states.pop(existing.path, None)
        self._set_state(task, existing.song_id)
        self.report.moved.append((existing.path, task.path))
        self._outcome(FileOutcome(task.path, MOVED, f"moved from {existing.path}", existing.song_id))
        return True

    def _set_state(self, task: _Task, song_id: str) -> None:
        from ..types import FileState

        self.states[task.path] = FileState(song_id, task.size, task.mtime)

    # --- analysis -------------------------------------------------------------------------------------------
    def _submit(self, task: _Task) -> cf.Future:
        args = (task.path, task.root, float(self.settings.max_duration_s), self.embedder is not None)
        if self.report.workers == 0:
            fut: cf.Future = cf.Future()
            fut.set_result(self.analyze(*args))
            return fut
        if self.pool is None:
            self.pool = cf.ProcessPoolExecutor(max_workers=self.report.workers,
                                               mp_context=multiprocessing.get_context("spawn"),
                                               initializer=_worker_init, initargs=(os.getpid(),))
        return self.pool.submit(self.analyze, *args)

    def _on_result(self, task: _Task, res: _WorkerResult) -> None:
        from ..types import SongMeta, SongRecord

        self.report.analysis_seconds += res.seconds
        if not res.ok:
            self._fail(task.path, res.reason or "analysis failed", res.warnings)
            return
        m = res.meta or {}
        meta = SongMeta(song_id=task.song_id, path=task.path, title=m.get("title"), artist=m.get("artist"),
                        album=m.get("album"), genre=m.get("genre"), duration_s=res.duration_s,
                        content_hash=task.content_hash, file_size=task.size, file_mtime=task.mtime,
                        indexed_at=utc_now())
        item = _Pending(task, SongRecord(meta, res.melody, None), res.crops, res.warnings)
        if item.crops is not None and self.sound is not None:
            self.sound.put(item)
        else:
            self.pending.append(item)

    # --- writing --------------------------------------------------------------------------------------------
    def _flush(self) -> None:
        if self.pending:
            batch, self.pending = self.pending, []
            refused = {f.song_id: f.reason for f in self.store.add([p.record for p in batch])}
            for p in batch:
                if p.record.song_id in refused:
                    self._fail(p.task.path, f"the store refused it ({refused[p.record.song_id]}). "
                                            "Fix: report this as a bug")
                    continue
                self._set_state(p.task, p.record.song_id)
                self.report.indexed += 1
                for w in p.warnings:
                    self.report.warnings.append((p.task.path, w))
                self._outcome(FileOutcome(p.task.path, INDEXED, None, p.record.song_id, p.warnings))
        if self.unrecorded_failures:
            batch_f, self.unrecorded_failures = self.unrecorded_failures, []
            self.store.record_failures(batch_f)
        self.last_flush = time.monotonic()

    def _flush_safely(self) -> None:
        """Write what is ready (songs still waiting for PANNs are dropped: the next run redoes them)."""
        try:
            if self.sound is not None:
                self.pending.extend(self.sound.take())
            self._flush()
        except Exception:
            log.warning("could not write the last batch of songs", exc_info=True)

    def _fail(self, path: str, reason: str, warnings: tuple[str, ...] = ()) -> None:
        reason = " ".join(reason.split())
        self.report.failed.append((path, reason))
        self.unrecorded_failures.append((path, reason))
        self._append_failure_file(path, reason)
        self._outcome(FileOutcome(path, FAILED, reason, None, tuple(warnings)))

    def _append_failure_file(self, path: str, reason: str) -> None:
        if self.failures_file is None or self._failures_file_broken:
            return
        clean = lambda s: s.replace("\t", " ").replace("\n", " ").replace("\r", " ")  # noqa: E731
        try:
            self.failures_file.parent.mkdir(parents=True, exist_ok=True)
            new = not self.failures_file.exists() or self.failures_file.stat().st_size == 0
            with open(self.failures_file, "a", encoding="utf-8") as f:
                if new:
                    f.write("failed_at\tpath\treason\n")
                f.write(f"{utc_now()}\t{clean(path)}\t{clean(reason)}\n")
        except OSError as e:
            self._failures_file_broken = True
            log.warning("cannot write the failure report %s (%s)", self.failures_file, e)

    def _outcome(self, outcome: FileOutcome) -> None:
        self.done += 1
        self._emit(outcome)

    def _emit(self, outcome: FileOutcome | None) -> None:
        if self.progress is not None:
            self.progress(ProgressEvent(self.done, self.report.to_check, outcome, self.report))

    def _prune(self, files: list[tuple[str, str]]) -> None:
        roots_with_files = {root for _, root in files}
        dirs = [os.path.join(os.path.abspath(os.path.expanduser(r)), "") for r in self.roots]
        dirs = [d for d in dirs if os.path.isdir(d) and os.path.abspath(d) in roots_with_files]
        for path in sorted(self.store.file_states()):
            if any(path.startswith(d) for d in dirs) and not os.path.lexists(path):
                if self.store.remove(path):
                    self.report.pruned.append(path)
        if self.report.pruned:
            log.info("pruned %d songs whose files are gone", len(self.report.pruned))

    # --- the pool -------------------------------------------------------------------------------------------
    def _abort_pool(self) -> None:
        """Stop the workers now (after a crash, on Ctrl-C or a fatal error)."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            try:
                if proc.is_alive():
                    proc.terminate()
            except Exception:
                pass
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except Exception:
            pass

    def _close_pool(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
