"""The analysis processes: ``analyze_file`` (one file in, metadata and features out, never raising)
and ``AnalysisPool``, which runs it in a ``ProcessPoolExecutor`` of worker processes.

* Spawn context, one BLAS/OpenMP thread per worker. Workers ignore SIGINT and SIGTERM (Ctrl-C and
  ``kill`` go to the indexer, which writes what is ready, then stops them with SIGKILL) and exit
  when the indexer dies, even by SIGKILL (PR_SET_PDEATHSIG on Linux, a re-parenting watch elsewhere),
  so no orphan lingers. The pool is always shut down, on success, error and interruption alike:
  killed without a shutdown, the interpreter's resource tracker reports the pool's semaphores as
  "leaked" on stderr.
* Each worker decodes a file once and returns its melody features and, when the sound channel is
  on, the (at most 3) 10-second 32 kHz crops ``sound.make_crops`` picks, at most 3.8 MB per song,
  instead of the whole decoded song; the main process embeds them (``sound_batch``).
* Native libraries write to the worker's stderr: libsndfile decodes mp3 with a bundled, statically
  linked libmpg123 that prints "Note: Illegal Audio-MPEG-Header ..." and "[src/libmpg123/layer3.c]
  error: ..." for every damaged frame it skips, and libsndfile offers no way to set its QUIET flag.
  So a worker points its file descriptor 2 at a private temporary file while it analyses a file, and
  whatever landed there becomes one warning of that file ("the decoder reported damaged data ...").
  ``workers=0`` (analysis in the calling process: tests, tiny jobs) does not capture, since other
  threads of that process may write to stderr.
* A worker that dies (a decoder segfault, the OOM killer) breaks the pool; the caller retries the
  files in flight one at a time, and the one that kills a worker on its own fails with CRASH_REASON.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import HumSearchError, one_line
from ..features import extract
from ..features.sound import make_crops
from .tags import song_metadata

log = logging.getLogger(__name__)

MIN_SONG_S = 1.0  # shorter decoded audio is a truncated or broken file, not a song
PARENT_POLL_S = 1.0  # how often a worker checks that the indexer is alive (besides PR_SET_PDEATHSIG)
NATIVE_LINE_CHARS = 160  # of the first native message quoted in a warning
_PR_SET_PDEATHSIG = 1
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "TORCH_NUM_THREADS")
CRASH_REASON = ("the analysis process crashed while reading it (a decoder or native-library crash). "
                "Fix: check that it plays in a media player; re-export it or remove it from the folder")


@dataclass
class WorkerResult:
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


# --- in the worker process ----------------------------------------------------------------------------
class _NativeStderr:
    """File descriptor 2 of a worker process, redirected to a private temporary file while one file
    is analysed (see the module docstring). ``text()`` gives what the native libraries wrote."""

    file = None  # set in worker processes by worker_init

    def __enter__(self) -> "_NativeStderr":
        self.saved = None
        self.captured = ""
        if self.file is not None:
            try:
                sys.stderr.flush()
                self.saved = os.dup(2)
                os.dup2(self.file.fileno(), 2)
            except OSError:
                self.saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self.saved, 2)
        os.close(self.saved)
        f = type(self).file
        try:
            f.seek(0)
            self.captured = f.read().decode("utf-8", "replace")
            f.seek(0)
            f.truncate()
        except OSError:
            self.captured = ""

    def warning(self) -> str | None:
        lines = [one_line(ln) for ln in self.captured.splitlines() if ln.strip()]
        if not lines:
            return None
        first = lines[0].removeprefix("Note: ")[:NATIVE_LINE_CHARS]
        more = f" and {len(lines) - 1} more messages" if len(lines) > 1 else ""
        return (f"the decoder reported damaged data and skipped it (\"{first}\"{more}); what could be decoded "
                "was indexed, so the song may have gaps. Fix: re-export or re-download it")


def worker_init(parent_pid: int) -> None:
    """Runs in each worker process: one thread for the numeric libraries, signals left to the
    parent, stderr captured per file, and exit when the parent dies."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):
            pass
    _exit_with_parent(parent_pid)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # threadpoolctl is an optimisation only
        pass
    try:
        _NativeStderr.file = tempfile.TemporaryFile()
    except OSError:  # no temporary folder: native messages go to the terminal
        _NativeStderr.file = None


