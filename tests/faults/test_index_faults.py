"""The indexer's fault catalogue (issue 12): one row per fault, each run through the real command
line in a subprocess (``python -m indexer``, or the same CLI with a fault injected), as a user would
meet it.

Every row asserts the exit status, that the row's message is exactly one line (with its fix where
it reports a problem), and that the output holds no traceback, no password or API key (the
environment carries fake ones; one row puts a password in the store URL), and none of the raw
native or interpreter noise users saw before: libmpg123's decoder messages, the resource tracker's
"leaked semaphore" warnings.

``defect=True`` marks the rows that failed before issue 12 was worked on; the others already
passed and are kept so they stay that way. Songs are tiny generated wav files, and most rows analyse
in one worker process (the default path) or in the CLI's own process (``--workers 0``), so the
whole file takes about two minutes on two cores.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from hum_search.features.extract import current_spec
from hum_search.store.embedded import EmbeddedStore

from ..test_audio import write_hum, write_song

REPO = Path(__file__).resolve().parents[2]
FAKE_PASSWORD = "Fake-Pa55word-71c3"
FAKE_API_KEY = "fake-api-key-9d0e4b"
# raw lines from the interpreter or a native library (libmpg123 writes "Note: ...", "Warning: ..." and
# "[src/libmpg123/...] error: ..."; the resource tracker "...: UserWarning: resource_tracker: ... leaked
# semaphore objects ..."); the indexer's own lines start with a path, a count or a known word
NOISE = re.compile(r"^(Traceback|\s+File \"|Note: |Warning: |\[src/)|leaked semaphore|resource_tracker|Trying to resync",
                   re.M)
N_SONGS = 6
SONG_NOTES = 20  # 8 s each: analysed in well under a second, long enough to kill a run mid-way
FIRST_SEED = 300  # of the generated melodies
RUN_TIMEOUT_S = 240

# Runs the CLI with one fault injected (FAULT / FAULT_DENY in the environment); everything else is
# the real code path.
DRIVER = r"""
import builtins, errno, os, sys
fault, deny = os.environ.get("FAULT", ""), os.environ.get("FAULT_DENY", "")
real_open = builtins.open
if fault.startswith("store-full"):
    from hum_search.store.embedded import EmbeddedStore
    real_add, calls = EmbeddedStore.add, []
    def add(self, records):
        calls.append(1)
        if len(calls) > 1:  # the first batch is written, the second finds the disk full
            if fault == "store-full-sqlite":
                import sqlite3
                raise sqlite3.OperationalError("database or disk is full")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_add(self, records)
    EmbeddedStore.add = add
def patched_open(file, mode="r", *args, **kwargs):
    name = os.fspath(file) if isinstance(file, (str, bytes, os.PathLike)) else ""
    if fault == "failures-file-full" and str(name).endswith(".tsv") and "a" in mode:
        raise OSError(errno.ENOSPC, "No space left on device", name)
    if deny and deny in str(name):
        raise PermissionError(errno.EACCES, "Permission denied", name)
    return real_open(file, mode, *args, **kwargs)
builtins.open = patched_open
if deny:
    real_scandir = os.scandir
    def scandir(path="."):
        if deny in os.fspath(path):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)
    os.scandir = scandir
from hum_search.cli import main
sys.exit(main(sys.argv[1:]))
"""


# --- running the command line -----------------------------------------------------------------------
@dataclass
class Res:
    """One command's result and what the row expects of it."""

    rc: int
    out: str  # stdout and stderr, interleaved
    expect_rc: int
    line: str  # regex: exactly one output line matches it
    fix: bool = True  # that line carries "Fix: "


