"""The command line's fault catalogue (issue 12): one parametrized test per row, each running the
real CLI in a subprocess (``python -m hum_search``, the ``hum-search`` script, ``python -m indexer``)
as a user would meet the fault: bad settings, bad arguments, bad recordings, an empty index, an
unknown genre, a steady tone, unexpected exceptions, Ctrl-C and SIGTERM during start-up.

Every row asserts the exit status; that the error output is exactly one line, holding "Fix:" where
it reports a problem; that no "Traceback" reaches the user; and that the fake password and API key
that every row's environment carries (also inside the Elasticsearch and Kibana URLs) never appear.
``defect=True`` marks the rows that failed before issue 12 (so a fix is proven by its row); the
others already passed and are kept so they stay that way. To add a row, see README.md here.

The helpers below (environment, runner, checks) are also used by ``test_store_faults.py``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import soundfile as sf

from hum_search import cli

from ..test_audio import tone, write_hum, write_song

REPO = Path(__file__).resolve().parents[2]
FAKE_PASSWORD = "Fake-pw-7c1e9a-cli"
FAKE_API_KEY = "fake-key-51b2d0e4"
SECRETS = (FAKE_PASSWORD, FAKE_API_KEY)
SECRET_ES_URL = f"http://elastic:{FAKE_PASSWORD}@127.0.0.1:9"
RUN_TIMEOUT_S = 180
STARTUP_WAIT_S = 60  # for the child to reach its entry point (imports are slow on a loaded box)


# --- the shared harness ---------------------------------------------------------------------------------
def cli_env(tmp: Path, overrides: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment of every row: no HUM_SEARCH_* from outside, a private cache, the default store
    in ``tmp``, and fake secrets in every place they can be (None in ``overrides`` unsets a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUM_SEARCH_")}
    env.update(PYTHONPATH=str(REPO), HUM_SEARCH_CACHE_DIR=str(tmp / "cache"),
               HUM_SEARCH_STORE=str(tmp / "default-store"), HUM_SEARCH_ES_URL=SECRET_ES_URL,
               HUM_SEARCH_ES_USER="elastic", HUM_SEARCH_ES_PASSWORD=FAKE_PASSWORD,
               HUM_SEARCH_ES_API_KEY=FAKE_API_KEY,
               HUM_SEARCH_KIBANA_URL=f"http://elastic:{FAKE_PASSWORD}@localhost:5601")
    for k, v in (overrides or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def entry_command(entry: str) -> list[str]:
    if entry == "module":
        return [sys.executable, "-m", "hum_search"]
    if entry == "indexer":
        return [sys.executable, "-m", "indexer"]
    if entry == "script":
        script = Path(sys.executable).parent / "hum-search"
        if not script.exists():
            pytest.skip("the hum-search console script is not installed next to this interpreter")
        return [str(script)]
    raise ValueError(entry)


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, entry: str = "module") -> subprocess.CompletedProcess:
    return subprocess.run([*entry_command(entry), *argv], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, stdin=subprocess.DEVNULL)


def assert_user_output(p: subprocess.CompletedProcess, *, rc: int | tuple[int, ...], words=(), stream: str = "stderr",
                       lines: int = 1, fix: bool = True) -> str:
    """The catalogue's checks; returns the error line ('' when ``lines`` is 0)."""
    both = p.stdout + p.stderr
    allowed = rc if isinstance(rc, tuple) else (rc,)
    assert p.returncode in allowed, f"exit {p.returncode}, expected {rc}:\n{both}"
    assert "Traceback" not in both, both
    for secret in SECRETS:
        assert secret not in both, f"secret leaked:\n{both}"
    text = p.stderr if stream == "stderr" else p.stdout
    got = [ln for ln in text.splitlines() if ln.strip()]
    assert len(got) == lines, f"expected {lines} line(s) on {stream}, got:\n{text}"
    if not lines:
        return ""
    line = got[-1]
    if fix:
        assert "Fix:" in line, line
    for w in words:
        assert w.lower() in line.lower(), f"{w!r} not in {line!r}"
    return line


