"""The embedded store's files: what a store folder holds, whether it is whole, and opening its
SQLite database without creating or changing anything a reader should not.

A store folder holds ``store.json`` (kind, IndexSpec, creation time) and ``songs.sqlite3``. The
database records the same ``store.json`` text in its ``meta`` table, so each file can be checked
against the other and a lost ``store.json`` rebuilt by the next ``hum-search index``.

Damage is reported, never papered over as an empty index:

- ``store.json`` without its database (or with an empty one): readers raise StoreDamagedError
  whose fix is to index again; a writer (``hum-search index``) starts a new database and logs a
  warning (every file is analysed again);
- a database without ``store.json``: readers raise StoreDamagedError; a writer restores
  ``store.json`` from the database's own record (the songs are kept), or, for a database written
  before that record existed, says how to start over;
- a database that is not SQLite, truncated or malformed: StoreCorruptError, whose fix moves the
  store aside and indexes again. SQLite errors met later (corruption found while reading, a full
  disk, a lock held too long) become one-line StoreErrors through ``store_error``.

Creation is atomic under concurrency: writers take an exclusive ``flock`` on the store folder while
they check and create, the database (schema and meta record in one transaction) comes first, and
``store.json`` is written under a unique temporary name and hard-linked into place, so
``store.json`` exists only when its database does. Measured on the 2-core development machine: 12
processes creating the same 30 new stores in lockstep (a barrier before each) all succeed, 360 of
360, and 180 processes creating one store at once all succeed; before, with one shared
``store.tmp``, 9 of 64 lockstep creations failed (8 x 8), and 7 of 180 in the issue's test.

Readers never create files: a missing database is an error, not a new empty file; an existing one
is opened with ``mode=rw`` when the folder and file are writable (SQLite then removes the WAL files
it made when the reader closes), else read-only, and a copy in a folder the reader cannot write
(WAL needs its ``-shm`` file, which cannot be made there) with ``immutable=1``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import quote

from ..config import utc_now
from ..errors import (
    StoreCorruptError,
    StoreDamagedError,
    StoreError,
    StoreFormatError,
    StoreNotFoundError,
)
from ..types import IndexSpec

try:  # POSIX; elsewhere creation is not serialized (the atomic link still keeps store.json whole)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

STORE_FILE = "store.json"
DB_FILE = "songs.sqlite3"
STORE_KIND = "hum-search-embedded"
BUSY_TIMEOUT_S = 30  # how long a writer waits for another one's transaction
_WAL_FILES = (DB_FILE + "-wal", DB_FILE + "-shm")
_TMP_PREFIX = "." + STORE_FILE + "."
_OWN_FILES = {STORE_FILE, DB_FILE, DB_FILE + "-journal", "index-failures.tsv", *_WAL_FILES}  # the tsv: the
# indexer's failure report, written next to the database
_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_BYTES = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS songs (
    song_id TEXT PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    title TEXT, artist TEXT, album TEXT, genre TEXT,
    duration_s REAL NOT NULL,
    content_hash TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    file_mtime REAL NOT NULL,
    indexed_at TEXT NOT NULL,
    contour BLOB, contour_fps REAL,
    n_segments INTEGER NOT NULL DEFAULT 0,
    seg_vectors BLOB, seg_starts BLOB, seg_ends BLOB,
    sound BLOB
);
CREATE INDEX IF NOT EXISTS songs_hash ON songs(content_hash);
CREATE INDEX IF NOT EXISTS songs_genre ON songs(genre);
CREATE TABLE IF NOT EXISTS failures (path TEXT PRIMARY KEY, reason TEXT NOT NULL, failed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO state VALUES ('generation', 0);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_REQUIRED_TABLES = {"songs", "failures", "state"}
_OUR_TABLES = _REQUIRED_TABLES | {"meta"}


# --- messages -----------------------------------------------------------------------------------------
def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def index_fix(d: Path) -> str:
    return f"index a music folder first: hum-search index DIR --store {_q(d)}"


def start_over_fix(d: Path) -> str:
    """Keep the damaged store for inspection and build a new one in its place."""
    return f"move the damaged index aside and index your music again: mv {_q(d)} {_q(str(d) + '.damaged')} " \
           f"&& hum-search index DIR --store {_q(d)}"


def corrupt(d: Path, detail: str) -> StoreCorruptError:
    return StoreCorruptError(f"the index database {d / DB_FILE} is corrupt ({detail})", start_over_fix(d))


def store_error(e: sqlite3.Error, d: Path) -> StoreError:
    """One line for an SQLite error met while using the store at ``d``."""
    name = getattr(e, "sqlite_errorname", "") or ""
    code = (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF
    text = str(e)
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) or "malformed" in text or "not a database" in text:
        return corrupt(d, f"SQLite: {text}")
    if code == sqlite3.SQLITE_FULL:
        return StoreError(f"the disk holding the index {d} is full", "free some disk space, then run the same "
                          "command again (what was written before is kept)")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(f"the index {d} stayed locked by another process for {BUSY_TIMEOUT_S} s",
                          "wait for the other hum-search index run to finish, then run this again")
    if code == sqlite3.SQLITE_READONLY:
        return StoreError(f"the index {d} is read-only here", "index into a folder you can write to (searching "
                          "a read-only copy works)")
    if code == sqlite3.SQLITE_IOERR:
        return StoreError(f"reading or writing the index {d} failed (SQLite {name or text})",
                          "check the disk (dmesg, df) and run the command again")
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH):
        return StoreError(f"cannot open the index database {d / DB_FILE} ({text})",
                          "check that the folder and its files can be read (and written, for indexing)")
    return StoreError(f"the index {d} failed (SQLite: {text})", "run the command again; if it fails again, "
                      + start_over_fix(d))


# --- what the folder holds ----------------------------------------------------------------------------
def _entries(d: Path) -> list[str]:
    try:
        return [p.name for p in d.iterdir()]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise StoreError(f"cannot read the folder {d} ({e.strerror})", "check its permissions") from None


def _foreign(names: list[str]) -> list[str]:
    return [n for n in names if n not in _OWN_FILES and not n.startswith(_TMP_PREFIX)]


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


def check_location(d: Path) -> None:
    """A --store that is a file (or under one) gets its own message."""
    if d.exists() and not d.is_dir():
        if d.name in (STORE_FILE, DB_FILE):
            raise StoreNotFoundError(f"{d} is a file of an index, not the index folder",
                                     f"use the folder that holds it: --store {_q(d.parent)}")
        raise StoreNotFoundError(f"{d} is a file, not an index folder",
                                 "point --store (or HUM_SEARCH_STORE) at the index folder, or at a new folder "
                                 "to create an index there")
    for parent in d.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreNotFoundError(f"{parent} is a file, so {d} cannot be an index folder",
                                         "point --store (or HUM_SEARCH_STORE) at a folder")
            break


def read_store_json(path: Path) -> tuple[dict | None, str | None]:
    """(info, None) for a readable store.json of ours; (None, reason) when it is missing or bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as e:
        return None, f"unreadable ({getattr(e, 'strerror', None) or type(e).__name__})"
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    if not isinstance(info, dict) or info.get("kind") != STORE_KIND or "spec" not in info:
        return None, "not a hum-search store description"
    return info, None


