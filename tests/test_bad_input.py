"""Bad input: every case gives a one-line error that names the cause and a fix, and loses nothing
else (the other files of an index run are indexed, the other queries of a query run answered).

Cases (from the foundation issue): empty file; zero-length and all-silent audio; a hum with under
~2 s of voiced sound; NaN/inf samples; 8-bit, 24-bit and float WAVs; 8-96 kHz; 6 channels; a
3-hour file; a text file renamed .mp3; an unreadable file; a store from another format version.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from hum_search import cli
from hum_search.config import Settings
from hum_search.errors import (
    AudioFileError,
    AudioTooLongError,
    DecodeError,
    NoMelodyError,
    SilentAudioError,
)
from hum_search.features.audio import decode, load_audio
from hum_search.features.extract import analyze_query, current_spec
from hum_search.indexing import run as indexing
from hum_search.store.embedded import EmbeddedStore

from .test_audio import melody_notes, render_notes, tone, write_hum, write_song

REPO = Path(__file__).resolve().parents[1]
THREE_HOURS_S = 3 * 3600


def assert_one_line_with_fix(message: str, *cause_words: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert "Fix:" in message, message
    for w in cause_words:
        assert w.lower() in message.lower(), f"{w!r} not in {message!r}"


# --- the files ----------------------------------------------------------------------------------------
def write_three_hour_wav(path: Path) -> Path:
    """A real 3-hour, 8 kHz, 8-bit mono WAV (86.4 MB), written a minute at a time."""
    minute = tone(440.0, 60.0, 8_000, amp=0.5)
    with sf.SoundFile(str(path), "w", samplerate=8_000, channels=1, subtype="PCM_U8", format="WAV") as f:
        for _ in range(THREE_HOURS_S // 60):
            f.write(minute)
    return path


def make_bad_files(d: Path) -> dict[str, Path]:
    d.mkdir(parents=True, exist_ok=True)
    song = render_notes(melody_notes(11))
    f: dict[str, Path] = {}
    f["empty"] = d / "empty.wav"
    f["empty"].write_bytes(b"")
    f["zero_length"] = d / "zero-length.wav"
    sf.write(str(f["zero_length"]), np.zeros(0, np.float32), 22_050)
    f["silent"] = d / "silent.wav"
    sf.write(str(f["silent"]), np.zeros(5 * 22_050, np.float32), 22_050)
    f["text_mp3"] = d / "not-really.mp3"
    f["text_mp3"].write_text("ID3? no. This is a shopping list: eggs, milk, bread.\n" * 40)
    nan_few = song.copy()
    nan_few[[100, 5000, 9000]] = np.nan
    nan_few[[200, 7000]] = np.inf
    f["nan_few"] = d / "nan-few.wav"
    sf.write(str(f["nan_few"]), nan_few, 22_050, subtype="FLOAT")
    nan_most = song.copy()
    nan_most[::2] = np.nan
    f["nan_most"] = d / "nan-most.wav"
    sf.write(str(f["nan_most"]), nan_most, 22_050, subtype="FLOAT")
    return f


def make_working_files(d: Path) -> dict[str, Path]:
    """Unusual but valid files: they must index (and decode) like any other."""
    f: dict[str, Path] = {}
    for name, sr, subtype in (("u8-8k", 8_000, "PCM_U8"), ("s24-96k", 96_000, "PCM_24"), ("float-44k", 44_100, "FLOAT"),
                              ("s16-11k", 11_025, "PCM_16"), ("s16-48k", 48_000, "PCM_16")):
        f[name] = write_song(d / f"{name}.wav", 20 + len(f), sr=sr, subtype=subtype)
    mix = render_notes(melody_notes(30), sr=48_000)
    lfe = 0.1 * tone(55.0, 6.4, 48_000)
    six = np.stack([mix, mix, mix, lfe, 0.4 * mix, 0.4 * mix], axis=1)  # L R C LFE Ls Rs
    f["six_channels"] = d / "surround-5.1.wav"
    sf.write(str(f["six_channels"]), six, 48_000)
    return f


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    music = root / "music"
    good = [write_song(music / "Folk" / "good1.wav", 1), write_song(music / "Folk" / "good2.flac", 2)]
    bad = make_bad_files(music / "Bad")
    working = make_working_files(music / "Odd")
    bad["three_hours"] = write_three_hour_wav(music / "Bad" / "three-hours.wav")
    yield {"root": root, "music": music, "good": good, "bad": bad, "working": working}
    shutil.rmtree(root, ignore_errors=True)  # 86 MB: do not keep it in pytest's temp folders


@pytest.fixture(scope="module")
def indexed(case_dir):
    """One index run (two worker processes) over the good, odd and bad files together."""
    store_dir = case_dir["root"] / "store"
    store = EmbeddedStore(store_dir, current_spec())
    settings = Settings(store=str(store_dir), workers=2, max_duration_s=3600)
    report = indexing.index_paths(store, [case_dir["music"]], settings=settings,
                                  failures_file=store_dir / indexing.FAILURES_FILE)
    yield {"store": store, "report": report, "failed": dict(report.failed), "store_dir": store_dir}
    store.close()


# --- through the indexer: the bad files are reported, everything else is indexed ------------------------
EXPECTED_INDEX_FAILURE = {
    "empty": ("empty",),
    "zero_length": ("zero length",),
    "silent": ("silent",),
    "text_mp3": ("not a readable audio file",),
    "nan_most": ("NaN",),
    "three_hours": ("180.0 min long", "HUM_SEARCH_MAX_DURATION_S"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED_INDEX_FAILURE))
def test_indexer_reports_bad_file(case_dir, indexed, case):
    path = str(case_dir["bad"][case])
    reason = indexed["failed"][path]
    assert_one_line_with_fix(reason, *EXPECTED_INDEX_FAILURE[case])
    lines = (indexed["store_dir"] / indexing.FAILURES_FILE).read_text().splitlines()
    assert sum(1 for ln in lines if ln.split("\t")[1] == path) == 1


def test_indexer_loses_nothing_else(case_dir, indexed):
    r, store = indexed["report"], indexed["store"]
    expected_ok = case_dir["good"] + list(case_dir["working"].values()) + [case_dir["bad"]["nan_few"]]
    assert set(indexed["failed"]) == {str(case_dir["bad"][c]) for c in EXPECTED_INDEX_FAILURE}
    assert r.indexed == len(expected_ok) and store.count() == len(expected_ok)
    states = store.file_states()
    assert {str(p) for p in expected_ok} == set(states)
    for p in expected_ok:  # every one of them has a searchable melody
        sid = states[str(p)].song_id
        rec = store.get([sid])[sid]
        assert len(rec.melody.vectors) > 0, p
        assert rec.meta.duration_s == pytest.approx(6.4, abs=0.05)
    assert r.exit_code == 1


def test_indexer_repairs_a_few_nan_samples_with_a_warning(case_dir, indexed):
    path = str(case_dir["bad"]["nan_few"])
    warnings = [w for p, w in indexed["report"].warnings if p == path]
    assert len(warnings) == 1 and "replaced 5 NaN/infinite samples" in warnings[0]


# --- decoding: each case on its own ------------------------------------------------------------------
def test_empty_file(case_dir):
    with pytest.raises(AudioFileError) as e:
        decode(case_dir["bad"]["empty"])
    assert_one_line_with_fix(str(e.value), "empty", "0 bytes")
    with pytest.raises(AudioFileError) as e:  # recorded or uploaded bytes
        load_audio(b"", 16_000)
    assert_one_line_with_fix(str(e.value), "empty")


def test_zero_length_audio(case_dir):
    with pytest.raises(SilentAudioError) as e:
        decode(case_dir["bad"]["zero_length"])
    assert_one_line_with_fix(str(e.value), "no audio samples", "zero length")


def test_all_silent_audio(case_dir):
    with pytest.raises(SilentAudioError) as e:
        decode(case_dir["bad"]["silent"])
    assert_one_line_with_fix(str(e.value), "silent", "microphone")


def test_hum_with_too_little_voiced_sound(tmp_path):
    y = np.concatenate([np.zeros(16_000, np.float32),
                        render_notes([64, 66, 67], 0.4, 16_000, accompaniment=False, vibrato=0.1),  # 1.2 s
                        np.zeros(2 * 16_000, np.float32)])
    p = tmp_path / "short-hum.wav"
    sf.write(str(p), y, 16_000)
    with pytest.raises(NoMelodyError) as e:
        analyze_query(p)
    assert_one_line_with_fix(str(e.value), "humming was heard", "hum", "at least 5 seconds")


def _short_hum_in_fan(snr_db: float | None) -> np.ndarray:
    """The 1.2 s hum above under an extractor fan (tests/noisy_fixtures.py) at ``snr_db``, or
    (None) in a quiet room: a microphone's faint hiss 70 dB under the hum (with nothing but digital
    silence around 1.2 s of humming, the hum itself is all the stationary floor there is to see)."""
    from .noisy_fixtures import _scale_to_snr, steady_harmonic_noise

    hum = np.concatenate([np.zeros(16_000, np.float32),
                          render_notes([64, 66, 67], 0.4, 16_000, accompaniment=False, vibrato=0.1),
                          np.zeros(2 * 16_000, np.float32)])
    if snr_db is None:
        return hum + np.float32(1e-4) * np.random.default_rng(1).standard_normal(len(hum)).astype(np.float32)
    return _scale_to_snr(hum, steady_harmonic_noise(len(hum), seed=1), snr_db)


@pytest.mark.parametrize("snr_db", [3.0, 6.0])
def test_too_little_humming_under_a_loud_fan_names_the_noise(tmp_path, snr_db):
    """The same too-short hum under a fan: the refusal says that the noise is what hid the humming
    (how far the humming stood above it) and to move away from it; a quiet room's refusal does not."""
    p = tmp_path / "short-hum-fan.wav"
    sf.write(str(p), _short_hum_in_fan(snr_db), 16_000)
    with pytest.raises(NoMelodyError) as e:
        analyze_query(p)
    assert_one_line_with_fix(str(e.value), "humming was heard", "background noise", "dB", "away from the noise")
    p_quiet = tmp_path / "short-hum-quiet.wav"
    sf.write(str(p_quiet), _short_hum_in_fan(None), 16_000)
    with pytest.raises(NoMelodyError) as e_quiet:
        analyze_query(p_quiet)
    assert "background noise" not in str(e_quiet.value) and "away from the noise" not in str(e_quiet.value)


