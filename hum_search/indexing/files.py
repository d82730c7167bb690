"""The file system side of indexing: which audio files lie under the folders, their content hash and
song id, and one-line reasons for what the file system refuses (unreadable files, a full disk).

* Files are found recursively (symbolic links are followed, each folder is visited once so link
  loops end; hidden files and folders, names starting with ".", are skipped, and so is a folder that
  holds a ``.hum-search-ignore`` file). Extensions: ``hum_search.features.audio.AUDIO_EXTENSIONS``.
  Paths are absolute.
* A song's id is the first 16 hex digits of the SHA-256 of the file's bytes, so a moved or renamed
  file keeps its id and a copy has the same one.
* A full disk (ENOSPC, EDQUOT, or SQLite's SQLITE_FULL, which SQLite reports without an errno)
  ends a run with one line naming the cause and the fix (``disk_full_error``); what was written
  before stays, as after a kill.
"""

from __future__ import annotations

import errno
import hashlib
import os
import sqlite3
from typing import Sequence

from ..config import IGNORE_MARKER
from ..errors import HumSearchError, StoreError, one_line
from ..features.audio import AUDIO_EXTENSIONS

SONG_ID_HEX_DIGITS = 16  # of the SHA-256: 64 bits, no collision expected below ~4e9 songs
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_RESUME = "run the same command again: the songs indexed so far are kept"

FileList = list[tuple[str, str]]  # (absolute path, the root it was found under)


def find_audio_files(roots: Sequence[str | os.PathLike], *,
                     follow_links: bool = True) -> tuple[FileList, list[tuple[str, str]]]:
    """``(files, errors)``: ``(absolute path, its root)`` of every audio file under ``roots``, sorted
    and without repeats, and ``(folder, reason)`` for folders that could not be read. Hidden
    files and folders, and folders that contain a ``.hum-search-ignore`` file, are skipped.

    A root may also be a single audio file. A root that does not exist raises HumSearchError.
    ``follow_links=False`` descends into no symbolic link to a folder."""
    files: FileList = []
    errors: list[tuple[str, str]] = []
    seen_files: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()
    check_roots(roots)
    for root in roots:
        r = absolute(root)
        if not os.path.isdir(r):
            if r not in seen_files:
                seen_files.add(r)
                files.append((r, os.path.dirname(r)))
            continue
        files.extend(sorted(_walk(r, seen_files, seen_dirs, errors, follow_links)))
    return files, errors


def _walk(root: str, seen_files: set[str], seen_dirs: set[tuple[int, int]],
          errors: list[tuple[str, str]], follow_links: bool = True) -> FileList:
    found: FileList = []

    def onerror(e: OSError) -> None:
        errors.append((e.filename or root, f"cannot read this folder ({e.strerror or e}). "
                                           "Fix: check its permissions (chmod a+rx)"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=follow_links):
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
                found.append((p, root))
    return found


def check_roots(roots: Sequence[str | os.PathLike]) -> None:
    """HumSearchError unless every root is an existing folder or audio file (cheap; no walking)."""
    if not roots:
        raise HumSearchError("no folder to index was given", "give one or more music folders")
    for root in roots:
        r = absolute(root)
        if not os.path.exists(r):
            raise HumSearchError(f"{root} does not exist", "check the folder path")
        if not os.path.isdir(r) and os.path.splitext(r)[1].lower() not in AUDIO_EXTENSIONS:
            raise HumSearchError(f"{root} is neither a folder nor an audio file",
                                 f"give folders (or files ending in {', '.join(sorted(AUDIO_EXTENSIONS))})")


def roots_without_audio(roots: Sequence[str], files: FileList, unreadable: Sequence[tuple[str, str]]) -> list[str]:
    """The folders among ``roots`` under which no audio file was found (as given), leaving out
    folders that could not be read at all (those are reported as unreadable)."""
    with_files = {root for _, root in files}
    unreadable_dirs = {absolute(folder) for folder, _ in unreadable}
    return [root for root in roots
            if os.path.isdir(absolute(root)) and absolute(root) not in with_files
            and absolute(root) not in unreadable_dirs]


def no_audio_reason(root: str) -> str:
    """The one-line hint for a folder in which no audio file was found."""
    return (f"no audio files found under {root}. Fix: check the folder (audio files end in "
            f"{', '.join(sorted(AUDIO_EXTENSIONS))}; hidden files and folders holding {IGNORE_MARKER} are "
            "skipped), or mount the drive it lives on")


def absolute(path: str | os.PathLike) -> str:
    return os.path.abspath(os.path.expanduser(os.fspath(path)))


def file_sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def song_id_for(content_hash: str) -> str:
    return content_hash[:SONG_ID_HEX_DIGITS]


def io_reason(path: str, e: OSError) -> str:
    """Why ``path`` could not be read, with the fix, in one line."""
    if isinstance(e, PermissionError):
        return (f"cannot read {path}: permission denied. "
                f"Fix: make it readable (chmod a+r '{path}') or run as its owner")
    if isinstance(e, FileNotFoundError):
        if os.path.islink(path):
            return f"{path} is a broken symbolic link. Fix: restore its target or remove the link"
        return f"{path} disappeared while indexing. Fix: index again once the folder is stable"
    return f"cannot read {path} ({e.strerror or e}). Fix: check the disk and the file"


# --- a full disk ----------------------------------------------------------------------------------------
def is_disk_full(e: BaseException | None) -> bool:
    """Whether ``e`` (or an error it was raised from) says the disk is full."""
    seen = 0
    while e is not None and seen < 8:
        if isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS:
            return True
        if isinstance(e, sqlite3.Error) and (getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
                                             or "disk is full" in str(e)):
            return True
        e = e.__cause__ or e.__context__
        seen += 1
    return False


def disk_full_error(what: str, e: BaseException, fix: str = "free some disk space", *,
                    store: bool = True) -> HumSearchError:
    """The one-line error that ends a run on a full disk: what could not be written, and the fix
    (a StoreError when it is the store that cannot be written)."""
    detail = e.strerror if isinstance(e, OSError) and e.strerror else one_line(e)
    cls = StoreError if store else HumSearchError
    return cls(f"the disk is full: cannot write {what} ({detail})", f"{fix}, then {_RESUME}")