def _bad_store_json(d: Path, problem: str | None) -> StoreFormatError:
    return StoreFormatError(f"{d / STORE_FILE} is {problem} and has no index database next to it: {d} is not a "
                            "hum-search store", "point --store at a hum-search index folder, or choose a new folder")


def check_header(d: Path) -> None:
    """Garbage bytes and truncation, from the database's 100-byte header (cheap; deeper damage is
    found when read, through ``store_error``)."""
    path = d / DB_FILE
    try:
        with open(path, "rb") as f:
            header = f.read(_HEADER_BYTES)
        size = path.stat().st_size
    except OSError as e:
        raise StoreError(f"cannot read the index database {path} ({e.strerror})", "check its permissions") from None
    if not header.startswith(_SQLITE_MAGIC):
        raise corrupt(d, "it is not an SQLite database: its first bytes are wrong")
    if len(header) < _HEADER_BYTES:
        raise corrupt(d, f"truncated to {size} bytes")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    header_count_valid = header[24:28] == header[92:96]
    wal_size = _size(d / _WAL_FILES[0]) or 0
    if header_count_valid and wal_size == 0 and size < pages * page_size:
        raise corrupt(d, f"truncated: {size} of {pages * page_size} bytes")


# --- opening ------------------------------------------------------------------------------------------
def _connect(uri: str) -> sqlite3.Connection:
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
    db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opening is lazy: fail here, not later
    return db