def test_a_held_note_is_called_a_steady_tone_only_when_the_room_is_quiet():
    """No window to search with: one held pitch in a quiet room is "a steady tone, not a tune"; the
    same contour when the humming stood 5 dB above the background is blamed on the noise (a fan can
    hide all but one of a tune's notes)."""
    from hum_search.features.extract import _no_windows_error

    held = np.full(300, 60.0, np.float32)
    for snr_db in (None, 25.0):
        quiet = str(_no_windows_error(held, "hum.wav", snr_db))
        assert "steady tone" in quiet and "noise" not in quiet
    noisy = str(_no_windows_error(held, "hum.wav", 5.0))
    assert_one_line_with_fix(noisy, "no melody heard in hum.wav", "about 5 dB above the background noise",
                             "away from the noise")
    assert "steady tone" not in noisy
    assert "nothing stands out from the background noise" in str(_no_windows_error(held, "hum.wav", -2.0))


def test_a_few_nan_samples_are_repaired_with_a_warning(case_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="hum_search"):
        y = load_audio(case_dir["bad"]["nan_few"], 16_000)
    assert np.isfinite(y).all() and len(y) > 0
    assert any("replaced 5 NaN/infinite samples" in r.getMessage() for r in caplog.records)


def test_mostly_nan_is_an_error(case_dir):
    with pytest.raises(DecodeError) as e:
        decode(case_dir["bad"]["nan_most"])
    assert_one_line_with_fix(str(e.value), "corrupt", "NaN")


