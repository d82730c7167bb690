"""Rebuilding an embedded store whose features another release computed (``hum-search index DIR
--force`` on such a store).

Stored features cannot be converted: the melody lines come from the audio, so a change of the
melody model (``extract.MELODY_MODEL``) or of its parameters means analysing every file again. The
rebuild never touches the old store until the new one is complete:

- the new store is built in a sibling folder, ``<store>.rebuild``, from the folders the user names
  plus every file the old store recorded elsewhere that still exists (``recorded_paths``), so that
  re-indexing one folder does not drop the rest of the library;
- an interrupted rebuild (Ctrl-C, a crash, SIGKILL) leaves the old store as it was and the sibling
  half built: the same command continues it (files already in it are unchanged, so skipped);
- when it is complete, ``replace_store`` renames the old folder aside, the new one into its place,
  then deletes the old one. Between the two renames (microseconds) the store's path is missing:
  a reader opening it then gets "no index", never a mixed store.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

from ..errors import StoreError
from .embedded_files import (
    STORE_FILE,
    STORE_KIND,
    connect_reader,
    read_store_json,
    store_error,
)

log = logging.getLogger(__name__)

REBUILD_SUFFIX = ".rebuild"  # the sibling folder a rebuild writes into


def rebuild_location(store_dir: str | os.PathLike) -> Path:
    """Where the new store of a rebuild of ``store_dir`` is built."""
    d = Path(store_dir).expanduser().absolute()
    return d.with_name(d.name + REBUILD_SUFFIX)


def recorded_paths(store_dir: str | os.PathLike) -> list[str]:
    """The file path of every song the store at ``store_dir`` holds, whatever its features (read
    only: nothing is checked against the code's features, nothing is written)."""
    d = Path(store_dir)
    try:
        db = connect_reader(d)
        try:
            return [r[0] for r in db.execute("SELECT path FROM songs ORDER BY path")]
        finally:
            db.close()
    except sqlite3.Error as e:
        raise store_error(e, d) from None


def discard_unfinished(work_dir: str | os.PathLike) -> None:
    """Delete a half-built rebuild folder (one whose features are not this release's either). Only
    a folder holding a hum-search store is deleted."""
    d = Path(work_dir)
    info, _ = read_store_json(d / STORE_FILE)
    if info is None or info.get("kind") != STORE_KIND:
        raise StoreError(f"{d} is in the way of the rebuild and is not a hum-search index",
                         "move or delete it, then run the same command again")
    log.info("deleting the unfinished rebuild %s (built with other features)", d)
    shutil.rmtree(d)


def replace_store(store_dir: str | os.PathLike, work_dir: str | os.PathLike) -> None:
    """Put the complete new store ``work_dir`` in the place of ``store_dir`` and delete the old one."""
    old, new = Path(store_dir).expanduser().absolute(), Path(work_dir).expanduser().absolute()
    aside = old.with_name(f".{old.name}.replaced-{uuid.uuid4().hex[:8]}")
    try:
        old.rename(aside)
        new.rename(old)
    except OSError as e:
        if aside.exists() and not old.exists():
            aside.rename(old)  # put the old store back
        raise StoreError(f"cannot put the rebuilt index {new} in the place of {old} ({e.strerror or e})",
                         f"the new index is complete in {new}: use it with --store, or move it there yourself") \
            from None
    shutil.rmtree(aside, ignore_errors=True)
    log.info("replaced %s with its rebuild", old)