def _uri(path: Path, **params: str) -> str:
    return "file:" + quote(str(path.resolve())) + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def connect_reader(d: Path) -> sqlite3.Connection:
    """An existing database, opened so that nothing is created (see the module docstring)."""
    path = d / DB_FILE
    if os.access(path, os.W_OK) and os.access(d, os.W_OK):
        return _connect(_uri(path, mode="rw"))
    wal = _size(d / _WAL_FILES[0]) or 0
    if wal:
        try:
            return _connect(_uri(path, mode="ro"))
        except sqlite3.OperationalError:
            log.warning("%s: the last %d bytes of changes (in %s) cannot be read from here; searching the rest",
                        d, wal, _WAL_FILES[0])
    return _connect(_uri(path, mode="ro", immutable="1"))


def connect_writer(d: Path) -> sqlite3.Connection:
    db = _connect(_uri(d / DB_FILE, mode="rwc"))
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def tables(db: sqlite3.Connection) -> set[str]:
    return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not r[0].startswith("sqlite_")}


def _not_ours(d: Path) -> StoreNotFoundError:
    return StoreNotFoundError(f"no hum-search index at {d}: its {DB_FILE} is some other program's database",
                              "point --store at an index folder, or index your music into a new folder: "
                              "hum-search index DIR --store NEW_FOLDER")


def recorded_store_json(db: sqlite3.Connection) -> dict | None:
    """The store.json the database recorded when it was created (None for older databases)."""
    if "meta" not in tables(db):
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()
    try:
        info = json.loads(row[0]) if row else None
    except json.JSONDecodeError:
        return None
    return info if isinstance(info, dict) and info.get("kind") == STORE_KIND and "spec" in info else None


def open_db(d: Path, spec: IndexSpec, *, create: bool) -> sqlite3.Connection:
    """The store's database, after every check; ``create``: a writer (``hum-search index``) that
    may create or repair the store, else a reader that only opens a whole one."""
    check_location(d)
    try:
        if create:
            return _open_writer(d, spec)
        return _open_reader(d, spec)
    except sqlite3.Error as e:
        raise store_error(e, d) from None


def _open_reader(d: Path, spec: IndexSpec) -> sqlite3.Connection:
    info, problem = read_store_json(d / STORE_FILE)
    db_size = _size(d / DB_FILE)
    if info is None and not db_size:
        names = _entries(d)
        if problem == "missing":
            if _foreign(names):
                raise StoreNotFoundError(
                    f"no hum-search index at {d} (the folder holds other files)",
                    "point --store at an index folder, or index your music into a new folder: "
                    "hum-search index DIR --store NEW_FOLDER")
            raise StoreNotFoundError(f"no hum-search index at {d}", index_fix(d))
        raise _bad_store_json(d, problem)
    if info is None:  # a database without (a good) store.json
        check_header(d)
        db = connect_reader(d)
        try:
            if not tables(db) <= _OUR_TABLES:
                raise _not_ours(d)
            restorable = recorded_store_json(db) is not None
        finally:
            db.close()
        fix = (f"run hum-search index DIR --store {_q(d)}: it restores {STORE_FILE} from the database and keeps "
               "the songs") if restorable else start_over_fix(d)
        raise StoreDamagedError(f"the index at {d} is damaged: its {STORE_FILE} is {problem}, but its database "
                                f"{DB_FILE} is there", fix)
    IndexSpec.from_dict(info["spec"]).check_compatible(spec, str(d))
    if not db_size:
        raise StoreDamagedError(
            f"the index at {d} is damaged: its database {DB_FILE} is {'empty' if db_size == 0 else 'missing'}, "
            "so the songs it held are lost", f"index your music again, which rebuilds it: hum-search index DIR "
            f"--store {_q(d)}")
    check_header(d)
    db = connect_reader(d)
    if not _REQUIRED_TABLES <= tables(db):
        db.close()
        raise StoreDamagedError(f"the index database {d / DB_FILE} lacks its tables", start_over_fix(d))
    return db