@pytest.mark.parametrize("name", ["u8-8k", "s24-96k", "float-44k", "s16-11k", "s16-48k", "six_channels"])
def test_unusual_formats_work(case_dir, name):
    y = load_audio(case_dir["working"][name], 16_000)
    assert len(y) == pytest.approx(6.4 * 16_000, abs=2) and np.isfinite(y).all()


def test_three_hour_file_is_refused_before_decoding(case_dir):
    path = case_dir["bad"]["three_hours"]
    assert path.stat().st_size > 86_000_000
    tracemalloc.start()
    try:
        with pytest.raises(AudioTooLongError) as e:
            decode(path, max_seconds=3600)
        _, peak_refused = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        first_minute = decode(path, max_seconds=60, truncate=True)  # what a query would read
        _, peak_query = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_one_line_with_fix(str(e.value), "180.0 min long", "60 min limit", "split the file")
    assert peak_refused < 1_000_000, f"{peak_refused} bytes allocated to refuse it"  # nothing decoded
    assert first_minute.duration_s == pytest.approx(60.0)
    assert peak_query < 16_000_000, f"{peak_query} bytes allocated to read its first minute"


def test_text_file_renamed_mp3(case_dir):
    with pytest.raises(DecodeError) as e:
        decode(case_dir["bad"]["text_mp3"])
    assert_one_line_with_fix(str(e.value), "not a readable audio file", "media player")


def test_wav_cut_in_half_is_reported_as_truncated(tmp_path):
    good = write_song(tmp_path / "good.wav", 5)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DecodeError) as e:
        decode(cut)
    assert_one_line_with_fix(str(e.value), "truncated")