@dataclass
class Ctx:
    tmp: Path
    music: Path
    store: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HUM_SEARCH_") and k not in ("FAULT", "FAULT_DENY")}
        env.update(PYTHONPATH=str(REPO), HUM_SEARCH_CACHE_DIR=str(self.tmp / "cache"),
                   HUM_SEARCH_ES_PASSWORD=FAKE_PASSWORD, HUM_SEARCH_ES_API_KEY=FAKE_API_KEY, **extra)
        return env

    def argv(self, *args: str, store: str | None = None, fault: str | None = None,
             deny: str | None = None) -> tuple[list[str], dict[str, str]]:
        tail = [*args, "--store", store or str(self.store), "--no-progress"]
        if fault or deny:
            return [sys.executable, "-c", DRIVER, "index", *tail], self.env(FAULT=fault or "", FAULT_DENY=deny or "")
        return [sys.executable, "-m", "indexer", *tail], self.env()

    def index(self, *args: str, **kw) -> tuple[int, str]:
        argv, env = self.argv(*args, **kw)
        p = subprocess.run(argv, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=RUN_TIMEOUT_S)
        return p.returncode, p.stdout.decode(errors="replace")

    def start(self, *args: str, **kw) -> subprocess.Popen:
        argv, env = self.argv(*args, **kw)
        return subprocess.Popen(argv, cwd=self.tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def stored(self) -> dict[str, str]:
        """path -> song id of the committed songs, read without taking any lock the indexer needs."""
        db = self.store / "songs.sqlite3"
        if not db.exists():
            return {}
        try:
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
            try:
                return dict(con.execute("SELECT path, song_id FROM songs").fetchall())
            finally:
                con.close()
        except sqlite3.Error:  # the schema is not there yet
            return {}

    def songs(self) -> list[str]:
        return sorted(str(p) for p in self.music.rglob("*.wav"))


def finish(proc: subprocess.Popen) -> str:
    try:
        return proc.communicate(timeout=RUN_TIMEOUT_S)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()


def wait_until(proc: subprocess.Popen, ready: Callable[[], bool], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None and not ready():
        time.sleep(0.01)
    assert proc.poll() is None, "the run ended before the moment this row needs (the songs are too short?)"


def numpy_loaded(pid: int) -> bool:
    """The CLI is importing its libraries: its start-up is under way."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "_multiarray_umath" in f.read()
    except OSError:
        return False


def rerun_is_clean(ctx: Ctx, *, unchanged_at_least: int = 0) -> Res:
    """After a kill or an interruption: the same command finishes the job, nothing lost or doubled."""
    rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound")
    stored = ctx.stored()
    assert sorted(stored) == ctx.songs(), out  # every song, each path once
    assert len(set(stored.values())) == len(stored)  # no song twice
    m = re.search(r"indexed (\d+), unchanged (\d+),", out)
    assert m and int(m.group(1)) + int(m.group(2)) == N_SONGS and int(m.group(2)) >= unchanged_at_least, out
    return Res(rc, out, 0, rf"^indexed \d+, unchanged \d+, moved 0, duplicates 0, failed 0 \(of {N_SONGS} files\)",
               fix=False)


# --- the rows ---------------------------------------------------------------------------------------------
def bad_file(name: str, make: Callable[[Path, Path], None], workers: str = "1") -> Callable[[Ctx], list[Res]]:
    """A library with one bad file: it fails with one line, the rest is indexed."""

    def row(ctx: Ctx) -> list[Res]:
        bad = ctx.music / "Rock" / name
        make(bad, ctx.music / "Rock" / "song0.wav")
        try:
            rc, out = ctx.index(str(ctx.music), "--workers", workers, "--no-sound")
        finally:
            bad.chmod(0o644)
        assert f"indexed {N_SONGS}, unchanged 0, moved 0, duplicates 0, failed 1" in out, out
        return [Res(rc, out, 1, rf"^{re.escape(str(bad))}: .*Fix: ")]

    return row


def write_damaged_mp3(path: Path, good: Path) -> None:
    """An mp3 whose frames are overwritten with noise every 700 bytes: libmpg123 resyncs and
    decodes the rest, printing a message per damaged frame."""
    y, sr = sf.read(str(good), dtype="float32")
    sf.write(str(path), y, sr, format="MP3")
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for i in range(2000, len(data) - 2000, 700):
        data[i:i + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def row_damaged_mp3(ctx: Ctx) -> list[Res]:
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write mp3")
    bad = ctx.music / "Folk" / "damaged.mp3"
    write_damaged_mp3(bad, ctx.music / "Folk" / "song1.wav")
    rc, out = ctx.index(str(ctx.music), "--workers", "1", "--no-sound")
    assert f"indexed {N_SONGS + 1}, unchanged 0" in out, out
    return [Res(rc, out, 0, rf"^{re.escape(str(bad))}: warning: the decoder reported damaged data .*Fix: ")]


def row_empty_folder(ctx: Ctx) -> list[Res]:
    empty = ctx.tmp / "empty"
    (empty / "covers").mkdir(parents=True)
    (empty / "covers" / "front.jpg").write_bytes(b"\xff\xd8\xff")
    rc, out = ctx.index(str(empty), "--workers", "0", "--no-sound")
    return [Res(rc, out, 1, rf"^no audio files found under {re.escape(str(empty))}\. Fix: ")]


def row_unreadable_folder(ctx: Ctx) -> list[Res]:
    locked = ctx.music / "Locked-e3b1"
    write_song(locked / "hidden-away.wav", 77, n_notes=8)
    locked.chmod(0)  # real for a normal user; the injected EACCES makes it so under root too
    try:
        rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound", deny=locked.name)
    finally:
        locked.chmod(0o755)
    m = re.search(r"^(\d+) audio files: (\d+) unchanged, (\d+) to check", out, re.M)
    assert m and int(m.group(1)) == int(m.group(2)) + int(m.group(3)) == N_SONGS, out  # the counts agree
    assert f"(of {N_SONGS} files)" in out and f"indexed {N_SONGS}," in out, out
    return [Res(rc, out, 1, rf"^{re.escape(str(locked))}: cannot read this folder .*Fix: ")]


def row_unreadable_file(ctx: Ctx) -> list[Res]:
    return bad_file("locked-f2c9.wav", _unreadable, workers="0")(ctx) if os.geteuid() else \
        _unreadable_under_root(ctx)


def _unreadable(path: Path, good: Path) -> None:
    shutil.copy(good, path)
    with open(path, "r+b") as f:  # other bytes than song0: not a duplicate
        f.seek(-4, os.SEEK_END)
        f.write(b"\x01\x02\x03\x04")
    path.chmod(0)


def _unreadable_under_root(ctx: Ctx) -> list[Res]:
    bad = ctx.music / "Rock" / "locked-f2c9.wav"
    _unreadable(bad, ctx.music / "Rock" / "song0.wav")
    try:
        rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound", deny="locked-f2c9")
    finally:
        bad.chmod(0o644)
    assert f"indexed {N_SONGS}, unchanged 0, moved 0, duplicates 0, failed 1" in out, out
    return [Res(rc, out, 1, rf"^{re.escape(str(bad))}: cannot read .*permission denied\. Fix: ")]


def disk_full(fault: str, bad_file_too: bool = False) -> Callable[[Ctx], list[Res]]:
    """The disk fills up mid-run: one line, and what was written before stays."""

    def row(ctx: Ctx) -> list[Res]:
        if bad_file_too:  # sorts last: the good songs are written before its failure is reported
            (ctx.music / "Rock" / "zz-not-audio.mp3").write_text("not audio\n" * 50)
        rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound", "--batch-size", "1", fault=fault)
        kept = ctx.stored()
        assert kept and len(kept) == (N_SONGS if bad_file_too else 1), out
        again_rc, again = ctx.index(str(ctx.music), "--workers", "0", "--no-sound")
        assert f"unchanged {len(kept)}," in again and sorted(ctx.stored()) == ctx.songs(), again
        assert again_rc == (1 if bad_file_too else 0), again
        return [Res(rc, out, 2, r"^error: the disk is full: cannot write .*\. Fix: free some disk space.*"
                                r"run the same command again")]

    return row


def row_prune_forgets_failures(ctx: Ctx) -> list[Res]:
    bad = ctx.music / "Folk" / "not-audio.mp3"
    bad.write_text("this is a text file, not an mp3\n" * 20)
    rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound")
    assert rc == 1, out
    with EmbeddedStore(ctx.store, current_spec(), create=False) as s:
        assert [p for p, _, _ in s.failures()] == [str(bad)]
    bad.unlink()
    rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound", "--prune")
    with EmbeddedStore(ctx.store, current_spec(), create=False) as s:
        assert s.failures() == [] and s.stats().failures == 0 and s.count() == N_SONGS
    return [Res(rc, out, 0, r"^indexed 0, unchanged 6, .*failure records of deleted files cleared 1 ", fix=False)]


def row_mistyped_folder(ctx: Ctx) -> list[Res]:
    rc, out = ctx.index(str(ctx.tmp / "Musci"), "--no-sound")
    assert not ctx.store.exists()
    return [Res(rc, out, 2, r"Musci does not exist\. Fix: check the folder path")]


def row_es_url_with_password(ctx: Ctx) -> list[Res]:
    rc, out = ctx.index(str(ctx.music), "--no-sound", store=f"http://elastic:{FAKE_PASSWORD}@127.0.0.1:9")
    return [Res(rc, out, 2, r"^error: cannot reach Elasticsearch at http://(\S*@)?127\.0\.0\.1:9\b.*Fix: ")]


def sigkill_at(moment: str) -> Callable[[Ctx], list[Res]]:
    """SIGKILL at a point of the run; re-running the command gives exactly the full index."""

    def row(ctx: Ctx) -> list[Res]:
        proc = ctx.start(str(ctx.music), "--workers", "1", "--no-sound", "--batch-size", "1")
        ready = {"start-up": lambda: (ctx.store / "store.json").exists(),
                 "first batch": lambda: len(ctx.stored()) >= 1,
                 "last batches": lambda: len(ctx.stored()) >= N_SONGS - 2}[moment]
        wait_until(proc, ready)
        proc.send_signal(signal.SIGKILL)
        finish(proc)
        assert proc.returncode == -signal.SIGKILL
        at_kill = len(ctx.stored())
        assert at_kill < N_SONGS, "the run finished before it was killed"
        return [rerun_is_clean(ctx, unchanged_at_least=at_kill)]

    return row


def interrupted_by(sig: signal.Signals) -> Callable[[Ctx], list[Res]]:
    """Ctrl-C or SIGTERM mid-run: the summary, one line saying so, nothing lost, no leaked semaphores."""

    def row(ctx: Ctx) -> list[Res]:
        proc = ctx.start(str(ctx.music), "--workers", "1", "--no-sound", "--batch-size", "1")
        wait_until(proc, lambda: len(ctx.stored()) >= 1)
        proc.send_signal(sig)
        out = finish(proc)
        word = "interrupted" if sig == signal.SIGINT else "stopped by SIGTERM"
        assert re.search(r"^indexed \d+, unchanged 0, .*\(of 6 files\)", out, re.M), out
        return [Res(proc.returncode, out, 128 + sig, rf"^{word}: the songs analysed so far are in the index; "
                                                     r"run the same command again", fix=False),
                rerun_is_clean(ctx, unchanged_at_least=1)]

    return row


def signal_during_start_up(sig: signal.Signals) -> Callable[[Ctx], list[Res]]:
    def row(ctx: Ctx) -> list[Res]:
        proc = ctx.start(str(ctx.music), "--workers", "1", "--no-sound")
        wait_until(proc, lambda: numpy_loaded(proc.pid))
        proc.send_signal(sig)
        out = finish(proc)
        return [Res(proc.returncode, out, 128 + sig, r"^(interrupted|terminated)\b", fix=False)]

    return row


def row_concurrent_index_and_query(ctx: Ctx) -> list[Res]:
    rc, out = ctx.index(str(ctx.music), "--workers", "0", "--no-sound")
    assert rc == 0, out
    hum = write_hum(ctx.tmp / "hum.wav", FIRST_SEED)  # a hum of song0
    proc = ctx.start(str(ctx.music), "--workers", "1", "--no-sound", "--batch-size", "1", "--force")
    queries = []
    while proc.poll() is None and len(queries) < 3:
        q = subprocess.run([sys.executable, "-m", "hum_search", "query", str(hum), "--store", str(ctx.store),
                            "--json"], cwd=ctx.tmp, env=ctx.env(), capture_output=True, text=True,
                           timeout=RUN_TIMEOUT_S)
        queries.append(q)
    out = finish(proc)
    assert queries, "the index run ended before a query could start"
    for q in queries:
        assert q.returncode == 0 and '"results": [{' in q.stdout, q.stdout + q.stderr
        assert "locked" not in q.stderr.lower(), q.stderr
    return [Res(proc.returncode, out, 0, r"^indexed 6, unchanged 0, moved 0, duplicates 0, failed 0 ", fix=False),
            *[Res(q.returncode, q.stdout + q.stderr, 0, r'^\{"query": ', fix=False) for q in queries]]


@dataclass(frozen=True)
class Row:
    name: str
    defect: bool  # failed before issue 12
    run: Callable[[Ctx], list[Res]]


ROWS = [
    # defects from issue 12
    Row("disk full writing the store (ENOSPC)", True, disk_full("store-full")),
    Row("disk full writing the store (SQLite: database or disk is full)", True, disk_full("store-full-sqlite")),
    Row("disk full writing the failure report", True, disk_full("failures-file-full", bad_file_too=True)),
    Row("unreadable folder: counts agree, one line", True, row_unreadable_folder),
    Row("prune forgets the failures of deleted files", True, row_prune_forgets_failures),
    Row("empty folder: a hint and exit 1", True, row_empty_folder),
    Row("SIGTERM mid-run: summary, exit 143", True, interrupted_by(signal.SIGTERM)),
    Row("Ctrl-C during start-up", True, signal_during_start_up(signal.SIGINT)),
    Row("SIGTERM during start-up", True, signal_during_start_up(signal.SIGTERM)),
    Row("damaged mp3: a warning, no libmpg123 noise", True, row_damaged_mp3),
    # cases that already passed
    Row("corrupt wav", False, bad_file("0-corrupt.wav", lambda p, g: p.write_bytes(b"RIFF....WAVEjunk" * 8))),
    Row("truncated wav", False, bad_file("truncated.wav", lambda p, g: p.write_bytes(g.read_bytes()[:60]))),
    Row("empty file", False, bad_file("empty.flac", lambda p, g: p.write_bytes(b""))),
    Row("not audio", False, bad_file("notes.mp3", lambda p, g: p.write_text("a text file, not an mp3\n" * 20))),
    Row("unreadable file", False, row_unreadable_file),
    Row("SIGKILL during start-up", False, sigkill_at("start-up")),
    Row("SIGKILL after the first batch", False, sigkill_at("first batch")),
    Row("SIGKILL near the end", False, sigkill_at("last batches")),
    Row("Ctrl-C mid-run", False, interrupted_by(signal.SIGINT)),
    Row("concurrent index and query on one store", False, row_concurrent_index_and_query),
    Row("mistyped folder", False, row_mistyped_folder),
    Row("Elasticsearch URL with a password, unreachable", False, row_es_url_with_password),
]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("library")
    for i in range(N_SONGS):
        write_song(root / ("Folk" if i % 2 else "Rock") / f"song{i}.wav", FIRST_SEED + i, n_notes=SONG_NOTES)
    return root


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and POSIX signals")
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_index_fault(row: Row, tmp_path: Path, library: Path):
    music = tmp_path / "music"
    shutil.copytree(library, music)
    results = row.run(Ctx(tmp_path, music, tmp_path / "store"))
    assert results
    for res in results:
        assert res.rc == res.expect_rc, f"exit status {res.rc}, expected {res.expect_rc}:\n{res.out}"
        hits = [ln for ln in res.out.splitlines() if re.search(res.line, ln)]
        assert len(hits) == 1, f"expected exactly one line matching {res.line!r}:\n{res.out}"
        assert not res.fix or "Fix: " in hits[0], hits[0]
        noise = NOISE.search(res.out)
        assert noise is None, f"{noise.group(0)!r} in the output:\n{res.out}"
        for secret in (FAKE_PASSWORD, FAKE_API_KEY):
            assert secret not in res.out, f"a secret reached the output:\n{res.out}"