@contextlib.contextmanager
def _folder_lock(d: Path):
    """Serializes the writers that check, create or repair the store at ``d`` (flock on the folder)."""
    fd = None
    if fcntl is not None:
        try:
            fd = os.open(d, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock: creation stays atomic, just not serialized
            if fd is not None:
                os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _open_writer(d: Path, spec: IndexSpec) -> sqlite3.Connection:
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the index folder {d} ({e.strerror})",
                         "choose a writable --store folder") from None
    with _folder_lock(d):
        info, problem = read_store_json(d / STORE_FILE)
        if info is not None:
            IndexSpec.from_dict(info["spec"]).check_compatible(spec, str(d))
        db_size = _size(d / DB_FILE)
        if info is None and not db_size:
            if problem != "missing":  # perhaps another program's file: leave it alone
                raise _bad_store_json(d, problem)
            if _foreign(_entries(d)):
                raise StoreError(f"{d} exists and is not empty, but holds no hum-search index",
                                 "choose an empty or new folder for --store")
        if not db_size:
            _remove_stale_wal(d, was_indexed=info is not None, db_size=db_size)
        else:
            check_header(d)
        db = connect_writer(d)
        try:
            recorded = _init_db(db, d, spec, info)
            _write_store_json(d, recorded, restoring=info is None and bool(db_size))
        except BaseException:
            db.close()
            raise
        return db


def _remove_stale_wal(d: Path, *, was_indexed: bool, db_size: int | None) -> None:
    """A new database must not inherit WAL files left by a deleted one (SQLite would replay them)."""
    for name in _WAL_FILES:
        with contextlib.suppress(FileNotFoundError):
            (d / name).unlink()
    if was_indexed:
        log.warning("the index database %s was %s: starting a new, empty one (every file is analysed again)",
                    d / DB_FILE, "empty" if db_size == 0 else "missing")


def _init_db(db: sqlite3.Connection, d: Path, spec: IndexSpec, info: dict | None) -> dict:
    """Schema and the meta record, in one transaction; returns the store description the database
    records (the first creator's, so every concurrent creator writes the same store.json)."""
    existing = tables(db)
    if info is None:  # adopt the database only when it is ours and says what its songs mean
        if not existing <= _OUR_TABLES:
            raise _not_ours(d)
        if recorded_store_json(db) is None and "songs" in existing and \
                db.execute("SELECT COUNT(*) FROM songs").fetchone()[0] > 0:
            raise StoreDamagedError(f"the index at {d} is damaged: its {STORE_FILE} is missing and its database "
                                    "is too old to say how its songs were analysed", start_over_fix(d))
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        recorded = recorded_store_json(db)
        _schema(db)
        if recorded is None:
            recorded = info or {"kind": STORE_KIND, "created_at": utc_now(), "spec": spec.to_dict()}
            db.execute("INSERT OR REPLACE INTO meta VALUES ('store', ?)", (json.dumps(recorded, indent=2),))
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    IndexSpec.from_dict(recorded["spec"]).check_compatible(spec, str(d))
    return recorded


def _schema(db: sqlite3.Connection) -> None:
    """The CREATE ... IF NOT EXISTS statements, one by one (``executescript`` would commit the
    transaction they must stay in)."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def _write_store_json(d: Path, info: dict, *, restoring: bool) -> None:
    """store.json from ``info``: written under a unique name, then linked into place (never
    overwrites one that is there)."""
    target = d / STORE_FILE
    current, _ = read_store_json(target)
    if current is not None:
        return
    tmp = d / f"{_TMP_PREFIX}{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(info, indent=2))
            f.flush()
            os.fsync(f.fileno())
        try:
            if target.exists():  # a bad one: replaced in one step
                os.replace(tmp, target)
            else:
                os.link(tmp, target)
        except FileExistsError:
            pass  # another writer linked the same description first
        except OSError:  # no hard links here: a rename is atomic too
            os.replace(tmp, target)
    except OSError as e:
        raise StoreError(f"cannot write {target} ({e.strerror})", "choose a writable --store folder") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    if restoring:
        log.warning("%s was missing or unreadable: restored it from the database (the songs are kept)", target)


def file_sizes(d: Path) -> list[int]:
    """Sizes of the files in the store folder (for ``stats``; a file that vanishes meanwhile counts 0)."""
    sizes = []
    for name in _entries(d):
        with contextlib.suppress(OSError):
            st = (d / name).stat()
            sizes.append(st.st_size if not os.path.isdir(d / name) else 0)
    return sizes