def make_library(root: Path) -> dict[str, Path]:
    """Two songs in two genre folders, indexed (in-process, no sound model); a hum, a steady tone,
    an empty file and an empty index."""
    music = root / "music"
    write_song(music / "Folk" / "a.wav", 1)
    write_song(music / "Rock" / "b.wav", 2)
    store = root / "store"
    empty_store = root / "empty-store"
    (root / "nothing").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HUM_SEARCH_PANNS_CHECKPOINT", raising=False)
        mp.setenv("HUM_SEARCH_CACHE_DIR", str(root / "cache"))
        assert cli.main(["index", str(music), "--store", str(store), "--workers", "0", "--no-sound"]) == 0
        assert cli.main(["index", str(root / "nothing"), "--store", str(empty_store), "--workers", "0",
                         "--no-sound"]) in (0, 1)  # an empty folder: nothing to index
    hum = write_hum(root / "hum.wav", 1)
    steady = root / "tone.wav"
    sf.write(str(steady), tone(440.0, 8.0, 16_000, amp=0.3), 16_000)
    empty = root / "empty.wav"
    empty.write_bytes(b"")
    return {"root": root, "music": music, "store": store, "empty_store": empty_store, "hum": hum, "tone": steady,
            "empty_wav": empty, "missing": root / "no-such-file.wav"}


# --- the rows -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    id: str
    argv: tuple[str, ...]  # {store} {empty_store} {music} {hum} {tone} {empty_wav} {missing} {tmp} are filled in
    rc: int | tuple[int, ...] = 2
    words: tuple[str, ...] = ()  # the error line holds each of these (case-insensitive)
    env: dict = field(default_factory=dict)
    stream: str = "stderr"  # where the error line goes (per-file query errors: stdout)
    lines: int = 1
    fix: bool = True
    entry: str = "module"  # module | script | indexer | broken (a command that raises ``raises``)
    raises: str = ""  # Python expression of the exception the broken command raises
    defect: bool = False  # failed before issue 12


