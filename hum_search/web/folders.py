"""The music root (``HUM_SEARCH_MUSIC_ROOT``) and the folders under it that the sidebar offers for
indexing.

Nothing here leaves the music root. Paths are compared as real paths (``..`` and symbolic links
resolved) with ``os.path.commonpath``, so ``/music-other`` is not inside ``/music``. The sidebar's
own walk (``audio_files``) follows no symbolic link to a folder and lists a link to a file only
when its real path lies inside the root; the indexer is handed the same rule (``follow_links=False``
plus an ``exclude`` of everything else), so a link to ``/etc`` or to a file elsewhere is neither
walked, counted, listed nor indexed (issue 12: before, a file outside was indexed and ``/etc`` was
walked). A folder linked from inside the root is left out too; index it by its own path.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..config import IGNORE_MARKER, Settings
from ..engine import open_engine
from ..errors import HumSearchError
from ..features.audio import AUDIO_EXTENSIONS
from ..indexing.run import default_failures_file, index_paths
from .format import store_location

if TYPE_CHECKING:  # pragma: no cover
    from ..indexing.run import IndexReport
    from ..store.base import Store

UI_INDEX_MAX_FILES = 200  # larger folders: the CLI (it shows progress, resumes, runs without a browser)
UI_INDEX_MAX_WORKERS = 4  # analysis processes for a sidebar run (it shares the machine with searches)
FOLDER_DEPTH = 2  # sub-folders of the music root offered for indexing
MAX_FOLDERS = 300
MUSIC_ROOT_VAR = "HUM_SEARCH_MUSIC_ROOT"


# --- the music root ---------------------------------------------------------------------------------
def music_root_problem(settings: Settings) -> str | None:
    """Why there is no usable music root, as one line with a fix; None when there is one."""
    if not settings.music_root:
        return (f"{MUSIC_ROOT_VAR} is not set. Fix: set it to your music folder "
                "(make run MUSIC=~/Music) to index and play songs here")
    root = Path(settings.music_root).expanduser()
    if not root.exists():
        return (f"{MUSIC_ROOT_VAR}={settings.music_root} does not exist. Fix: set it to an existing "
                "music folder and restart the app")
    if not root.is_dir():
        return f"{MUSIC_ROOT_VAR}={settings.music_root} is not a folder. Fix: set it to your music folder"
    return None


def allowed_roots(settings: Settings) -> list[Path]:
    """Folders the app may read audio from: the configured music root (its real path), if any."""
    if music_root_problem(settings) is not None:
        return []
    try:
        return [Path(settings.music_root).expanduser().resolve(strict=True)]
    except (OSError, RuntimeError):
        return []


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """Whether real path ``path`` lies in real folder ``root`` (both already resolved)."""
    try:
        return os.path.commonpath([os.fspath(path), os.fspath(root)]) == os.fspath(root)
    except ValueError:  # different drives, or one relative
        return False


def _real_inside(path: str, root: Path) -> bool:
    try:
        return is_inside(os.path.realpath(path, strict=True), root)
    except (OSError, ValueError):
        return False


# --- folders offered in the sidebar ------------------------------------------------------------------
def _visible_dirs(folder: Path) -> list[Path]:
    """Sub-folders shown in the list: not hidden, not ignored, and real folders (no links)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name.casefold())
    except OSError:
        return []
    out = []
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir(follow_symlinks=False) and not os.path.exists(os.path.join(e.path, IGNORE_MARKER)):
                out.append(Path(e.path))
        except OSError:
            continue
    return out


def index_folder_choices(settings: Settings, depth: int = FOLDER_DEPTH, limit: int = MAX_FOLDERS) -> list[str]:
    """Folders the sidebar offers for indexing, as paths relative to the music root ("." = all of
    it): the root and its visible sub-folders down to ``depth``. Nothing when no root is usable."""
    roots = allowed_roots(settings)
    if not roots:
        return []
    root = roots[0]
    out = ["."]
    level = [root]
    for _ in range(depth):
        nxt = []
        for d in level:
            for sub in _visible_dirs(d):
                out.append(sub.relative_to(root).as_posix())
                nxt.append(sub)
                if len(out) >= limit:
                    return out
        level = nxt
    return out


def resolve_index_folder(settings: Settings, choice: str) -> Path:
    """The real folder for a sidebar choice; HumSearchError unless it lies inside the music root."""
    roots = allowed_roots(settings)
    if not roots:
        problem = music_root_problem(settings) or f"{MUSIC_ROOT_VAR} cannot be read"
        cause, _, fix = problem.partition(". Fix: ")
        raise HumSearchError(cause, fix or "set it to your music folder and restart the app")
    root = roots[0]
    try:
        real = (root / choice).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):
        raise HumSearchError(f"{choice} is not a folder in the music folder", "pick a folder from the list") from None
    if not real.is_dir() or not is_inside(real, root):
        raise HumSearchError(f"{choice} is not inside the music folder {root}", "pick a folder from the list")
    return real


# --- the files a sidebar run indexes -------------------------------------------------------------------
def audio_files(folder: str | os.PathLike, root: str | os.PathLike, limit: int | None = None) -> list[str]:
    """Audio files under ``folder`` as the sidebar indexes them: as the indexer finds them (hidden
    files and folders, and folders with a .hum-search-ignore file, skipped), but following no link
    to a folder and keeping a link to a file only when its real path lies inside ``root``. Stops
    after ``limit + 1`` files."""
    root_real = Path(os.path.realpath(root))
    out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(os.path.abspath(folder), followlinks=False):
        if IGNORE_MARKER in filenames:
            dirnames[:] = []
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_EXTENSIONS:
                continue
            path = os.path.join(dirpath, name)
            if _real_inside(path, root_real) and os.path.isfile(path):
                out.append(path)
                if limit is not None and len(out) > limit:
                    return out
    return out


def count_audio_files(folder: str | os.PathLike, root: str | os.PathLike, limit: int = UI_INDEX_MAX_FILES) -> int:
    """How many files ``audio_files`` finds, counting no further than ``limit + 1``."""
    return len(audio_files(folder, root, limit))


def cli_index_command(settings: Settings, folder: str | os.PathLike) -> str:
    """The terminal command that indexes ``folder`` into the app's store."""
    return f"hum-search index {shlex.quote(str(folder))} --store {shlex.quote(store_location(settings))}"


class _NotListed:
    """``exclude`` for the indexer: every file the sidebar's walk did not list (picklable)."""

    def __init__(self, listed: list[str]):
        self.listed = frozenset(listed)

    def __call__(self, path: str) -> bool:
        return path not in self.listed


def index_folder(settings: Settings, folder: Path, *, store: "Store | None", sound_embedder=None,
                 progress: Callable[[Any], None] | None = None) -> "IndexReport":
    """Index ``folder`` (already checked by ``resolve_index_folder``) into the app's store, creating
    the store when it does not exist yet: the files ``audio_files`` lists, nothing else."""
    root = allowed_roots(settings)[0]
    listed = audio_files(folder, root)
    workers = max(1, min(settings.workers, len(listed), UI_INDEX_MAX_WORKERS))
    kwargs = dict(settings=settings, workers=workers, sound_embedder=sound_embedder, progress=progress,
                  failures_file=default_failures_file(settings.store), follow_links=False,
                  exclude=_NotListed(listed))
    if store is not None:
        return index_paths(store, [str(folder)], **kwargs)
    with open_engine(settings, create=True, sound="off") as engine:
        return index_paths(engine.store, [str(folder)], **kwargs)
