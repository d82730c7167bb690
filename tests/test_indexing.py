"""The bulk indexer (``hum_search.indexing.run`` and ``hum-search index``): finding files, metadata,
idempotence, moves and duplicates, bad files, worker crashes, kill-and-resume, the sound channel.

Most tests analyse in-process (``workers=0``) to stay fast; the ones about processes (parallel run,
worker crash, SIGKILL) use the real process pool.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hum_search import cli
from hum_search.commands.index import sound_off_line
from hum_search.config import Settings
from hum_search.engine import load_sound
from hum_search.errors import HumSearchError, StoreError
from hum_search.features.audio import load_audio
from hum_search.features.extract import current_spec
from hum_search.indexing import run as indexing
from hum_search.indexing import workers
from hum_search.indexing.files import file_sha256
from hum_search.indexing.report import FailureFile
from hum_search.indexing.run import IndexReport, find_audio_files, index_paths
from hum_search.store.embedded import EmbeddedStore

from .test_audio import write_song

REPO = Path(__file__).resolve().parents[1]


# --- helpers ----------------------------------------------------------------------------------------
@pytest.fixture
def settings():
    return Settings(store="unused", workers=1, max_duration_s=3600, device="cpu")


@pytest.fixture
def store(tmp_path):
    s = EmbeddedStore(tmp_path / "store", current_spec())
    yield s
    s.close()


def make_library(root: Path, n: int = 4, *, first_seed: int = 0) -> list[Path]:
    """n short songs, alternately in Folk/ and Rock/ (the folder names are their genres)."""
    return [write_song(root / ("Folk" if i % 2 else "Rock") / f"song{i}.wav", first_seed + i)
            for i in range(n)]


class Counting:
    """An ``analyze`` replacement (in-process runs only) that counts the files analysed."""

    def __init__(self):
        self.paths: list[str] = []

    def __call__(self, path, *args):
        self.paths.append(path)
        return indexing.analyze_file(path, *args)


def run_index(store, roots, settings, **kw) -> IndexReport:
    kw.setdefault("workers", 0)
    return index_paths(store, [str(r) for r in roots], settings=settings, **kw)


# --- finding files ------------------------------------------------------------------------------------
def test_find_audio_files_walks_recursively_skips_hidden_and_survives_link_loops(tmp_path):
    root = tmp_path / "music"
    write_song(root / "a.wav", 1, n_notes=4)
    (root / "Jazz" / "deep").mkdir(parents=True)
    write_song(root / "Jazz" / "deep" / "b.WAV", 2, n_notes=4)
    (root / "Jazz" / "notes.txt").write_text("not audio")
    (root / "Jazz" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / ".hidden").mkdir()
    write_song(root / ".hidden" / "c.wav", 3, n_notes=4)
    write_song(root / "Jazz" / "._d.wav", 4, n_notes=4)  # macOS resource fork: hidden
    os.symlink(root, root / "Jazz" / "loop")  # a link back up: followed once, no endless walk
    files, errors = find_audio_files([root, root / "a.wav"])
    assert errors == []
    assert [p for p, _ in files] == sorted([str(root / "a.wav"), str(root / "Jazz" / "deep" / "b.WAV")])
    assert all(os.path.isabs(p) and r == str(root) for p, r in files)


def test_find_audio_files_rejects_missing_root(tmp_path):
    with pytest.raises(HumSearchError, match="does not exist"):
        find_audio_files([tmp_path / "nope"])
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(HumSearchError, match="neither a folder nor an audio file"):
        find_audio_files([tmp_path / "x.txt"])


def test_index_cli_mistyped_folder_is_one_line_and_creates_no_store(tmp_path, capsys):
    rc = cli.main(["index", str(tmp_path / "Musci"), "--store", str(tmp_path / "st"), "--no-sound"])
    err = capsys.readouterr().err
    assert rc == 2 and "Musci does not exist. Fix: check the folder path" in err
    assert not (tmp_path / "st").exists()


# --- metadata ---------------------------------------------------------------------------------------
def test_metadata_from_tags_else_folder_else_null(tmp_path, store, settings):
    root = tmp_path / "music"
    tagged = write_song(root / "Whatever" / "tagged.flac", 7)
    from mutagen.flac import FLAC

    tags = FLAC(str(tagged))
    tags.update({"title": "Ode", "artist": "Ludwig", "album": "Ninth", "genre": "Classical"})
    tags.save()
    write_song(root / "Folk" / "folk-song-rock.wav", 8)  # "rock" in the name means nothing
    write_song(root / "loose.wav", 9)
    r = run_index(store, [root], settings)
    assert r.indexed == 3 and r.failed == []
    by_path = {rec.meta.path: rec.meta for rec in store.get(list(store.file_states()[p].song_id
                                                                 for p in store.file_states()), melody=False).values()}
    t = by_path[str(tagged)]
    assert (t.title, t.artist, t.album, t.genre) == ("Ode", "Ludwig", "Ninth", "Classical")
    assert by_path[str(root / "Folk" / "folk-song-rock.wav")].genre == "Folk"
    loose = by_path[str(root / "loose.wav")]
    assert loose.genre is None and loose.title is None
    assert all(os.path.isabs(p) for p in by_path)
    m = by_path[str(root / "loose.wav")]
    assert m.content_hash == file_sha256(str(root / "loose.wav")) and m.song_id == m.content_hash[:16]


# --- idempotence, moves, duplicates ------------------------------------------------------------------
def test_second_run_is_all_unchanged_and_a_touched_file_is_not_reanalysed(tmp_path, store, settings):
    root = tmp_path / "music"
    songs = make_library(root, 4)
    first = run_index(store, [root], settings)
    assert (first.indexed, first.unchanged, first.failed, first.exit_code) == (4, 0, [], 0)
    assert first.songs_per_hour > 0
    count = Counting()
    second = run_index(store, [root], settings, analyze=count)
    assert (second.indexed, second.unchanged, second.to_check, count.paths) == (0, 4, 0, [])
    assert store.count() == 4
    os.utime(songs[0], (time.time() + 100, time.time() + 100))  # new time stamp, same bytes
    third = run_index(store, [root], settings, analyze=count)
    assert (third.indexed, third.unchanged, count.paths) == (0, 4, [])
    assert store.file_states()[str(songs[0])].file_mtime == pytest.approx(os.stat(songs[0]).st_mtime)
    forced = run_index(store, [root], settings, analyze=count, force=True)
    assert forced.indexed == 4 and len(count.paths) == 4 and store.count() == 4


def test_moved_file_is_updated_not_duplicated(tmp_path, store, settings):
    root = tmp_path / "music"
    songs = make_library(root, 3)
    run_index(store, [root], settings)
    sid = store.file_states()[str(songs[0])].song_id
    assert store.get([sid], melody=False)[sid].meta.genre == "Rock"
    (root / "Folk").mkdir(exist_ok=True)
    moved_to = root / "Folk" / "renamed.wav"
    shutil.move(songs[0], moved_to)  # another folder: its folder genre changes too
    shutil.move(songs[1], root / "Folk" / "song1-renamed.wav")  # same folder, new name
    count = Counting()
    r = run_index(store, [root], settings, analyze=count)
    assert count.paths == [] and r.indexed == 0
    assert sorted(new for _, new in r.moved) == sorted([str(moved_to), str(root / "Folk" / "song1-renamed.wav")])
    assert store.count() == 3
    states = store.file_states()
    assert str(songs[0]) not in states and states[str(moved_to)].song_id == sid
    rec = store.get([sid])[sid]
    assert rec.meta.genre == "Folk" and rec.meta.path == str(moved_to)
    assert rec.melody is not None and len(rec.melody.vectors) > 0  # features kept through the move


def test_copy_is_reported_as_duplicate(tmp_path, store, settings):
    root = tmp_path / "music"
    songs = make_library(root, 2)
    run_index(store, [root], settings)
    copy = root / "Rock" / "copy-of-song0.wav"
    shutil.copy2(songs[0], copy)
    r = run_index(store, [root], settings)
    assert r.duplicates == [(str(copy), str(songs[0]))]
    assert r.exit_code == 0 and store.count() == 2 and str(copy) not in store.file_states()
    # two new identical files in one run: one is indexed, the other is its duplicate
    other = tmp_path / "other"
    write_song(other / "x.wav", 42, n_notes=6)
    shutil.copy2(other / "x.wav", other / "y.wav")
    r2 = run_index(store, [other], settings)
    assert r2.indexed == 1 and r2.duplicates == [(str(other / "y.wav"), str(other / "x.wav"))]


def test_changed_content_replaces_the_song_at_that_path(tmp_path, store, settings):
    root = tmp_path / "music"
    songs = make_library(root, 2)
    run_index(store, [root], settings)
    old_id = store.file_states()[str(songs[0])].song_id
    write_song(songs[0], 99, n_notes=12)
    r = run_index(store, [root], settings)
    assert r.indexed == 1 and r.unchanged == 1 and store.count() == 2
    assert store.file_states()[str(songs[0])].song_id != old_id and store.get([old_id]) == {}


def test_prune_removes_songs_whose_files_are_gone(tmp_path, store, settings):
    root = tmp_path / "music"
    songs = make_library(root, 3)
    run_index(store, [root], settings)
    songs[2].unlink()
    r = run_index(store, [root], settings)
    assert r.pruned == [] and store.count() == 3  # not deleted without --prune
    r = run_index(store, [root], settings, prune=True)
    assert r.pruned == [str(songs[2])] and store.count() == 2


def test_prune_also_forgets_the_failures_of_deleted_files(tmp_path, store, settings):
    root = tmp_path / "music"
    make_library(root, 2)
    bad, kept_bad = root / "Rock" / "bad.wav", root / "Rock" / "still-bad.wav"
    bad.write_bytes(b"")
    kept_bad.write_text("not audio either")
    run_index(store, [root], settings)
    assert [p for p, _, _ in store.failures()] == sorted([str(bad), str(kept_bad)])
    bad.unlink()
    r = run_index(store, [root], settings, prune=True)
    assert r.pruned == [] and r.pruned_failures == [str(bad)]
    assert [p for p, _, _ in store.failures()] == [str(kept_bad)] and store.stats().failures == 1


def test_unreadable_folder_is_one_report_line_not_a_file(tmp_path, store, settings, monkeypatch):
    root = tmp_path / "music"
    make_library(root, 2)
    write_song(root / "Locked" / "x.wav", 9, n_notes=4)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("Locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    events = []
    r = run_index(store, [root], settings, progress=events.append, failures_file=tmp_path / "f.tsv")
    assert (r.files, r.to_check, r.indexed, r.failed) == (2, 2, 2, [])
    assert [f for f, _ in r.unreadable] == [str(root / "Locked")] and r.exit_code == 1
    assert events[0].total == 2 and events[-1].done == 2
    assert store.failures() == []  # a folder is not a failed file
    assert str(root / "Locked") in (tmp_path / "f.tsv").read_text()  # but the report file lists it


def test_folder_without_audio_is_reported(tmp_path, store, settings):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    make_library(tmp_path / "music", 1)
    r = run_index(store, [tmp_path / "empty", tmp_path / "music"], settings)
    assert r.without_audio == [str(tmp_path / "empty")] and r.indexed == 1 and r.exit_code == 1


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   sqlite3.OperationalError("database or disk is full")])
def test_full_disk_ends_the_run_with_one_line_and_keeps_what_was_written(tmp_path, store, settings, monkeypatch,
                                                                        error):
    root = tmp_path / "music"
    make_library(root, 3)
    real_add, calls = store.add, []

    def add(records):
        calls.append(records)
        if len(calls) > 1:
            raise error
        return real_add(records)

    monkeypatch.setattr(store, "add", add)
    with pytest.raises(StoreError) as e:
        run_index(store, [root], settings, batch_size=1)
    assert str(e.value).startswith("the disk is full: cannot write to the index at ")
    assert "Fix: free some disk space" in str(e.value) and "\n" not in str(e.value)
    assert store.count() == 1


def test_full_disk_writing_the_failure_report_ends_the_run(tmp_path, store, settings, monkeypatch):
    root = tmp_path / "music"
    make_library(root, 2)
    (root / "Rock" / "zz-bad.wav").write_bytes(b"")
    failures_file = tmp_path / "f.tsv"

    def full(self, line):
        raise OSError(errno.ENOSPC, "No space left on device", str(failures_file))

    monkeypatch.setattr(FailureFile, "_write", full)
    with pytest.raises(HumSearchError, match=r"^the disk is full: cannot write the failure report .*--failures-file"):
        run_index(store, [root], settings, batch_size=1, failures_file=failures_file)
    assert store.count() == 2 and [p for p, _, _ in store.failures()] == [str(root / "Rock" / "zz-bad.wav")]


def test_native_stderr_of_a_worker_becomes_one_warning():
    """What libmpg123 prints on file descriptor 2 in a worker is captured per file."""
    monkey = tempfile.TemporaryFile()
    old = workers._NativeStderr.file
    workers._NativeStderr.file = monkey
    try:
        with workers._NativeStderr() as native:
            os.write(2, b"Note: Illegal Audio-MPEG-Header 0x1234 at offset 99.\nNote: Trying to resync...\n")
        with workers._NativeStderr() as quiet:
            pass
    finally:
        workers._NativeStderr.file = old
        monkey.close()
    w = native.warning()
    assert w is not None and "\n" not in w and "Illegal Audio-MPEG-Header 0x1234" in w and "1 more" in w
    assert "Fix:" in w and quiet.warning() is None


# --- bad files and failures ---------------------------------------------------------------------------
def test_corrupt_file_is_reported_and_skipped_while_the_rest_index(tmp_path, capsys, monkeypatch):
    """The real CLI with two worker processes: a stdout line and a failure-file line per bad file."""
    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
    root = tmp_path / "music"
    make_library(root, 4)
    (root / "Rock" / "broken.mp3").write_text("this is a text file, not an mp3\n" * 20)
    good = root / "Folk" / "song1.wav"
    truncated = root / "Folk" / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:60])  # a header promising samples that are not there
    store_dir = tmp_path / "store"
    rc = cli.main(["index", str(root), "--store", str(store_dir), "--workers", "2", "--no-sound"])
    out = capsys.readouterr().out
    assert rc == 1
    lines = out.splitlines()
    for bad in (root / "Rock" / "broken.mp3", truncated):
        mine = [ln for ln in lines if ln.startswith(f"{bad}: ")]
        assert len(mine) == 1 and "Fix:" in mine[0], out
    assert "indexed 4, unchanged 0, moved 0, duplicates 0, failed 2" in out
    assert "songs/hour" in out
    failures = (store_dir / indexing.FAILURES_FILE).read_text().splitlines()
    assert failures[0] == "failed_at\tpath\treason"
    listed = sorted(ln.split("\t")[1] for ln in failures[1:])
    assert listed == sorted([str(root / "Rock" / "broken.mp3"), str(truncated)])
    with EmbeddedStore(store_dir, current_spec(), create=False) as s:
        assert s.count() == 4 and len(s.failures()) == 2
    # the next run: the good songs are unchanged, the bad ones fail again (and are listed again)
    rc = cli.main(["index", str(root), "--store", str(store_dir), "--workers", "0", "--no-sound"])
    assert rc == 1 and "indexed 0, unchanged 4, moved 0, duplicates 0, failed 2" in capsys.readouterr().out


def test_progress_bar_can_be_forced_and_keeps_stdout_clean(tmp_path, capsys):
    root = tmp_path / "music"
    make_library(root, 2)
    (root / "Rock" / "bad.wav").write_bytes(b"")
    rc = cli.main(["index", str(root), "--store", str(tmp_path / "st"), "--workers", "0", "--no-sound", "--progress"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "indexing: 100%" in err and "3/3" in err  # tqdm, with its rate and ETA, on stderr
    assert f"{root / 'Rock' / 'bad.wav'}: is empty (0 bytes). Fix:" in out
    assert "%|" not in out


def test_stop_on_error_keeps_what_was_indexed(tmp_path, store, settings):
    root = tmp_path / "music"
    make_library(root, 3)
    (root / "Folk" / "0-bad.wav").write_bytes(b"RIFF....WAVEjunk")
    r = run_index(store, [root], settings, stop_on_error=True)
    assert [p for p, _ in r.failed] == [str(root / "Folk" / "0-bad.wav")]
    assert r.stopped and r.not_processed > 0 and r.exit_code == 1
    r2 = run_index(store, [root], settings)
    assert store.count() == 3 and r2.indexed + r2.unchanged == 3


def crashing_analyze(path, *args):
    """Kills its worker process, as a decoder segfault would, for files named crash*."""
    if os.path.basename(path).startswith("crash"):
        os.kill(os.getpid(), signal.SIGSEGV)
    return indexing.analyze_file(path, *args)


def test_worker_crash_fails_that_file_only(tmp_path, store, settings):
    root = tmp_path / "music"
    make_library(root, 3)
    write_song(root / "Folk" / "crash.wav", 50, n_notes=4)
    r = run_index(store, [root], settings, workers=1, analyze=crashing_analyze)
    assert r.failed == [(str(root / "Folk" / "crash.wav"), indexing.CRASH_REASON)]
    assert r.indexed == 3 and store.count() == 3 and r.exit_code == 1


def test_progress_events_and_stop_event(tmp_path, store, settings):
    root = tmp_path / "music"
    make_library(root, 4)
    events = []
    stop = threading.Event()

    def progress(ev):
        events.append(ev)
        if ev.outcome is not None:
            stop.set()  # stop after the first file: the ones in flight are still written

    r = run_index(store, [root], settings, progress=progress, stop_event=stop, batch_size=1)
    assert events[0].outcome is None and events[0].total == 4
    assert r.stopped and r.indexed >= 1 and r.not_processed == 4 - r.indexed
    assert [e.done for e in events[1:]] == list(range(1, len(events)))
    events.clear()
    r2 = run_index(store, [root], settings, progress=events.append)
    assert r2.indexed == 4 - r.indexed and store.count() == 4
    assert events[-1].done == events[-1].total == r2.indexed


# --- kill and resume ---------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL")
def test_sigkill_then_rerun_finishes_with_nothing_lost_or_duplicated(tmp_path, settings):
    root = tmp_path / "music"
    n = 12
    for i in range(n):  # 16 s each: long enough that the run cannot finish between two polls
        write_song(root / ("Folk" if i % 2 else "Rock") / f"song{i}.wav", 100 + i, n_notes=40)
    store_dir = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("HUM_SEARCH_PANNS_CHECKPOINT", None)
    proc = subprocess.Popen([sys.executable, "-m", "indexer", str(root), "--store", str(store_dir), "--workers", "1",
                             "--no-sound", "--batch-size", "2", "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = 0
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid) or workers
            seen = _stored_songs(store_dir)
            if seen >= 2:
                break
            time.sleep(0.02)
        workers = _children(proc.pid) or workers
        proc.send_signal(signal.SIGKILL)
        out = proc.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, out
    assert workers, "no worker process was seen"
    with EmbeddedStore(store_dir, current_spec(), create=False) as s:
        at_kill = s.count()
        assert 2 <= at_kill < n, f"the run was not killed mid-way ({at_kill} of {n} songs stored)"
        deadline = time.monotonic() + 10  # the orphaned worker processes exit with their parent
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{w}") and _alive(w) for w in workers):
            time.sleep(0.1)
        assert not [w for w in workers if os.path.exists(f"/proc/{w}") and _alive(w)]
        r = run_index(s, [root], settings, failures_file=store_dir / indexing.FAILURES_FILE)
        assert r.failed == [] and r.unchanged == at_kill and r.indexed == n - at_kill
        assert s.count() == n
        paths = sorted(s.file_states())
        assert paths == sorted(str(p) for p in root.rglob("*.wav"))
        ids = [st.song_id for st in s.file_states().values()]
        assert len(set(ids)) == n
        assert s.failures() == []
    failures_file = store_dir / indexing.FAILURES_FILE
    assert not failures_file.exists() or failures_file.read_text().splitlines()[1:] == []


def _stored_songs(store_dir: Path) -> int:
    """Songs committed so far, read without taking any lock the indexer needs."""
    db = store_dir / "songs.sqlite3"
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return int(con.execute("SELECT COUNT(*) FROM songs").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # the schema is not there yet
        return 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- the sound channel --------------------------------------------------------------------------------
class _FakeCnn14:
    """Stands in for Cnn14 (test_sound.py covers the real one): a fixed random projection of
    per-frame energies, deterministic, 2048-d, as fast as numpy."""

    def __init__(self):
        import torch

        self.proj = torch.randn(64, 2048, generator=torch.Generator().manual_seed(0))

    def __call__(self, x):
        import torch

        frames = x.reshape(x.shape[0], 64, -1).abs().mean(-1)
        return {"embedding": torch.relu(frames @ self.proj) + 1e-3}


def test_sound_embeddings_are_batched_and_equal_embedding_the_whole_file(tmp_path, store, settings):
    pytest.importorskip("torch")
    from hum_search.features.sound import SoundEmbedder

    embedder = SoundEmbedder(_FakeCnn14(), "cpu", Path("fake.pth"))
    root = tmp_path / "music"
    paths = [write_song(root / "Folk" / "short.wav", 1, n_notes=10),  # 4 s: one looped crop
             write_song(root / "Folk" / "long.wav", 2, n_notes=60),  # 24 s: three crops
             write_song(root / "Rock" / "mid.wav", 3, n_notes=40)]  # 16 s: two crops
    r = run_index(store, [root], settings, sound_embedder=embedder)
    assert r.indexed == 3 and r.sound and r.sound_seconds > 0
    states = store.file_states()
    for p in paths:
        sid = states[str(p)].song_id
        stored = store.get([sid], melody=False)[sid].sound
        direct = embedder.embed(load_audio(p, 32_000))
        np.testing.assert_allclose(stored, direct, atol=2e-5)
    assert store.stats().with_sound == 3


def test_sound_unavailable_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
    s = Settings(cache_dir=tmp_path / "empty-cache", panns_checkpoint=None)
    channel = load_sound(s, "auto")
    assert channel.embedder is None
    line = sound_off_line(channel.off)
    assert line.startswith("sound channel unavailable: ") and "melody search works" in line and "\n" not in line
    assert "download-models" in line


def test_index_cli_prints_the_sound_line_and_python_m_indexer_is_the_same(tmp_path):
    root = tmp_path / "music"
    make_library(root, 1)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HUM_SEARCH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HUM_SEARCH_PANNS_CHECKPOINT", None)
    p = subprocess.run([sys.executable, "-m", "indexer", str(root), "--store", str(tmp_path / "st"), "--workers", "0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    sound_lines = [ln for ln in p.stderr.splitlines() if "sound channel unavailable" in ln]
    assert len(sound_lines) == 1 and "Traceback" not in p.stderr
    assert "indexed 1, unchanged 0" in p.stdout
    h = subprocess.run([sys.executable, "-m", "indexer", "--help"], capture_output=True, text=True, env=env, timeout=60)
    assert h.returncode == 0 and "--prune" in h.stdout and "stay in the index" in h.stdout and "exit status" in h.stdout


def test_a_signal_while_the_pool_starts_a_worker_takes_effect_once_it_has_started():
    """AnalysisPool.submit defers Ctrl-C and SIGTERM until the pool knows every process it started
    (a worker interrupted halfway through its start was out of the pool's reach and printed an
    EOFError traceback); afterwards they act as before, and other handlers are left as they were."""
    import signal

    from hum_search.indexing.workers import _signals_deferred

    done = []
    with pytest.raises(KeyboardInterrupt):
        with _signals_deferred():
            signal.raise_signal(signal.SIGINT)
            signal.raise_signal(signal.SIGINT)  # twice: one KeyboardInterrupt
            done.append("block finished")
    assert done == ["block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # ignored stays ignored
    try:
        with _signals_deferred():
            signal.raise_signal(signal.SIGTERM)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)