ROWS = [
    # settings: validated where they are read, one line naming the variable, the value and what is allowed
    Row("env-workers-word", ("stats", "--store", "{store}"), words=("HUM_SEARCH_WORKERS", "'many'", "whole number"),
        env={"HUM_SEARCH_WORKERS": "many"}, defect=True),
    Row("env-workers-negative", ("stats", "--store", "{store}"), words=("HUM_SEARCH_WORKERS", "'-3'", "1 or more"),
        env={"HUM_SEARCH_WORKERS": "-3"}, defect=True),
    Row("env-max-duration-word", ("stats", "--store", "{store}"), words=("HUM_SEARCH_MAX_DURATION_S", "'abc'"),
        env={"HUM_SEARCH_MAX_DURATION_S": "abc"}, defect=True),
    Row("env-max-duration-negative", ("query", "{hum}", "--store", "{store}"),
        words=("HUM_SEARCH_MAX_DURATION_S", "'-5'", "from 1 to 6000"), env={"HUM_SEARCH_MAX_DURATION_S": "-5"},
        defect=True),
    Row("env-max-duration-zero", ("stats", "--store", "{store}"), words=("HUM_SEARCH_MAX_DURATION_S", "'0'"),
        env={"HUM_SEARCH_MAX_DURATION_S": "0"}, defect=True),
    Row("env-log-level", ("stats", "--store", "{store}"), words=("HUM_SEARCH_LOG_LEVEL", "'loud'", "DEBUG, INFO"),
        env={"HUM_SEARCH_LOG_LEVEL": "loud"}, defect=True),
    Row("env-device", ("query", "{hum}", "--store", "{store}"), words=("HUM_SEARCH_DEVICE", "'banana'", "cuda:N"),
        env={"HUM_SEARCH_DEVICE": "banana"}, defect=True),
    Row("env-kibana-url-hash-in-password", ("stats", "--store", "{store}"), words=("HUM_SEARCH_KIBANA_URL", "%23"),
        env={"HUM_SEARCH_KIBANA_URL": f"http://elastic:{FAKE_PASSWORD}#x@localhost:5601"}, defect=True),
    Row("env-kibana-url-ipv6", ("stats", "--store", "{store}"), words=("HUM_SEARCH_KIBANA_URL", "unclosed"),
        env={"HUM_SEARCH_KIBANA_URL": "http://[::1"}, defect=True),
    Row("env-kibana-url-no-scheme", ("stats", "--store", "{store}"), words=("HUM_SEARCH_KIBANA_URL", "http://"),
        env={"HUM_SEARCH_KIBANA_URL": "localhost:5601"}, defect=True),
    Row("env-es-index", ("stats", "--store", "{store}"), words=("HUM_SEARCH_ES_INDEX", "lower-case"),
        env={"HUM_SEARCH_ES_INDEX": "Hum Songs"}, defect=True),
    Row("env-es-url-not-a-url", ("stats",), words=("HUM_SEARCH_ES_URL", "'localhost:9200'", "http"),
        env={"HUM_SEARCH_STORE": None, "HUM_SEARCH_ES_URL": "localhost:9200"}, defect=True),
    Row("env-bad-through-console-script", ("stats", "--store", "{store}"), words=("HUM_SEARCH_WORKERS",),
        env={"HUM_SEARCH_WORKERS": "many"}, entry="script", defect=True),
    Row("env-bad-through-python-m-indexer", ("{music}", "--store", "{tmp}/new-store"),
        words=("HUM_SEARCH_MAX_DURATION_S",), env={"HUM_SEARCH_MAX_DURATION_S": "-5"}, entry="indexer", defect=True),
    # arguments: one line with the fix, not argparse's usage text
    Row("arg-no-command", (), words=("required", "hum-search --help"), defect=True),
    Row("arg-unknown-command", ("frobnicate",), words=("invalid choice",), defect=True),
    Row("arg-query-without-files", ("query",), words=("FILE", "hum-search query --help"), defect=True),
    Row("arg-top-zero", ("query", "{hum}", "--top", "0"), words=("--top", "at least 1"), defect=True),
    Row("arg-top-word", ("query", "{hum}", "--top", "ten"), words=("--top", "'ten'"), defect=True),
    Row("arg-mode", ("query", "{hum}", "--mode", "banana"), words=("--mode", "invalid choice"), defect=True),
    Row("arg-device", ("query", "{hum}", "--store", "{store}", "--device", "banana"),
        words=("--device", "'banana'", "cuda:N"), defect=True),
    Row("arg-empty-store", ("query", "{hum}", "--store", ""), words=("argument --store", "not an empty string"), defect=True),
    Row("arg-record-too-long", ("record", "--seconds", "500"), words=("--seconds", "between 1 and 60"), defect=True),
    Row("arg-eval-fraction", ("eval", "--music", "{music}", "--queries", "{tmp}/q.jsonl", "--ooc-fraction", "2"),
        words=("--ooc-fraction", "below 1"), defect=True),
    Row("arg-index-missing-folder", ("index", "{tmp}/no-such-folder", "--store", "{tmp}/new-store"),
        words=("no-such-folder",)),
    # recordings: one line per file on stdout, the others still answered
    Row("query-missing-file", ("query", "{missing}", "--store", "{store}"), rc=1, stream="stdout",
        words=("does not exist",)),
    Row("query-empty-file", ("query", "{empty_wav}", "--store", "{store}"), rc=1, stream="stdout", words=("empty",)),
    Row("query-steady-tone", ("query", "{tone}", "--store", "{store}"), rc=1, stream="stdout",
        words=("steady tone", "not a tune"), defect=True),
    Row("query-steady-tone-json", ("query", "{tone}", "--store", "{store}", "--json"), rc=1, stream="stdout",
        words=('"error"', "steady tone"), defect=True),
    # the index: missing, empty, genres
    Row("query-no-index", ("query", "{hum}", "--store", "{tmp}/no-index"),
        words=("no hum-search index", "hum-search index DIR --store")),
    Row("query-empty-index", ("query", "{hum}", "--store", "{empty_store}"),
        words=("holds no songs", "hum-search index DIR --store"), defect=True),
    Row("stats-empty-index", ("stats", "--store", "{empty_store}"), rc=0, words=("holds no songs", "hum-search index"),
        defect=True),
    Row("query-unknown-genre", ("query", "{hum}", "--store", "{store}", "--genre", "jazz"),
        words=("'jazz'", "Folk, Rock"), defect=True),
    Row("query-one-unknown-genre-of-two", ("query", "{hum}", "--store", "{store}", "-g", "jazz", "-g", "FOLK", "--json"),
        rc=0, words=("'jazz'", "searching Folk"), fix=False, defect=True),
    # anything unexpected: one line with the type and how to report it, no secret in it
    Row("unexpected-exception", ("stats", "--store", "{store}"), entry="broken", raises="ZeroDivisionError('boom')",
        words=("unexpected ZeroDivisionError", "HUM_SEARCH_LOG_LEVEL=DEBUG", "report"), defect=True),
    Row("unexpected-exception-with-secrets", ("stats", "--store", "{store}"), entry="broken",
        raises=f"ValueError('cannot use {SECRET_ES_URL} with {FAKE_API_KEY} and {FAKE_PASSWORD}')",
        words=("unexpected ValueError", "http://***@127.0.0.1:9"), defect=True),
    Row("disk-full", ("stats", "--store", "{store}"), entry="broken",
        raises="OSError(28, 'No space left on device', '/music/index')",
        words=("No space left on device", "/music/index", "free some disk space"), defect=True),
]