def _exit_with_parent(parent_pid: int) -> None:
    try:  # Linux: the kernel sends SIGKILL when the parent dies
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass
    if os.getppid() != parent_pid:  # died before that was set up
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a fallback): notice being re-parented
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="hum-search-parent-watch", daemon=True).start()


def analyze_file(path: str, root: str | None, max_duration_s: float | None, want_crops: bool) -> WorkerResult:
    """Metadata and features of one file (in a worker process). Never raises: errors come back as
    ``ok=False`` with a one-line reason (cause and fix)."""
    collect = _Collect()
    logger = logging.getLogger("hum_search")
    logger.addHandler(collect)
    t0 = time.perf_counter()
    native = _NativeStderr()
    try:
        with native:
            meta = song_metadata(path, root)
            a = extract.analyze_song(path, max_duration_s=max_duration_s,
                                     sound_embedder=_CropMaker() if want_crops else None)
        if a.duration_s < MIN_SONG_S:
            raise HumSearchError(f"{path} holds only {a.duration_s:.2f} s of audio (truncated, or not a song)",
                                 "re-export or re-download it, or remove it from the folder")
        if a.melody is None or len(a.melody.vectors) == 0:
            collect.messages.append("no melody found in it (too short or no clear tune): humming will not find it, "
                                    "sound search can")
        return WorkerResult(ok=True, meta=meta, duration_s=float(a.duration_s), melody=a.melody, crops=a.sound,
                            warnings=_warnings(collect, native), seconds=time.perf_counter() - t0)
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
    return WorkerResult(ok=False, reason=one_line(reason), warnings=_warnings(collect, native),
                        seconds=time.perf_counter() - t0)


def _warnings(collect: _Collect, native: _NativeStderr) -> tuple[str, ...]:
    w = native.warning()
    return tuple(collect.messages) + ((w,) if w else ())


# --- in the indexer -----------------------------------------------------------------------------------
@contextlib.contextmanager
def _signals_deferred():
    """Ctrl-C and SIGTERM wait until the block is done, then take effect as usual. ``submit`` starts
    the workers: interrupted halfway through starting one, the pool never learns of that process,
    ``abort`` cannot stop it, and it finds its start-up data cut short and prints an EOFError
    traceback after the indexer has said "interrupted" (1 in 40 tries of a signal in the first
    half second)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) not in (signal.SIG_IGN, None):
            previous[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(caught):
            signal.raise_signal(sig)


class AnalysisPool:
    """``workers`` analysis processes, started on the first ``submit`` (0: analyse in this process,
    without crash isolation)."""

    def __init__(self, workers: int, analyze: Callable[..., WorkerResult]):
        self.workers = workers
        self.analyze = analyze
        self._pool: cf.ProcessPoolExecutor | None = None

    def submit(self, *args: Any) -> cf.Future:
        if self.workers == 0:
            fut: cf.Future = cf.Future()
            fut.set_result(self.analyze(*args))
            return fut
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(max_workers=self.workers,
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=worker_init, initargs=(os.getpid(),))
        with _signals_deferred():  # (submit may start the workers)
            return self._pool.submit(self.analyze, *args)

    @property
    def broken(self) -> bool:
        return self._pool is not None and bool(getattr(self._pool, "_broken", False))

    def abort(self) -> None:
        """Stop the workers now (after a crash, on Ctrl-C or a fatal error); the next ``submit``
        starts new ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            try:
                if proc.is_alive():
                    proc.kill()  # workers ignore SIGTERM
            except Exception:
                pass
        try:
            pool.shutdown(wait=True, cancel_futures=True)
        except Exception:
            pass

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
