"""What an indexing run tells its caller: one ``FileOutcome`` per file, ``ProgressEvent``s for a
progress display, the ``IndexReport`` at the end (also inside ``IndexInterrupted`` after Ctrl-C or
SIGTERM), and the failure report file (``index-failures.tsv``: time, path, reason; tab-separated).

The failure report is for people; the store keeps its own failure records (``store.failures()``,
counted by ``hum-search stats``). A failure report that cannot be written is warned about once and
the run goes on, except on a full disk, which ends the run with one line (the store, usually on the
same disk, would fail next).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import is_es_url, utc_now
from ..errors import Terminated
from .files import disk_full_error, is_disk_full

log = logging.getLogger(__name__)

INDEXED, UNCHANGED, MOVED, DUPLICATE, FAILED = "indexed", "unchanged", "moved", "duplicate", "failed"
FAILURES_FILE = "index-failures.tsv"  # in the embedded store's folder
ES_FAILURES_FILE = "hum-search-failures.tsv"  # in the current folder, for an Elasticsearch store
FAILURES_HEADER = "failed_at\tpath\treason\n"


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
    """Passed to the ``progress`` callback: once at the start (``outcome`` None; the report then
    holds the counts found by the walk, unreadable folders and folders without audio included) and
    once per file that had to be looked at (files found unchanged by size and time are counted in
    the report only). ``done``/``total`` count those files."""

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
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (folder, reason): could not be walked
    without_audio: list[str] = field(default_factory=list)  # roots (as given) holding no audio file
    pruned: list[str] = field(default_factory=list)  # removed from the index: file gone (prune=True)
    pruned_failures: list[str] = field(default_factory=list)  # failure records of files gone (prune=True)
    not_processed: int = 0  # files left undone because the run was stopped
    stopped: bool = False
    seconds: float = 0.0
    workers: int = 0
    sound: bool = False  # sound embeddings computed
    analysis_seconds: float = 0.0  # summed over the workers
    sound_seconds: float = 0.0  # PANNs in the main process
    failures_file: str | None = None

    ALWAYS_SHOWN = ("indexed", "unchanged", "moved", "duplicates", "failed")

    def counts(self) -> list[tuple[str, int]]:
        """(outcome, how many) in the order every summary shows them: the first five always, the
        others (``ALWAYS_SHOWN`` aside) only where they happened."""
        every = [("indexed", self.indexed), ("unchanged", self.unchanged), ("moved", len(self.moved)),
                 ("duplicates", len(self.duplicates)), ("failed", len(self.failed)),
                 ("unreadable folders", len(self.unreadable)), ("pruned", len(self.pruned)),
                 ("failure records of deleted files cleared", len(self.pruned_failures)),
                 ("not processed", self.not_processed)]
        return [(k, n) for k, n in every if n or k in self.ALWAYS_SHOWN]

    @property
    def songs_per_hour(self) -> float:
        return 3600.0 * self.indexed / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0: every file was indexed, unchanged, moved or a duplicate; 1: some failed, a folder could
        not be read, or a folder holds no audio file."""
        return 1 if self.failed or self.unreadable or self.without_audio else 0

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["songs_per_hour"] = round(self.songs_per_hour, 1)
        d["exit_code"] = self.exit_code
        return d


class IndexInterrupted(KeyboardInterrupt):
    """Ctrl-C, or SIGTERM where the caller turns it into ``errors.Terminated`` (the CLI does), during
    ``index_paths``: the analysed songs were written; ``report`` says what was done."""

    def __init__(self, report: IndexReport, interruption: BaseException | None = None):
        super().__init__("indexing interrupted")
        self.report = report
        self.terminated = isinstance(interruption, Terminated)


def default_failures_file(store_location: str) -> Path:
    """``<store folder>/index-failures.tsv``, or ``./hum-search-failures.tsv`` for Elasticsearch."""
    if is_es_url(store_location):
        return Path.cwd() / ES_FAILURES_FILE
    return Path(store_location).expanduser() / FAILURES_FILE


class FailureFile:
    """Appends ``failed_at, path, reason`` lines to the failure report (the header first when the
    file is new or empty). A write that fails is warned about once and the run goes on; a full disk
    raises HumSearchError (one line: cause and fix)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._broken = False

    def append(self, path: str, reason: str) -> None:
        if self.path is None or self._broken:
            return
        try:
            self._write(f"{utc_now()}\t{_clean(path)}\t{_clean(reason)}\n")
        except OSError as e:
            self._broken = True
            if is_disk_full(e):
                raise disk_full_error(f"the failure report {self.path}", e,
                                      "free some disk space, or give --failures-file on another disk",
                                      store=False) from None
            log.warning("cannot write the failure report %s (%s)", self.path, e)

    def _write(self, line: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists() or self.path.stat().st_size == 0
        with open(self.path, "a", encoding="utf-8") as f:
            f.write((FAILURES_HEADER if new else "") + line)


def _clean(s: str) -> str:
    return s.replace("\t", " ").replace("\n", " ").replace("\r", " ")