# --- queries: a bad recording is an error line, the others are answered ---------------------------------
def test_query_answers_the_good_recordings_and_reports_each_bad_one(case_dir, indexed, tmp_path, capsys):
    hum = write_hum(tmp_path / "hum.wav", 1)
    short = tmp_path / "short.wav"
    sf.write(str(short), render_notes([64, 66], 0.4, 16_000, accompaniment=False), 16_000)
    bad = case_dir["bad"]
    queries = [str(hum), str(bad["empty"]), str(bad["silent"]), str(short), str(bad["text_mp3"]),
               str(bad["nan_most"]), str(hum)]
    rc = cli.main(["query", *queries, "--json", "--store", str(indexed["store_dir"])])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 1 and len(lines) == len(queries)
    objs = [json.loads(ln) for ln in lines]
    assert [o["query"] for o in objs] == queries
    for o in (objs[0], objs[-1]):
        assert "error" not in o and o["results"], o
    expected = {1: "empty", 2: "silent", 3: "at least 5 seconds", 4: "not a readable audio file", 5: "NaN"}
    for i, words in expected.items():
        assert objs[i]["results"] == []
        assert_one_line_with_fix(objs[i]["error"], words)


# --- an unreadable file ------------------------------------------------------------------------------
def _without_read_override():
    """preexec_fn: as root, drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set
    before exec, so the new process (still uid 0) is refused files its mode does not allow, as any
    user is. Exit 97 when the kernel does not let us."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            os._exit(97)


def run_unprivileged(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:
        if not sys.platform.startswith("linux"):
            pytest.skip("running as root and cannot drop the read override here")
        kw["preexec_fn"] = _without_read_override
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)
    if p.returncode == 97 and not p.stdout:
        pytest.skip("running as root in a sandbox that does not allow dropping CAP_DAC_OVERRIDE")
    return p


def test_unreadable_file(tmp_path):
    music = tmp_path / "music"
    good = write_song(music / "Folk" / "good.wav", 3)
    locked = write_song(music / "Folk" / "locked.wav", 4)
    locked.chmod(0)
    hum = write_hum(tmp_path / "hum.wav", 3)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HUM_SEARCH_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HUM_SEARCH_PANNS_CHECKPOINT", None)
    try:
        probe = run_unprivileged([sys.executable, "-c", f"open({str(locked)!r}, 'rb')"], env=env)
        if probe.returncode == 0:
            pytest.skip("this user can read a file with mode 000 (no way to take the read permission away)")
        store = tmp_path / "store"
        p = run_unprivileged([sys.executable, "-m", "indexer", str(music), "--store", str(store), "--workers", "1",
                              "--no-sound", "--no-progress"], env=env, cwd=tmp_path)
        assert p.returncode == 1, p.stdout + p.stderr
        mine = [ln for ln in p.stdout.splitlines() if ln.startswith(f"{locked}: ")]
        assert len(mine) == 1
        assert_one_line_with_fix(mine[0], "permission denied", "chmod a+r")
        assert "indexed 1," in p.stdout and "failed 1" in p.stdout
        q = run_unprivileged([sys.executable, "-m", "hum_search", "query", str(locked), str(hum), "--json",
                              "--store", str(store)], env=env, cwd=tmp_path)
        assert q.returncode == 1, q.stdout + q.stderr
        objs = [json.loads(ln) for ln in q.stdout.splitlines()]
        assert [o["query"] for o in objs] == [str(locked), str(hum)]
        assert_one_line_with_fix(objs[0]["error"], "permission denied")
        assert objs[1]["results"][0]["path"] == str(good)
    finally:
        locked.chmod(0o644)


# --- a store from another format version --------------------------------------------------------------
def _snapshot(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir()) if p.is_file()}


def test_store_from_another_format_version(tmp_path, capsys):
    music = tmp_path / "music"
    write_song(music / "Folk" / "a.wav", 1)
    hum = write_hum(tmp_path / "hum.wav", 1)
    store_dir = tmp_path / "store"
    assert cli.main(["index", str(music), "--store", str(store_dir), "--workers", "0", "--no-sound"]) == 0
    meta = store_dir / "store.json"
    info = json.loads(meta.read_text())
    info["spec"]["format_version"] += 1  # as written by a newer hum-search
    meta.write_text(json.dumps(info))
    before = _snapshot(store_dir)
    capsys.readouterr()
    for argv in (["query", str(hum)], ["index", str(music), "--workers", "0", "--no-sound"], ["stats"],
                 ["remove", str(music / "Folk" / "a.wav")]):
        rc = cli.main([*argv, "--store", str(store_dir)])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2, argv
        assert len(err) == 1 and err[0].startswith("error: "), err
        assert_one_line_with_fix(err[0], "format_version", "newer release", "--force")
    assert _snapshot(store_dir) == before  # nothing written, nothing lost
