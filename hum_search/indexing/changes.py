"""What to do with each file found, decided against what the store already holds (its file states and
content hashes), without analysing anything:

* **unchanged**: the store already has this path with the same size and modification time. Nothing
  is read. (A file whose time stamp changed but whose bytes did not is hashed, found unchanged and
  its time stamp refreshed.)
* Otherwise the file is hashed (``files.file_sha256``). When the store already holds that content
  under another path:
  * **moved**: the old path no longer holds it: the song's location is updated (its metadata too
    when the genre came from the folder name and the folder changed), nothing is re-analysed;
  * **duplicate**: the old path still holds the same bytes: the copy is skipped and reported.
* Anything else is analysed (``decide`` returns None).
* ``prune`` (``--prune``) removes the songs, and the failure records, of files under the given
  folders that no longer exist; a folder in which no audio file at all was found (an unmounted
  drive?) is never pruned.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Sequence

from ..config import utc_now
from ..types import FileState
from .files import FileList, absolute, file_sha256, io_reason, song_id_for
from .report import DUPLICATE, FAILED, MOVED, UNCHANGED, FileOutcome
from .tags import TAG_FIELDS, song_metadata

log = logging.getLogger(__name__)

MTIME_TOLERANCE_S = 1e-3  # stores may keep modification times with less precision


@dataclass
class Task:
    """A file that has to be looked at (hashed, maybe analysed)."""

    path: str
    root: str
    size: int  # -1: could not be stat'ed while planning (it fails with its reason when its turn comes)
    mtime: float
    content_hash: str = ""
    isolated: bool = False  # runs alone in the pool (after a worker crash)

    @property
    def song_id(self) -> str:
        return song_id_for(self.content_hash)


@dataclass(frozen=True)
class Settled:
    """A file dealt with without analysis; ``other`` is the stored copy's path (duplicate) or the
    song's old path (moved)."""

    outcome: FileOutcome
    other: str | None = None


class Changes:
    """The store's view of the files, kept up to date during a run."""

    def __init__(self, store, *, force: bool = False):
        self.store = store
        self.force = force
        self.states: dict[str, FileState] = store.file_states()
        self.seen_hashes: dict[str, str] = {}  # content hash -> first path with it in this run

    def plan(self, files: FileList) -> tuple[list[Task], int]:
        """``(files to look at, number unchanged by size and time)``."""
        todo: list[Task] = []
        unchanged = 0
        for path, root in files:
            try:
                st = os.stat(path)
            except OSError:
                todo.append(Task(path, root, -1, 0.0))
                continue
            state = self.states.get(path)
            if (not self.force and state is not None and state.file_size == st.st_size
                    and abs(state.file_mtime - st.st_mtime) <= MTIME_TOLERANCE_S):
                unchanged += 1
            else:
                todo.append(Task(path, root, st.st_size, st.st_mtime))
        return todo, unchanged

    def decide(self, task: Task) -> Settled | None:
        """Hash the file and settle moves, duplicates and touched files. None: analyse it."""
        try:
            if task.size < 0:
                st = os.stat(task.path)
                task.size, task.mtime = st.st_size, st.st_mtime
            task.content_hash = file_sha256(task.path)
        except OSError as e:
            return Settled(FileOutcome(task.path, FAILED, io_reason(task.path, e)))
        h = task.content_hash
        first = self.seen_hashes.get(h)
        if first is not None and first != task.path:
            return self._duplicate(task, first)
        self.seen_hashes[h] = task.path
        existing = self.store.find_by_hash(h)
        if existing is None:
            return None
        if existing.path == task.path:
            if self.force:
                return None
            self.store.update_location(existing.song_id, task.path, task.size, task.mtime)
            self.stored(task, existing.song_id)
            return Settled(FileOutcome(task.path, UNCHANGED, "same content, new time stamp", existing.song_id))
        if self._still_holds(existing):
            return self._duplicate(task, existing.path)
        if self.force:
            return None
        return self._move(task, existing)

    def stored(self, task: Task, song_id: str) -> None:
        """Record that ``task.path`` now holds ``song_id`` in the store."""
        self.states[task.path] = FileState(song_id, task.size, task.mtime)

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

    def _duplicate(self, task: Task, original: str) -> Settled:
        stale = self.states.get(task.path)
        if stale is not None and stale.song_id != task.song_id:
            # this path held other content before and now holds a copy of another file
            self.store.remove(task.path)
            self.states.pop(task.path, None)
        return Settled(FileOutcome(task.path, DUPLICATE, f"duplicate of {original}", task.song_id), original)

    def _move(self, task: Task, existing) -> Settled | None:
        """Point the stored song at its new path. None when it has to be analysed after all."""
        meta = song_metadata(task.path, task.root)
        if any(meta.get(k) != getattr(existing, k) for k in TAG_FIELDS):
            # e.g. moved to another genre folder: rewrite the record with the new metadata
            rec = self.store.get([existing.song_id], melody=True).get(existing.song_id)
            if rec is None:
                return None
            rec.meta = dataclasses.replace(existing, path=task.path, file_size=task.size, file_mtime=task.mtime,
                                           indexed_at=utc_now(), **{k: meta.get(k) for k in TAG_FIELDS})
            if self.store.add([rec]):
                return None
        else:
            self.store.update_location(existing.song_id, task.path, task.size, task.mtime)
        self.states.pop(existing.path, None)
        self.stored(task, existing.song_id)
        return Settled(FileOutcome(task.path, MOVED, f"moved from {existing.path}", existing.song_id), existing.path)

    def prune(self, roots: Sequence[str], files: FileList) -> tuple[list[str], list[str]]:
        """Remove the songs and the failure records of files gone from under ``roots``: ``(songs
        removed, failure records cleared)``, as paths. Roots in which no file was found are skipped."""
        roots_with_files = {root for _, root in files}
        dirs = [os.path.join(absolute(r), "") for r in roots]
        dirs = [d for d in dirs if os.path.isdir(d) and os.path.abspath(d) in roots_with_files]

        def gone(path: str) -> bool:
            return any(path.startswith(d) for d in dirs) and not os.path.lexists(path)

        pruned = [path for path in sorted(self.store.file_states()) if gone(path) and self.store.remove(path)]
        failures = sorted({path for path, _, _ in self.store.failures() if gone(path)})
        if failures:
            self.store.clear_failures(failures)
        if pruned or failures:
            log.info("pruned %d songs and %d failure records whose files are gone", len(pruned), len(failures))
        return pruned, failures