BROKEN_COMMAND = """
import sys
import hum_search.commands.stats as stats

def run(args):
    raise {raises}

stats.run = run
from hum_search.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("cli-faults"))


def _fill(text: str, lib: dict, tmp: Path) -> str:
    return text.format(tmp=tmp, **lib)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_cli_fault(row: Row, lib, tmp_path):
    argv = [_fill(a, lib, tmp_path) for a in row.argv]
    env = cli_env(tmp_path, {k: (None if v is None else _fill(v, lib, tmp_path)) for k, v in row.env.items()})
    if row.entry == "broken":
        p = subprocess.run([sys.executable, "-c", BROKEN_COMMAND.format(raises=row.raises), *argv], env=env,
                           cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    else:
        p = run_cli(argv, env, tmp_path, row.entry)
    assert_user_output(p, rc=row.rc, words=row.words, stream=row.stream, lines=row.lines, fix=row.fix)
    if row.stream == "stdout":
        assert not p.stderr.strip(), p.stderr


def test_case_insensitive_genre_finds_the_songs(lib, tmp_path):
    """--genre folk finds the Folk songs (the index's own spelling)."""
    p = run_cli(["query", str(lib["hum"]), "--store", str(lib["store"]), "--genre", "folk", "--json"],
                cli_env(tmp_path), tmp_path)
    assert p.returncode == 0, p.stderr
    assert '"genre": "Folk"' in p.stdout and '"genre": "Rock"' not in p.stdout


def test_debug_log_has_the_traceback_without_secrets(lib, tmp_path):
    """At HUM_SEARCH_LOG_LEVEL=DEBUG the traceback goes to the log (stderr), still without secrets;
    the user's line is the same one."""
    raises = f"ValueError('cannot use {SECRET_ES_URL} with {FAKE_PASSWORD}')"
    env = cli_env(tmp_path, {"HUM_SEARCH_LOG_LEVEL": "DEBUG"})
    p = subprocess.run([sys.executable, "-c", BROKEN_COMMAND.format(raises=raises), "stats", "--store",
                        str(lib["store"])], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert p.returncode == 2
    assert "Traceback" in p.stderr and "in run" in p.stderr  # the frame of the command that raised
    assert FAKE_PASSWORD not in p.stdout + p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("error: unexpected ValueError")


# --- Ctrl-C and SIGTERM during start-up -------------------------------------------------------------------------
def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (Linux: SigCgt in /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next(int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith("SigCgt:"))
    return bool(mask & (1 << (sig - 1)))


# (signal, seconds after the entry point's handlers are in place, the accepted exit statuses). Python
# reports a Ctrl-C that interrupted code run by eval/exec (dataclasses, namedtuples) by ending with
# SIGINT itself (-2 here; 130 in a shell): both are "interrupted".
INTERRUPTS = [
    (signal.SIGINT, 0.0, (130, -signal.SIGINT)),
    (signal.SIGINT, 0.15, (130, -signal.SIGINT)),
    (signal.SIGINT, 0.4, (130, -signal.SIGINT)),
    (signal.SIGTERM, 0.0, (143,)),
    (signal.SIGTERM, 0.3, (143,)),
]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to see the handlers")
@pytest.mark.parametrize("sig,delay,statuses", INTERRUPTS,
                         ids=[f"{s.name.lower()}-at-start-up+{d}s" for s, d, _ in INTERRUPTS])
def test_interrupt_during_start_up(sig, delay, statuses, lib, tmp_path):
    """Ctrl-C / SIGTERM while the CLI imports its commands and reads its settings (about 0.4 s, more
    on a loaded machine): one line, status 130 / 143, no traceback (before: a KeyboardInterrupt
    traceback; SIGTERM killed it silently)."""
    p = subprocess.Popen([*entry_command("module"), "query", str(lib["hum"]), "--store", str(lib["store"])],
                         env=cli_env(tmp_path), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + STARTUP_WAIT_S
        while not _catches(p.pid, signal.SIGTERM) and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)  # Python itself never handles SIGTERM: this is the entry point's handler
        assert p.poll() is None, "the command ended before it could be interrupted"
        time.sleep(delay)
        p.send_signal(sig)
        out, err = p.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if p.poll() is None:
            p.kill()
    done = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    line = assert_user_output(done, rc=statuses, fix=False)
    assert line == ("interrupted" if sig == signal.SIGINT else "terminated")
    assert out == ""


def test_sigint_that_is_ignored_stays_ignored(lib, tmp_path):
    """A command started with SIGINT ignored (``nohup``, ``cmd &`` in a script) is not made
    interruptible by the CLI: it runs to the end."""
    p = subprocess.Popen([*entry_command("module"), "stats", "--store", str(lib["store"])], env=cli_env(tmp_path),
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=RUN_TIMEOUT_S)
    assert p.returncode == 0, err
    assert "songs:" in out


def test_row_ids_are_unique():
    assert len({r.id for r in ROWS}) == len(ROWS)
