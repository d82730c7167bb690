"""The Elasticsearch rows of the fault catalogue (issue 12): bad Elasticsearch URLs and an
unreachable cluster, each run through the real command line in a subprocess
(``python -m hum_search stats --store URL``), as a user would meet them.

Every row asserts exit status 2, exactly one line of output (the cause and its fix), no traceback
and no password or API key anywhere in stdout or stderr. Nothing listens on 127.0.0.1:9 (the
discard port) here, so "connection refused" is a real outcome, not a simulated one. The environment
carries a fake password and API key in the rows that need them, and a fresh HOME, so nothing of the
user's configuration takes part.

``defect=True`` marks the rows that failed before issue 12 (a traceback holding the password,
``ValueError: Could not parse URL 'http://elastic:pa#ss@127.0.0.1:9'``); the others already
passed and are kept so they stay that way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FAKE_PASSWORD = "Fake-Pa55word-es-4e1f"
FAKE_API_KEY = "ZmFrZS1pZDpmYWtlLWFwaS1rZXktZXM="
RUN_TIMEOUT_S = 60
DEAD = "127.0.0.1:9"  # nothing listens on the discard port


@dataclass(frozen=True)
class Row:
    name: str
    store: str | None  # --store, or None to give the URL through the environment
    expect: str  # a piece of the one line
    env: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    defect: bool = True


ROWS = [
    Row("hash in the password", "http://elastic:pa#ss@127.0.0.1:9", "contains '#'", secrets=("pa#ss", "ss@")),
    Row("port out of range", "http://127.0.0.1:99999", "has the port '99999', which is not a number from 1 to 65535"),
    Row("unclosed IPv6 bracket", "http://[::1", "has an unclosed '['"),
    Row("space in the host", "http://ho st:9200", "contains a space"),
    Row("no host", "http://", "has no host name"),
    Row("hash in the password, with more after it", "http://elastic:pa#ss-and-more@127.0.0.1:9200",
        "contains '#'", secrets=("pa#ss", "ss-and-more")),
    Row("at sign in the password, nothing listening", f"http://elastic:p@ss@{DEAD}", "connection refused",
        secrets=("p@ss",), defect=False),
    Row("password in the URL, nothing listening", f"http://elastic:{FAKE_PASSWORD}@{DEAD}",
        f"cannot reach Elasticsearch at http://{DEAD} (connection refused)", secrets=(FAKE_PASSWORD,),
        defect=False),
    Row("password in the environment, nothing listening", f"http://{DEAD}", "cannot reach Elasticsearch",
        env={"HUM_SEARCH_ES_USER": "elastic", "HUM_SEARCH_ES_PASSWORD": FAKE_PASSWORD}, secrets=(FAKE_PASSWORD,),
        defect=False),
    Row("API key in the environment, nothing listening", f"http://{DEAD}", "cannot reach Elasticsearch",
        env={"HUM_SEARCH_ES_API_KEY": FAKE_API_KEY}, secrets=(FAKE_API_KEY,), defect=False),
    Row("bad URL in HUM_SEARCH_ES_URL", None, "HUM_SEARCH_ES_URL",
        env={"HUM_SEARCH_ES_URL": f"http://elastic:{FAKE_PASSWORD}#x@127.0.0.1:9"}, secrets=(FAKE_PASSWORD,)),
    Row("percent-encoded hash in the password, nothing listening", f"http://elastic:pa%23{FAKE_PASSWORD}@{DEAD}",
        "connection refused", secrets=(FAKE_PASSWORD,), defect=False),
]


def run_stats(row: Row, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUM_SEARCH_")}
    env.update({"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
                "PYTHONWARNINGS": "default"})
    env.update(row.env)
    args = [sys.executable, "-m", "hum_search", "stats"] + (["--store", row.store] if row.store is not None else [])
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_es_fault(row: Row, tmp_path: Path):
    proc = run_stats(row, tmp_path)
    out = proc.stdout + proc.stderr
    lines = [line for line in out.splitlines() if line.strip()]
    assert proc.returncode == 2, out
    assert len(lines) == 1, out
    assert row.expect in lines[0], out
    assert ". Fix: " in lines[0], out
    assert "Traceback" not in out
    for secret in row.secrets + (FAKE_PASSWORD, FAKE_API_KEY):
        assert secret not in out, f"{secret!r} leaked: {out}"


def test_the_catalogue_covers_the_issue_repro():
    # issue 12: `hum-search stats --store 'http://elastic:pa#ss@127.0.0.1:9'` (also a port of 99999,
    # `http://[::1`, a space in the host, a bare `http://`)
    stores = {r.store for r in ROWS}
    assert {"http://elastic:pa#ss@127.0.0.1:9", "http://127.0.0.1:99999", "http://[::1", "http://ho st:9200",
            "http://"} <= stores
