"""The command line: ``query`` (JSON contract field by field, many files in one process, table),
``record`` (no device, no PortAudio, a fake microphone), ``stats``, ``remove`` and ``eval``'s breakdowns.

The commands run in-process through ``hum_search.cli.main`` against a small synthetic library that
is indexed once for the module.
"""

from __future__ import annotations

import importlib.abc
import json
import os
import re
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hum_search import cli
from hum_search.features import melody
from hum_search.features.extract import UNSURE_TIP, QueryAnalysis, current_spec
from hum_search.search.searcher import Result, SearchResponse
from hum_search.store.embedded import EmbeddedStore
from hum_search.types import SongMeta

from .test_audio import hum_for, write_hum, write_song

RESULT_KEYS = {"rank", "song_id", "title", "artist", "genre", "path", "score", "match_start_s", "match_end_s"}
TIMING_KEYS = {"decode", "features", "search", "rerank", "total"}
GENRES = ["Rock", "Folk", "Rock", "Folk"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    music = root / "music"
    songs = [write_song(music / g / f"tune{i}.wav", i) for i, g in enumerate(GENRES)]
    store = root / "store"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
        assert cli.main(["index", str(music), "--store", str(store), "--workers", "0", "--no-sound"]) == 0
    hums = [write_hum(root / "hums" / f"hum{i}.wav", i) for i in range(len(songs))]
    return types.SimpleNamespace(root=root, music=music, songs=songs, store=store, hums=hums)


@pytest.fixture(autouse=True)
def no_sound_model(monkeypatch, tmp_path):
    monkeypatch.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
    monkeypatch.setenv("HUM_SEARCH_CACHE_DIR", str(tmp_path / "no-cache"))


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# --- query --json -----------------------------------------------------------------------------------
def test_query_json_contract_field_by_field(lib, capsys, monkeypatch):
    monkeypatch.chdir(lib.root)
    given = ["hums/hum0.wav", str(lib.hums[2])]  # a relative and an absolute path, as given
    rc, out, _ = run_cli(capsys, "query", *given, "--json", "--top", "3", "--store", lib.store)
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 2  # exactly one line per query, nothing else on stdout
    for line, q, expected_song in zip(lines, given, [lib.songs[0], lib.songs[2]]):
        obj = json.loads(line)
        assert {"query", "results", "timing_ms", "confident", "hint"} <= set(obj)
        assert obj["query"] == q
        assert isinstance(obj["confident"], bool)
        assert (obj["hint"] is None) == obj["confident"]  # what to do differently, only when unsure
        assert set(obj["timing_ms"]) == TIMING_KEYS
        assert all(isinstance(v, (int, float)) and v >= 0 for v in obj["timing_ms"].values())
        res = obj["results"]
        assert 1 <= len(res) <= 3
        assert [r["rank"] for r in res] == list(range(1, len(res) + 1))
        for r in res:
            assert set(r) == RESULT_KEYS
            assert re.fullmatch(r"[0-9a-f]{16}", r["song_id"])
            assert os.path.isabs(r["path"]) and Path(r["path"]) in lib.songs
            assert r["title"] is None and r["artist"] is None  # untagged files: null, not guessed
            assert r["genre"] == Path(r["path"]).parent.name
            assert isinstance(r["score"], float) and 0.0 <= r["score"] <= 1.0
            assert 0.0 <= r["match_start_s"] <= r["match_end_s"] <= 6.4 + 1e-6
        assert [r["score"] for r in res] == sorted((r["score"] for r in res), reverse=True)
        assert res[0]["path"] == str(expected_song)  # the hummed tune comes first


def test_query_many_files_one_process_models_load_once(lib, capsys, monkeypatch):
    import hum_search.engine as store_mod  # the front door opens the store
    import hum_search.search.searcher as search_mod

    counts = {"searcher": 0, "store": 0}
    real_init, real_open = search_mod.Searcher.__init__, store_mod.open_store

    def counting_init(self, *a, **kw):
        counts["searcher"] += 1
        real_init(self, *a, **kw)

    def counting_open(*a, **kw):
        counts["store"] += 1
        return real_open(*a, **kw)

    monkeypatch.setattr(search_mod.Searcher, "__init__", counting_init)
    monkeypatch.setattr(store_mod, "open_store", counting_open)
    rc, out, _ = run_cli(capsys, "query", *lib.hums, "--json", "--store", lib.store)
    assert rc == 0 and len(out.splitlines()) == len(lib.hums)
    assert counts == {"searcher": 1, "store": 1}


def test_query_failure_does_not_stop_the_others(lib, capsys, tmp_path):
    missing = tmp_path / "nope.wav"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    rc, out, _ = run_cli(capsys, "query", missing, lib.hums[1], empty, "--json", "--store", lib.store)
    objs = [json.loads(ln) for ln in out.splitlines()]
    assert rc == 1 and [o["query"] for o in objs] == [str(missing), str(lib.hums[1]), str(empty)]
    assert objs[0] == {"query": str(missing), "error": objs[0]["error"], "results": []}
    assert "does not exist" in objs[0]["error"] and "Fix:" in objs[0]["error"]
    assert objs[1]["results"] and "error" not in objs[1]
    assert "empty" in objs[2]["error"] and objs[2]["results"] == []


def test_query_genre_filter(lib, capsys):
    rc, out, _ = run_cli(capsys, "query", lib.hums[0], "--json", "--genre", "Folk", "--store", lib.store)
    res = json.loads(out)["results"]
    assert rc == 0 and res and {r["genre"] for r in res} == {"Folk"}
    rc, out, _ = run_cli(capsys, "query", lib.hums[0], "--json", "-g", "Jazz", "-g", "Folk", "--store", lib.store)
    assert {r["genre"] for r in json.loads(out)["results"]} == {"Folk"}


# --- query: the table ----------------------------------------------------------------------------------
def test_query_table(lib, capsys):
    rc, out, err = run_cli(capsys, "query", lib.hums[3], "--top", "2", "--store", lib.store)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{lib.hums[3]} (hum, ")
    assert re.match(r"\s+#\s+score\s+song\s+genre\s+match\s+path", lines[1])
    first = lines[2].split()
    assert first[0] == "1" and float(first[1]) <= 1.0
    assert "tune3.wav" in lines[2] and "Folk" in lines[2] and str(lib.songs[3]) in lines[2]
    assert re.search(r"\d+:\d\d–\d+:\d\d", lines[2])
    assert len([ln for ln in lines if re.match(r"\s+\d+\s+\d\.\d{3}\s", ln)]) == 2


def test_table_says_when_there_is_no_confident_match():
    from hum_search.commands.query import format_table

    meta = SongMeta(song_id="0123456789abcdef", path="/music/Folk/x.flac", title="Ode", artist="Ludwig", album=None,
                    genre="Folk", duration_s=180.0, content_hash="0" * 64, file_size=1, file_mtime=0.0,
                    indexed_at="2026-01-01T00:00:00Z")
    resp = SearchResponse(query="q.wav", mode="hum", results=[Result(1, meta, 0.31, 1.2, 65.0, 74.5)],
                          confident=False, timing_ms={"total": 12.0})
    text = format_table(resp, "q.wav")
    assert "Ode — Ludwig" in text and "1:05–1:14" in text and "/music/Folk/x.flac" in text
    assert "no confident match" in text


def _analysis(voiced_s: float, snr_db: float | None) -> QueryAnalysis:
    empty = np.zeros(0, np.float32)
    return QueryAnalysis(duration_s=voiced_s + 1.0, contour=empty, contour_offset_s=0.0,
                         windows=melody.query_windows(empty), voiced_s=voiced_s, snr_db=snr_db)


@pytest.mark.parametrize("voiced_s, snr_db, says, not_says", [
    (6.0, 25.0, "hum longer (10-15 s; 6 s of humming was heard)", "background noise"),
    (7.9, None, "hum longer", "background noise"),
    (12.0, 4.0, "less background noise", "hum longer"),
    (6.0, 4.0, "less background noise: move closer to the microphone or away from the noise; hum longer", UNSURE_TIP),
    (12.0, 25.0, UNSURE_TIP, "hum longer"),  # nothing in the recording to blame: still what helps most
])
def test_an_unsure_answer_says_what_to_do(voiced_s, snr_db, says, not_says):
    """An answer that is not confident carries one hint (the table's line and the JSON's ``hint``):
    a longer hum under UNSURE_SHORT_HUM_S of humming, less noise under LOW_SNR_DB; a confident answer none."""
    from hum_search.commands.query import format_table

    meta = SongMeta(song_id="0123456789abcdef", path="/music/Folk/x.flac", title="Ode", artist="Ludwig", album=None,
                    genre="Folk", duration_s=180.0, content_hash="0" * 64, file_size=1, file_mtime=0.0,
                    indexed_at="2026-01-01T00:00:00Z")
    resp = SearchResponse(query="q.wav", mode="hum", results=[Result(1, meta, 0.31, 1.2, 65.0, 74.5)],
                          confident=False, timing_ms={"total": 12.0}, analysis=_analysis(voiced_s, snr_db))
    hint_lines = [ln for ln in format_table(resp, "q.wav").splitlines() if ln.strip().startswith("hint:")]
    assert len(hint_lines) == 1 and says in hint_lines[0] and not_says not in hint_lines[0]
    assert resp.to_dict()["hint"] == resp.hint and says in resp.hint
    resp.confident = True
    assert resp.hint is None and resp.to_dict()["hint"] is None
    assert "hint:" not in format_table(resp, "q.wav")
    resp.confident, resp.mode = False, "sound"  # "sounds like": no humming to change
    assert resp.hint is None
    resp.results, resp.confident = [], False
    assert "no matching songs in genre Jazz" in format_table(resp, "q.wav", ["Jazz"])


# --- query: setup errors ---------------------------------------------------------------------------------
def test_query_without_an_index(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "query", tmp_path / "x.wav", "--store", tmp_path / "no-index")
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "no hum-search index" in err and "hum-search index DIR" in err


def test_sound_mode_unavailable_is_one_line(lib, capsys):
    rc, out, err = run_cli(capsys, "query", lib.hums[0], "--mode", "sound", "--store", lib.store)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "sound search unavailable" in err and "--mode hum" in err
    assert "Traceback" not in err


# --- record ------------------------------------------------------------------------------------------------
class _RefuseSounddevice(importlib.abc.MetaPathFinder):
    """Makes ``import sounddevice`` fail as it does where libportaudio2 is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return None


def test_record_without_portaudio(lib, capsys, monkeypatch):
    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [_RefuseSounddevice(), *sys.meta_path])
    rc, out, err = run_cli(capsys, "record", "--seconds", "2", "--store", lib.store)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "PortAudio library is missing" in err and "apt-get install libportaudio2" in err


class FakeSounddevice(types.ModuleType):
    """A stand-in for the sounddevice module: no input device, or one that 'hears' ``signal``."""

    class PortAudioError(Exception):
        pass

    def __init__(self, signal: np.ndarray | None):
        super().__init__("sounddevice")
        self.signal = signal
        self.recorded = None

    def query_devices(self, device=None, kind=None):
        if self.signal is None:
            raise self.PortAudioError("Error querying device -1")
        return {"name": "Fake USB microphone", "max_input_channels": 1, "default_samplerate": 44100.0}

    def rec(self, frames, samplerate, channels, dtype):
        assert samplerate == 44_100 and channels == 1 and dtype == "float32"
        y = np.zeros((frames, 1), np.float32)
        n = min(frames, len(self.signal))
        y[:n, 0] = self.signal[:n]
        self.recorded = y
        return y

    def wait(self):
        pass

    def stop(self):
        pass


def test_record_without_an_input_device(lib, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", FakeSounddevice(None))
    rc, out, err = run_cli(capsys, "record", "--store", lib.store)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "no microphone found" in err and "Fix:" in err


def test_record_on_this_machine_without_a_microphone(lib, capsys):
    """The real sounddevice: on machines with no input device (like CI) a clear one-line error."""
    from hum_search.commands.record import import_sounddevice, input_device_name
    from hum_search.errors import DeviceError

    try:
        input_device_name(import_sounddevice())
    except DeviceError:
        pass
    else:
        pytest.skip("this machine has a microphone")
    rc, out, err = run_cli(capsys, "record", "--seconds", "1", "--store", lib.store)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "Fix:" in err
    assert "microphone" in err or "PortAudio" in err


def test_record_queries_through_the_same_path(lib, capsys, monkeypatch, tmp_path):
    hum = hum_for(1, sr=44_100)
    fake = FakeSounddevice(hum)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    saved = tmp_path / "take.wav"
    rc, out, err = run_cli(capsys, "record", "--seconds", "8", "--json", "--top", "2", "--save", saved,
                           "--store", lib.store)
    assert rc == 0, err
    obj = json.loads(out)
    assert obj["query"] == "microphone (8 s)"
    assert obj["results"][0]["path"] == str(lib.songs[1]) and set(obj["results"][0]) == RESULT_KEYS
    assert "Fake USB microphone" in err
    import soundfile as sf

    y, sr = sf.read(str(saved), dtype="float32")
    assert sr == 44_100 and len(y) == 8 * 44_100
    np.testing.assert_allclose(y[: len(hum)], hum, atol=1e-6)


# --- stats and remove ----------------------------------------------------------------------------------------
def test_stats(lib, capsys):
    rc, out, _ = run_cli(capsys, "stats", "--store", lib.store)
    assert rc == 0
    assert re.search(r"^songs:\s+4\b", out, re.M)
    assert re.search(r"^\s+Folk\s+2$", out, re.M) and re.search(r"^\s+Rock\s+2$", out, re.M)
    assert "salience-melody-v1" in out or current_spec().melody_model in out
    assert "format version" in out and "sound model:" in out and "disk:" in out
    rc, out, _ = run_cli(capsys, "stats", "--json", "--store", lib.store)
    d = json.loads(out)
    spec = current_spec()
    assert rc == 0 and d["songs"] == 4 and d["genres"] == {"Folk": 2, "Rock": 2} and d["songs_without_genre"] == 0
    assert d["segments"] > 0 and d["with_sound"] == 0 and d["failures"] == 0
    assert d["kind"] == "embedded" and d["location"] == str(lib.store) and d["disk_bytes"] > 0
    assert d["format_version"] == spec.format_version
    assert d["models"] == {"melody": spec.melody_model, "melody_dim": spec.melody_dim, "sound": spec.sound_model,
                           "sound_dim": spec.sound_dim}
    assert d["sound_search_available"] is False and "sound search unavailable" in d["sound_status"]


def test_remove_by_path_and_id(lib, capsys, tmp_path, monkeypatch):
    store_dir = tmp_path / "store"
    shutil.copytree(lib.store, store_dir)
    with EmbeddedStore(store_dir, current_spec(), create=False) as s:
        states = s.file_states()
    by_id = states[str(lib.songs[1])].song_id
    monkeypatch.chdir(lib.music)
    rel = os.path.relpath(lib.songs[0], lib.music)  # relative paths are made absolute
    rc, out, err = run_cli(capsys, "remove", rel, by_id, "--store", store_dir)
    assert rc == 0, err
    assert out.splitlines() == [f"removed {states[str(lib.songs[0])].song_id} ({lib.songs[0]})",
                                f"removed {by_id} ({lib.songs[1]})"]
    rc, out, err = run_cli(capsys, "remove", "0000000000000000", lib.songs[2], "--store", store_dir)
    assert rc == 1 and out.splitlines() == [f"removed {states[str(lib.songs[2])].song_id} ({lib.songs[2]})"]
    assert err.strip() == "0000000000000000: no song in the index has this path or id"
    with EmbeddedStore(store_dir, current_spec(), create=False) as s:
        assert list(s.file_states()) == [str(lib.songs[3])]


# --- eval ---------------------------------------------------------------------------------------------------
def test_eval_breaks_results_down_by_what_the_recordings_were(lib, capsys, tmp_path):
    """``hum-search eval`` reports top-1/5/10 and MRR per noise kind, voice, syllable, format and
    sample rate when the queries file says them (the factors of the benchmark's breakdown), in the
    table and in --json; a field no query has gets no rows. One query is labelled with another song
    (hum 2 as song 3), so its groups show the miss."""
    store = tmp_path / "store"
    shutil.copytree(lib.store, store)
    labels = [(0, 0, "fan", "male", 27.0), (1, 1, "fan", "female", 12.0), (2, 3, "music", "female", 4.0),
              (3, 3, None, "child", 12.0)]
    lines = []
    for hum, song, noise, voice, snr_db in labels:
        q = {"query": os.path.relpath(lib.hums[hum], tmp_path), "song": os.path.relpath(lib.songs[song], lib.music),
             "voice": voice, "format": "wav", "snr_db": snr_db}
        lines.append(json.dumps(q | ({"noise": noise} if noise else {})))
    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    args = ("eval", "--music", lib.music, "--queries", tmp_path / "q.jsonl", "--store", store)
    rc, out, err = run_cli(capsys, *args)
    assert rc == 0, err
    rows = {" ".join(line.split()[:2]): line.split()[2:] for line in out.splitlines() if line.startswith("  ")}
    assert rows["noise fan"] == ["2", "100.0%", "100.0%", "100.0%", "1.000"]
    assert rows["noise music"][:2] == ["1", "0.0%"]
    assert rows["voice female"][:2] == ["2", "50.0%"] and rows["voice child"][:2] == ["1", "100.0%"]
    assert rows["format wav"][0] == "4" and not any(k.startswith(("sr ", "syllable ")) for k in rows)
    snr_rows = [line.split("dB")[0].strip() for line in out.splitlines() if line.startswith("  SNR")]
    assert snr_rows == ["SNR <10", "SNR 10-15", "SNR >=25"]  # low SNR first, not in the order of the names
    rc, out, err = run_cli(capsys, *args, "--json")
    assert rc == 0, err
    by_factor = json.loads(out)["summary"]["by_factor"]
    assert set(by_factor) == {"noise", "voice", "format"}
    assert {k: v["n"] for k, v in by_factor["noise"].items()} == {"fan": 2, "music": 1}
    assert by_factor["voice"]["female"]["top1"] == 0.5 and by_factor["voice"]["male"]["mrr"] == 1.0


# --- settings and the error boundary (issue 12) -------------------------------------------------------------
@pytest.mark.parametrize("var,value,words", [
    ("HUM_SEARCH_WORKERS", "many", ("'many'", "whole number of 1 or more")),
    ("HUM_SEARCH_WORKERS", "0", ("'0'", "out of range")),
    ("HUM_SEARCH_MAX_DURATION_S", "abc", ("'abc'", "from 1 to 6000")),
    ("HUM_SEARCH_MAX_DURATION_S", "-5", ("'-5'", "out of range")),
    ("HUM_SEARCH_MAX_DURATION_S", "7200", ("'7200'", "from 1 to 6000")),
    ("HUM_SEARCH_LOG_LEVEL", "loud", ("'loud'", "DEBUG, INFO, WARNING, ERROR, CRITICAL")),
    ("HUM_SEARCH_DEVICE", "banana", ("'banana'", "auto, cpu, cuda or cuda:N")),
    ("HUM_SEARCH_KIBANA_URL", "http://localhost:99999", ("port", "1 to 65535")),
    ("HUM_SEARCH_KIBANA_URL", "http://u:p#w@localhost:5601", ("%23", "'http://***@localhost:5601'")),
    ("HUM_SEARCH_KIBANA_URL", "ftp://localhost", ("http:// or https://",)),
    ("HUM_SEARCH_KIBANA_URL", "http:// host:5601", ("space",)),
    ("HUM_SEARCH_ES_INDEX", "Hum", ("lower-case",)),
])
def test_bad_setting_is_one_line_naming_variable_value_and_allowed(monkeypatch, var, value, words):
    from hum_search.config import Settings
    from hum_search.errors import ConfigError

    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as e:
        Settings.from_env()
    msg = str(e.value)
    assert msg.startswith(var + "=") and "Fix: set " + var in msg and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_good_settings_are_read_and_normalized(monkeypatch):
    from hum_search.config import Settings

    for var, value in {"HUM_SEARCH_WORKERS": " 3 ", "HUM_SEARCH_MAX_DURATION_S": "6000", "HUM_SEARCH_LOG_LEVEL": "warn",
                       "HUM_SEARCH_DEVICE": "CUDA:1", "HUM_SEARCH_KIBANA_URL": "https://u:p@kibana.local:5601/base"}.items():
        monkeypatch.setenv(var, value)
    s = Settings.from_env()
    assert (s.workers, s.max_duration_s, s.log_level, s.device) == (3, 6000, "WARNING", "cuda:1")
    assert s.kibana_url == "https://u:p@kibana.local:5601/base"


def test_redaction_of_urls_and_known_secrets():
    from hum_search.config import known_secrets
    from hum_search.errors import redact

    env = {"HUM_SEARCH_ES_PASSWORD": "s3cret-pw", "HUM_SEARCH_ES_URL": "http://elastic:from%23url@es:9200"}
    secrets = known_secrets(["--store", "http://u:pa#ss@127.0.0.1:9"], env)
    assert {"s3cret-pw", "from%23url", "from#url", "pa#ss"} <= set(secrets)
    text = "http://u:pa#ss@127.0.0.1:9 failed with s3cret-pw (from#url) at https://x:y@h/p"
    assert redact(text, secrets) == "http://***@127.0.0.1:9 failed with *** (***) at https://***@h/p"


def test_usage_error_is_one_line_and_main_restores_signal_handlers(capsys):
    import signal

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    rc, out, err = run_cli(capsys, "query", "x.wav", "--top", "0")
    assert rc == 2 and out == ""
    assert err == "error: hum-search query: argument --top/-k: must be at least 1. Fix: see hum-search query --help\n"
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_unexpected_exception_is_one_line_with_its_type(capsys, monkeypatch, tmp_path):
    import hum_search.commands.stats as stats_cmd

    def broken(args):
        raise KeyError("http://elastic:hunter22@es:9200")

    monkeypatch.setattr(stats_cmd, "run", broken)
    rc, out, err = run_cli(capsys, "stats", "--store", tmp_path)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "hunter22" not in err
    assert err.startswith("error: unexpected KeyError (") and "Fix: run again with HUM_SEARCH_LOG_LEVEL=DEBUG" in err


_REMEMBERED_INTERRUPT = '''
import ctypes, sys
run = ctypes.pythonapi.PyRun_String
run.restype, run.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
try:  # what an extension module's start-up code does when Ctrl-C lands in it; the CLI handles it
    run(b"raise KeyboardInterrupt" if sys.argv[2] == "1" else b"pass", 257, {}, {})
except KeyboardInterrupt:
    print("handled", flush=True)
from hum_search.__main__ import leave
leave(int(sys.argv[1]))
'''


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX exit statuses")
@pytest.mark.parametrize("status, interrupted", [(130, True), (0, False), (2, False)])
def test_a_handled_ctrl_c_exits_with_the_status_the_cli_reports(tmp_path, status, interrupted):
    """CPython remembers a KeyboardInterrupt raised in code run by PyRun_String and, for ``python -m``,
    kills the process with SIGINT at exit even when it was handled: the CLI reported "interrupted"
    and status 130, and its parent saw "killed by SIGINT" (a Ctrl-C during start-up, 10 of 40 tries).
    ``__main__.leave`` exits with the reported status."""
    import subprocess

    (tmp_path / "remembered.py").write_text(_REMEMBERED_INTERRUPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    p = subprocess.run([sys.executable, "-m", "remembered", str(status), str(int(interrupted))], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=60)
    assert p.stdout == ("handled\n" if interrupted else "") and p.stderr == ""
    assert p.returncode == status


@pytest.mark.parametrize("lost, status, word", [("Terminated", 143, "terminated"), ("KeyboardInterrupt", 130, "interrupted")])
def test_a_signal_that_cpython_swallows_is_still_reported(capsys, monkeypatch, lost, status, word):
    """A signal handler's KeyboardInterrupt that lands in a weakref callback (as during an import:
    "Exception ignored in: <function _get_module_lock.<locals>.cb>") cannot propagate; CPython used to
    print its traceback and the command ran on to exit 0. Now no traceback, and the command's
    status and one line say it was stopped."""
    import weakref

    from hum_search import errors

    class Thing:
        pass

    def command(args):
        t = Thing()
        ref = weakref.ref(t, lambda r: (_ for _ in ()).throw(getattr(errors, lost, None) or KeyboardInterrupt()))
        del t  # the callback raises where nothing can catch it
        assert ref() is None
        return 0

    from hum_search.commands import stats

    monkeypatch.setattr(stats, "run", command)
    hook = sys.unraisablehook
    capsys.readouterr()
    assert cli.main(["stats"]) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
    assert err.startswith(word) and err.count("\n") == 1
    assert sys.unraisablehook is hook  # restored


@pytest.mark.parametrize("lost, status, word", [("Terminated", 143, "terminated"), ("KeyboardInterrupt", 130, "interrupted")])
def test_a_signal_swallowed_during_start_up_stops_the_command_before_it_runs(capsys, monkeypatch, lost, status, word):
    """The same swallowed signal while the sub-commands are imported (Ctrl-C or SIGTERM in the first
    half second): the command ran to its end and then said "interrupted (... the command had run to
    its end)", 1 in 8 runs of the start-up interrupt test on a loaded machine. It now stops before
    the command starts, with the plain one line."""
    import weakref

    from hum_search import errors
    from hum_search.commands import stats

    build = cli.build_parser

    def swallowing_build():
        class Thing:
            pass

        t = Thing()
        ref = weakref.ref(t, lambda r: (_ for _ in ()).throw(getattr(errors, lost, None) or KeyboardInterrupt()))
        del t
        assert ref() is None
        return build()

    ran = []
    monkeypatch.setattr(cli, "build_parser", swallowing_build)
    monkeypatch.setattr(stats, "run", lambda args: ran.append(args) or 0)
    rc, out, err = run_cli(capsys, "stats")
    assert (rc, out, err) == (status, "", word + "\n")
    assert ran == []


@pytest.mark.parametrize("sig, status, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_an_error_that_follows_a_signal_is_reported_as_the_signal(capsys, monkeypatch, sig, status, word):
    """Ctrl-C while numpy's C extensions load makes numpy raise its own ImportError ("Importing the
    numpy C-extensions failed"), with no KeyboardInterrupt left in its chain; the CLI said "error:
    unexpected ImportError" and exited 2 (1 in 15 Ctrl-Cs during start-up on a busy machine). The
    signal came first: the command reports it. The same error without a signal stays an error."""
    import signal

    from hum_search.commands import stats

    def command(args):
        try:
            signal.raise_signal(getattr(signal, sig))
        except KeyboardInterrupt:  # what a C extension's import does with it
            pass
        raise ImportError("Importing the numpy C-extensions failed")

    monkeypatch.setattr(stats, "run", command)
    rc, out, err = run_cli(capsys, "stats")
    assert (rc, err) == (status, word + "\n")

    def plain(args):
        raise ImportError("Importing the numpy C-extensions failed")

    monkeypatch.setattr(stats, "run", plain)
    rc, out, err = run_cli(capsys, "stats")
    assert rc == 2 and err.startswith("error: unexpected ImportError")
