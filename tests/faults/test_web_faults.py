"""The web app's rows of the fault catalogue (issue 12): each runs the real app as a user, or an
attacker on the same machine, would meet it: through Streamlit's AppTest (the page script with its
widgets), through ``streamlit run app.py`` (the HTTP server as configured by .streamlit/config.toml
and app.py), or through Chromium driving that server.

Every row asserts, besides its own outcome, that no traceback and no password reaches the page or
the server log at the default level: the page is every element Streamlit would send to the
browser (its protobuf text), the log is what the library and Streamlit logged at WARNING and above
(AppTest rows) or the server's output (server and browser rows). The environment carries a fake
Elasticsearch user and password in every row.

``defect=True`` marks the rows that failed before issue 12; the others already passed and stay as
guards. The browser rows need Chromium and Playwright, like tests/test_browser.py: skipped without
them, failed under CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hum_search.config import Settings
from hum_search.demo.audio_files import write_audio, write_tags
from hum_search.features.extract import current_spec
from hum_search.indexing.run import index_paths
from hum_search.store import open_store
from tests.test_app import catalogue, make_hum, start, wav_bytes  # noqa: F401 (catalogue is a fixture)
from tests.test_browser import (
    CHROMIUM,
    is_local,
    launch,
    need,
    open_app,
    streamlit_app,
)

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "app.py")
PASSWORD = "Fake-Pa55word-web-7c2d"
MD_IMAGE = "![x](http://example.invalid/a.png)"  # a Markdown image: rendered, the browser fetches it
STARTUP_TIMEOUT_S = 90
BROWSER_TIMEOUT_MS = 60_000
SERVER_CAP_MB = 25  # server.maxUploadSize in .streamlit/config.toml
APP_CAP_MB = 20  # the uploader's limit (hum_search/web/session.py)


# --------------------------------------------------------------------------------------------------
# what a row saw
# --------------------------------------------------------------------------------------------------
@dataclass
class Seen:
    page: str  # everything the page would show (or the HTTP bodies a server row read)
    log: str = ""  # the server's log, for server and browser rows (AppTest rows: caplog)


def page_text(at) -> str:
    """Every element of an AppTest page as protobuf text: bodies, labels, options, help, any
    exception and its stack trace."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def shown(markdown: str) -> str:
    """What a plain-text Markdown body reads as: backslash escapes and word joiners removed."""
    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


def one_line_error(at, *words: str) -> str:
    """The page's single error: one line with a fix, holding ``words``."""
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    text = shown(at.error[0].value)
    assert "Fix:" in text and "\n" not in text, text
    for w in words:
        assert w.lower() in text.lower(), (w, text)
    return text


def captions(at) -> str:
    return shown("\n".join(c.value for c in at.caption))


def no_markdown_syntax(at) -> None:
    """Markdown bodies (those that do not allow HTML) hold no unescaped image or link syntax."""
    for el in [*at.markdown, *at.caption, *at.error, *at.warning, *at.info, *at.success]:
        if getattr(el.proto, "allow_html", False):
            continue
        assert not re.search(r"(?<!\\)(!\[|\]\(|<img)", el.value), el.value


# --------------------------------------------------------------------------------------------------
# fixtures: the app's environment, a real server, a browser
# --------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    import streamlit as st

    for var in list(os.environ):
        if var.startswith("HUM_SEARCH_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("HUM_SEARCH_CACHE_DIR", str(tmp_path / "no-models"))
    monkeypatch.setenv("HUM_SEARCH_WORKERS", "1")
    monkeypatch.setenv("HUM_SEARCH_ES_USER", "elastic")
    monkeypatch.setenv("HUM_SEARCH_ES_PASSWORD", PASSWORD)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()


@dataclass
class Server:
    url: str
    port: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def web_server(catalogue, tmp_path_factory):  # noqa: F811
    """The app as the docs start it by hand, with Elasticsearch credentials in its environment."""
    log_path = tmp_path_factory.mktemp("web-faults") / "server.log"
    with streamlit_app(catalogue, log_path, HUM_SEARCH_ES_USER="elastic", HUM_SEARCH_ES_PASSWORD=PASSWORD) as url:
        yield Server(url, int(url.rsplit(":", 1)[1]), log_path)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace").strip()
    except OSError:
        return 0, ""


@pytest.fixture(scope="module")
def browser():
    need(os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK), f"Chromium not found at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is missing")
    with sync_playwright() as pw:
        b = launch(pw, CHROMIUM)
        try:
            yield b
        finally:
            b.close()


class Ctx:
    """What a row may use; fixtures are started on first use."""

    def __init__(self, request, monkeypatch, tmp_path):
        self.request, self.monkeypatch, self.tmp_path = request, monkeypatch, tmp_path

    def __getattr__(self, fixture: str):  # catalogue, web_server, browser
        return self.request.getfixturevalue(fixture)


# --------------------------------------------------------------------------------------------------
# the rows
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    name: str
    run: Callable[[Ctx], Seen]
    defect: bool = True


def upload(at, name: str, data: bytes, mime: str = "audio/mpeg"):
    at.file_uploader[0].set_value((name, data, mime)).run()
    return at


# --- names are plain text ---------------------------------------------------------------------------
def upload_name_is_plain_text(c: Ctx) -> Seen:
    at = start(c.monkeypatch, c.catalogue.store, c.catalogue.music)
    upload(at, MD_IMAGE + ".mp3", b"not audio at all\n" * 64)
    text = one_line_error(at, "not a readable audio file")
    assert MD_IMAGE in text  # the name, literally
    no_markdown_syntax(at)
    return Seen(page_text(at))


def song_tags_are_plain_text(c: Ctx) -> Seen:
    song = c.catalogue.songs["greensleeves"]
    music = c.tmp_path / "music" / "Folk"
    music.mkdir(parents=True)
    path = music / "tagged.wav"
    shutil.copy(song.path, path)
    write_tags(path, title="![t](http://example.invalid/t.png)", artist="<img src=http://example.invalid/b.png>",
                     album="x", genre="**[g](http://example.invalid/g)**")
    store_dir = c.tmp_path / "store"
    settings = Settings(store=str(store_dir), workers=1)
    store = open_store(str(store_dir), current_spec(), create=True, settings=settings)
    try:
        index_paths(store, [str(music.parent)], settings=settings, workers=0)
    finally:
        store.close()
    at = start(c.monkeypatch, store_dir, music.parent)
    at.audio_input[0].set_value(("r.wav", wav_bytes(make_hum("greensleeves"), 16_000), "audio/wav")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    text = page_text(at)
    assert not re.search(r"(?<!\\)<img", text)  # an entity in the HTML title, escaped in the Markdown subtitle
    no_markdown_syntax(at)
    return Seen(text)


# --- indexing from the sidebar stays inside the music root --------------------------------------------
def _sidebar_index(c: Ctx, make_link: Callable[[Path, Path], None]) -> Seen:
    """A music root with one song inside and a link that leads to a song outside: the sidebar counts,
    indexes and walks only what is inside."""
    cat = c.catalogue
    music, outside = c.tmp_path / "music", c.tmp_path / "outside"
    (music / "Folk").mkdir(parents=True)
    (outside / "Rock").mkdir(parents=True)
    os.link(cat.songs["greensleeves"].path, music / "Folk" / "greensleeves.wav")
    shutil.copy(cat.songs["ode-to-joy"].path, outside / "Rock" / "ode-to-joy.mp3")
    make_link(music, outside)
    store_dir = c.tmp_path / "store"
    at = start(c.monkeypatch, store_dir, music)
    choice = at.selectbox(key="index_folder")
    assert all(not o.startswith("escape") for o in choice.options), choice.options
    assert at.button(key="index_button").label == "Index 1 audio file"  # the link is not counted

    visited: list[str] = []
    real_scandir = os.scandir

    def spy(path=".", *a, **k):
        visited.append(os.path.realpath(path))
        return real_scandir(path, *a, **k)

    c.monkeypatch.setattr(os, "scandir", spy)
    at.button(key="index_button").click().run()
    c.monkeypatch.setattr(os, "scandir", real_scandir)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "1 new song indexed" in shown("\n".join(s.value for s in at.sidebar.success))
    outside_real = os.path.realpath(outside)
    assert visited and not [v for v in visited if v.startswith(outside_real)], visited
    store = open_store(str(store_dir), current_spec(), settings=Settings(store=str(store_dir)))
    try:
        paths = list(store.file_states())
    finally:
        store.close()
    assert len(paths) == 1 and paths[0].startswith(str(music)), paths
    return Seen(page_text(at))


def sidebar_link_to_folder_outside(c: Ctx) -> Seen:
    return _sidebar_index(c, lambda music, outside: (music / "escape").symlink_to(outside, target_is_directory=True))


def sidebar_link_to_file_outside(c: Ctx) -> Seen:
    return _sidebar_index(c, lambda music, outside: (music / "Folk" / "escape.mp3").symlink_to(
        outside / "Rock" / "ode-to-joy.mp3"))


def index_choice_traversal(c: Ctx) -> Seen:
    """Folder choices the list does not offer are refused (the list itself comes from the server)."""
    from hum_search.errors import HumSearchError
    from hum_search.web.folders import resolve_index_folder

    music = c.tmp_path / "music"
    (music / "A").mkdir(parents=True)
    (c.tmp_path / "outside").mkdir()
    settings = Settings(store="s", music_root=str(music))
    shown_lines = []
    for bad in ("..", "../outside", "/etc", "A/../../outside", "missing"):
        with pytest.raises(HumSearchError) as e:
            resolve_index_folder(settings, bad)
        shown_lines.append(str(e.value))
    return Seen("\n".join(shown_lines))


# --- the music root --------------------------------------------------------------------------------------
def music_root_missing(c: Ctx) -> Seen:
    at = start(c.monkeypatch, c.catalogue.store, c.tmp_path / "no-such-folder")
    assert not at.exception
    side = shown("\n".join(x.value for x in at.sidebar.caption))
    assert "does not exist" in side and "not set" not in side, side
    return Seen(page_text(at))


# --- serving audio: only from inside the music root -------------------------------------------------------
def player_only_inside_music_root(c: Ctx) -> Seen:
    """The index holds songs in several genre folders; the music root is one of them: only its song
    gets a player, the others say they are outside."""
    cat = c.catalogue
    at = start(c.monkeypatch, cat.store, cat.music / "Folk")
    at.audio_input[0].set_value(("r.wav", wav_bytes(make_hum("greensleeves"), 16_000), "audio/wav")).run()
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 1
    assert "Not played: the file is outside the music folder" in captions(at)
    return Seen(page_text(at))


def served_file_traversal(c: Ctx) -> Seen:
    from hum_search.web.folders import allowed_roots
    from hum_search.web.media import servable_audio

    music = c.tmp_path / "music"
    (music / "Folk").mkdir(parents=True)
    song = music / "Folk" / "song.mp3"
    song.write_bytes(b"ID3 fake")
    secret = c.tmp_path / "secret.mp3"
    secret.write_bytes(b"not yours")
    (music / "Folk" / "link-out.mp3").symlink_to(secret)
    (c.tmp_path / "music-other").mkdir()
    (c.tmp_path / "music-other" / "x.mp3").write_bytes(b"x")
    roots = allowed_roots(Settings(store="s", music_root=str(music)))
    assert servable_audio(str(song), roots) == song.resolve()
    for bad in (music / ".." / "secret.mp3", music / "Folk" / "link-out.mp3", secret,
                c.tmp_path / "music-other" / "x.mp3", Path("/etc/passwd"), "Folk/song.mp3"):
        assert servable_audio(str(bad), roots) is None, bad
    return Seen("")


# --- uploads -------------------------------------------------------------------------------------------
def unreadable_upload(c: Ctx) -> Seen:
    at = upload(start(c.monkeypatch, c.catalogue.store, c.catalogue.music), "song.mp3", b"eggs, milk\n" * 99)
    one_line_error(at, "song.mp3", "not a readable audio file")
    return Seen(page_text(at))


def empty_upload(c: Ctx) -> Seen:
    at = upload(start(c.monkeypatch, c.catalogue.store, c.catalogue.music), "empty.wav", b"", "audio/wav")
    one_line_error(at, "empty")
    return Seen(page_text(at))


def upload_over_app_cap(c: Ctx) -> Seen:
    """Past the browser's check (AppTest sends it anyway): the app refuses it in words."""
    big = b"RIFF" + b"\0" * (APP_CAP_MB * 2**20 + 10)
    at = upload(start(c.monkeypatch, c.catalogue.store, c.catalogue.music), "big.wav", big, "audio/wav")
    one_line_error(at, "big.wav", f"{APP_CAP_MB} MB")
    return Seen(page_text(at))


# --- settings and the backend ------------------------------------------------------------------------------
def bad_setting(c: Ctx) -> Seen:
    c.monkeypatch.setenv("HUM_SEARCH_WORKERS", "many")
    at = start(c.monkeypatch, c.tmp_path / "store")
    one_line_error(at, "HUM_SEARCH_WORKERS")
    return Seen(page_text(at))


def _bad_store(c: Ctx, store: str, *secrets: str) -> Seen:
    at = start(c.monkeypatch, store)
    one_line_error(at)
    text = page_text(at)
    for s in secrets:
        assert s not in text
    return Seen(text)


def es_url_with_hash_in_password(c: Ctx) -> Seen:
    return _bad_store(c, "http://elastic:pa#ss@127.0.0.1:9", "pa#ss", "ss@")


def es_url_bad_port_with_password(c: Ctx) -> Seen:
    return _bad_store(c, f"http://elastic:{PASSWORD}@127.0.0.1:99999")


def es_down_password_in_env(c: Ctx) -> Seen:
    return _bad_store(c, "http://127.0.0.1:9")


# --- bugs: one line on the page, one line in the log -----------------------------------------------------
def bug_in_search(c: Ctx) -> Seen:
    from hum_search.search.searcher import Searcher

    at = start(c.monkeypatch, c.catalogue.store, c.catalogue.music)

    def broken(self, *a, **k):
        raise RuntimeError(f"boom at http://elastic:{PASSWORD}@127.0.0.1:9200/hum-songs")

    c.monkeypatch.setattr(Searcher, "search", broken)
    at.audio_input[0].set_value(("r.wav", wav_bytes(make_hum("greensleeves"), 16_000), "audio/wav")).run()
    one_line_error(at, "RuntimeError", "try again")
    return Seen(page_text(at))


def bug_in_plot(c: Ctx) -> Seen:
    from hum_search.search.searcher import Searcher

    at = start(c.monkeypatch, c.catalogue.store, c.catalogue.music)

    def broken(self, *a, **k):
        raise ZeroDivisionError("division by zero")

    c.monkeypatch.setattr(Searcher, "explain", broken)
    at.audio_input[0].set_value(("r.wav", wav_bytes(make_hum("greensleeves"), 16_000), "audio/wav")).run()
    assert not at.exception and not at.error
    assert "No pitch plot for this song." in captions(at)
    return Seen(page_text(at))


def bug_while_drawing_page(c: Ctx) -> Seen:
    import streamlit as st

    def broken(*a, **k):
        raise TypeError("slider() got an unexpected keyword argument")

    c.monkeypatch.setattr(st, "slider", broken)
    at = start_unchecked(c, c.catalogue.store, c.catalogue.music)
    one_line_error(at, "TypeError")
    return Seen(page_text(at))


def start_unchecked(c: Ctx, store, music=None):
    """Like test_app.start, without asserting that the page raised nothing (the row checks)."""
    from streamlit.testing.v1 import AppTest

    c.monkeypatch.setenv("HUM_SEARCH_STORE", str(store))
    if music is not None:
        c.monkeypatch.setenv("HUM_SEARCH_MUSIC_ROOT", str(music))
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    return at


# --- the server -------------------------------------------------------------------------------------------
def binds_loopback_by_default(c: Ctx) -> Seen:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    starts = [line for line in (REPO / "docs" / "app.md").read_text().splitlines() if "streamlit run app.py" in line]
    assert starts and not [line for line in starts if "--server.address" in line], starts  # the manual start
    srv = c.web_server
    assert f"URL: http://127.0.0.1:{srv.port}" in srv.log()  # one URL, on this machine
    other = _other_address()
    if other is not None:  # the machine's network address: nothing listens there
        with socket.socket() as s:
            s.settimeout(2)
            assert s.connect_ex((other, srv.port)) != 0, f"the app answers on {other}"
    return Seen("", srv.log())


def _other_address() -> str | None:
    """This machine's address on its network, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: UDP connect only picks the route
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def internal_endpoints_closed(c: Ctx) -> Seen:
    srv = c.web_server
    bodies = []
    for path in ("/_stcore/metrics", "/_stcore/metrics/", "/_stcore/agent/openapi.json", "/auth/login"):
        status, body = http_get(srv.url + path)
        assert status == 404, (path, status, body[:200])
        bodies.append(body)
    assert http_get(srv.url + "/_stcore/health") == (200, "ok")  # what a user (and make run) needs stays
    assert http_get(srv.url + "/")[0] == 200
    return Seen("\n".join(bodies), srv.log())


# --- the browser ------------------------------------------------------------------------------------------
def _page(c: Ctx, requests: list[str]):
    ctx, page = open_app(c.browser, c.web_server.url, {"width": 1280, "height": 800}, requests=requests)
    return ctx, page


def _upload_file(page, name: str, data: bytes, mime: str = "audio/mpeg") -> None:
    page.get_by_role("tab", name=re.compile("Upload")).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": data}])


def no_request_leaves_the_machine(c: Ctx) -> Seen:
    """A page load and a search with its cards, players and charts: every request goes to the app."""
    requests: list[str] = []
    ctx, page = _page(c, requests)
    try:
        mp3 = write_audio(c.tmp_path / "hum.mp3", make_hum("ode-to-joy"), 16_000)
        _upload_file(page, "hum.mp3", mp3.read_bytes())
        page.locator('[class*="st-key-match_card_1"] .hs-title').wait_for(timeout=BROWSER_TIMEOUT_MS)
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"]').length > 0",
                               timeout=BROWSER_TIMEOUT_MS)
        page.wait_for_timeout(1500)  # late fonts and icons
        text = page.inner_text("body")
    finally:
        ctx.close()
    away = [u for u in requests if not is_local(u, c.web_server.url)]
    assert requests and not away, away
    return Seen(text, c.web_server.log())


def markdown_file_name_fetches_nothing(c: Ctx) -> Seen:
    requests: list[str] = []
    ctx, page = _page(c, requests)
    try:
        _upload_file(page, MD_IMAGE + ".mp3", b"not audio at all\n" * 64)
        error = page.locator('[data-testid="stAlert"]', has_text="not a readable audio file").first
        error.wait_for(timeout=BROWSER_TIMEOUT_MS)
        page.wait_for_timeout(500)
        assert MD_IMAGE in error.inner_text().replace("\u2060", "")
        assert error.locator("img, a").count() == 0, error.inner_html()
        text = page.inner_text("body")
    finally:
        ctx.close()
    assert not [u for u in requests if "example.invalid" in u]
    return Seen(text, c.web_server.log())


def upload_over_server_cap_says_why(c: Ctx) -> Seen:
    """A browser forced past its own check (the request body swapped for 30 MB on its way out): the
    server's 413 says the limit and what to do."""
    answers: list[tuple[int, str]] = []
    big = b"\0" * (30 * 2**20)

    def inflate(route) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        boundary = "----hum-search-fault"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"big.wav\"; filename=\"big.wav\"\r\n"
                f"Content-Type: audio/wav\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()
        headers = {**route.request.headers, "content-type": f"multipart/form-data; boundary={boundary}"}
        response = route.fetch(post_data=body, headers=headers)
        answers.append((response.status, response.text()))
        route.fulfill(response=response)

    requests: list[str] = []
    ctx, page = _page(c, requests)
    try:
        page.route("**/_stcore/upload_file/**", inflate)
        _upload_file(page, "small.wav", wav_bytes(np.zeros(16_000, np.float32), 16_000), "audio/wav")
        deadline = time.monotonic() + BROWSER_TIMEOUT_MS / 1000
        while not answers and time.monotonic() < deadline:
            page.wait_for_timeout(200)
    finally:
        ctx.close()
    assert answers, "no upload request was made"
    status, text = answers[0]
    assert status == 413, (status, text[:300])
    assert f"{SERVER_CAP_MB} MB limit" in text and "Fix:" in text and "\n" not in text, text
    return Seen(text, c.web_server.log())


ROWS = [
    Row("upload name is plain text", upload_name_is_plain_text),
    Row("a Markdown file name fetches nothing (browser)", markdown_file_name_fetches_nothing),
    Row("song tags are plain text", song_tags_are_plain_text, defect=False),
    Row("no request leaves the machine (browser)", no_request_leaves_the_machine),
    Row("sidebar: a link to a folder outside", sidebar_link_to_folder_outside),
    Row("sidebar: a link to a file outside", sidebar_link_to_file_outside),
    Row("sidebar: folder choice traversal", index_choice_traversal, defect=False),
    Row("music root that does not exist", music_root_missing),
    Row("player only inside the music root", player_only_inside_music_root, defect=False),
    Row("served file traversal", served_file_traversal, defect=False),
    Row("unreadable upload", unreadable_upload, defect=False),
    Row("empty upload", empty_upload, defect=False),
    Row("upload over the app's cap", upload_over_app_cap, defect=False),
    Row("upload over the server's cap (browser)", upload_over_server_cap_says_why),
    Row("bad setting", bad_setting, defect=False),
    Row("ES URL with '#' in the password", es_url_with_hash_in_password),
    Row("ES URL with a bad port and a password", es_url_bad_port_with_password),
    Row("ES down, password in the environment", es_down_password_in_env, defect=False),
    Row("a bug in the search", bug_in_search),
    Row("a bug in the plot", bug_in_plot),
    Row("a bug while drawing the page", bug_while_drawing_page),
    Row("binds 127.0.0.1 by default", binds_loopback_by_default),
    Row("internal endpoints closed", internal_endpoints_closed),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_web_fault(row: Row, request, monkeypatch, tmp_path, caplog):
    seen = row.run(Ctx(request, monkeypatch, tmp_path))
    log = seen.log + "\n" + caplog.text
    for where, text in (("page", seen.page), ("server log", log)):
        assert "Traceback" not in text, f"a traceback in the {where}:\n{text[-3000:]}"
        assert PASSWORD not in text, f"the password in the {where}"
