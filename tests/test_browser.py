"""The web app in a real browser: Debian's Chromium driven by Playwright against ``streamlit run
app.py`` on a small rendered catalogue (the one test_app.py builds).

1. A synthetic hum goes in through Chromium's fake microphone (``--use-file-for-fake-audio-capture``):
   record, stop, and the app searches; the right song must be the first card, with its matched time.
2. An mp3 of another hum is uploaded: the same.
3. A hum of no tune in the catalogue: "No confident match" with muted guesses.
4. The same on a 390 px wide phone viewport.
5. An upload whose name is a Markdown image is shown as plain text.
Every request the pages make is recorded: all of them must go to the app's own server (no CDN font,
icon or image, issue 12). Full-page screenshots of each view go to the test's temporary folder (the path is printed).

Without Chromium (or the Playwright package) the test is skipped, except under CI (CI=true), where
it fails: `make test` installs chromium through apt, so a missing one is a broken setup.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf

from hum_search.demo.audio_files import write_audio
from hum_search.features.audio import resample

from .test_app import REPO, catalogue, make_hum, parse_mmss, unconfident_hum  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("HUM_SEARCH_CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
STARTUP_TIMEOUT_S = 90
RESULT_TIMEOUT_MS = 60_000
FAKE_MIC_SR = 48_000  # what Chromium's fake capture device reads best: 16-bit PCM WAV, 48 kHz, mono

RECORDED = "greensleeves"  # hummed into the fake microphone
UPLOADED = "ode-to-joy"  # uploaded as an mp3
PHONE_UPLOAD = "twinkle-twinkle"
MARKDOWN_NAME = "![x](http://example.invalid/a.png).mp3"  # shown raw as Markdown, the browser fetched it


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def need(condition: bool, message: str) -> None:
    if condition:
        return
    if in_ci():
        pytest.fail(f"{message} (CI=true: the browser test must run in CI; `make test` installs chromium "
                    "through scripts/install-system-deps.sh --test)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium_path() -> str:
    need(os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK),
         f"Chromium not found at {CHROMIUM}. Fix: apt-get install chromium (or run `make test-deps`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need(False, "the playwright package is missing. Fix: pip install --no-deps -r requirements-dev.txt")
    return CHROMIUM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_app(catalogue, log_path: Path, **env_extra: str) -> Iterator[str]:  # noqa: F811
    """`streamlit run app.py` on the catalogue, as the docs start it by hand (no --server.address:
    .streamlit/config.toml binds 127.0.0.1 by itself); yields its URL, stops it afterwards."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUM_SEARCH_")}
    env.update(HUM_SEARCH_STORE=str(catalogue.store), HUM_SEARCH_MUSIC_ROOT=str(catalogue.music),
               HUM_SEARCH_CACHE_DIR=str(log_path.parent / "no-models"), HUM_SEARCH_WORKERS="1",
               PYTHONUNBUFFERED="1", **env_extra)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                        if r.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not start in {STARTUP_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def server(chromium_path, catalogue, tmp_path_factory):  # noqa: F811 (catalogue is a fixture)
    """The app on the catalogue; yields its URL. Its log holds no traceback."""
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_app(catalogue, log_path) as url:
        yield url
    text = log_path.read_text(errors="replace")
    assert "Traceback" not in text, text[-4000:]


def fake_mic_wav(path: Path, y_16k: np.ndarray, *, lead_s: float = 0.3, tail_s: float = 1.0) -> float:
    """The hum as Chromium's fake capture device wants it: 16-bit PCM WAV, 48 kHz mono, with a little
    silence before and after. Returns its duration in seconds."""
    y = resample(y_16k.astype(np.float32), 16_000, FAKE_MIC_SR)
    y = np.concatenate([np.zeros(int(lead_s * FAKE_MIC_SR), np.float32), y,
                        np.zeros(int(tail_s * FAKE_MIC_SR), np.float32)])
    sf.write(str(path), y, FAKE_MIC_SR, subtype="PCM_16")
    return len(y) / FAKE_MIC_SR


def launch(pw, chromium_path: str, fake_mic: Path | None = None):
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    if fake_mic is not None:
        # %noloop: play the file once (then silence) instead of looping it
        args.append(f"--use-file-for-fake-audio-capture={fake_mic}%noloop")
    return pw.chromium.launch(executable_path=chromium_path, args=args)


def open_app(browser, url: str, viewport: dict, *, phone: bool = False, requests: list[str] | None = None):
    """A new context on the app. ``requests`` collects the URL of every request its pages make;
    requests to any other host are recorded and then refused, so none leaves the machine."""
    ctx = browser.new_context(viewport=viewport, permissions=["microphone"], is_mobile=phone, has_touch=phone,
                              device_scale_factor=2 if phone else 1)
    ctx.grant_permissions(["microphone"], origin=url)
    if requests is not None:
        ctx.on("request", lambda req: requests.append(req.url))
        ctx.route(lambda u: not is_local(u, url), lambda route: route.abort())
    page = ctx.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("Hum or sing a tune").first.wait_for(timeout=RESULT_TIMEOUT_MS)
    page.locator('[data-testid="stAudioInput"]').wait_for(timeout=RESULT_TIMEOUT_MS)
    return ctx, page


def is_local(request_url: str, app_url: str) -> bool:
    """Whether a request stays on this machine: the app's own origin, or an inline data:/blob: URL."""
    return request_url.startswith((app_url + "/", "data:", "blob:")) or request_url == app_url


def first_card(page, expected_title: str, kind: str = "match"):
    """Wait until the first result card shows ``expected_title``; return the card's text."""
    card = page.locator(f'[class*="st-key-{kind}_card_1"]').first
    card.locator(".hs-title", has_text=expected_title).wait_for(timeout=RESULT_TIMEOUT_MS)
    return card


def wait_for_charts(page, min_count: int = 1) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stVegaLiteChart\"] canvas, "
        "[data-testid=\"stVegaLiteChart\"] svg.marks').length >= n", arg=min_count, timeout=RESULT_TIMEOUT_MS)
    page.wait_for_timeout(400)  # let the last frames paint


def assert_matched_time(card, song) -> None:
    """The card says where in ``song`` the hum matched, and its player starts there. Streamlit sends a
    rerun's elements one by one: for a moment after the new title shows, the card can still hold the
    last run's label and player, so the check is retried until it holds or the result timeout ends."""
    deadline = time.monotonic() + RESULT_TIMEOUT_MS / 1000
    while True:
        problem = matched_time_problem(card, song)
        if problem is None:
            return
        assert time.monotonic() < deadline, problem
        time.sleep(0.1)


def matched_time_problem(card, song) -> str | None:
    text = card.inner_text()
    m = re.search(r"Matched at (\d+:\d\d)–(\d+:\d\d)", text)
    if not m:
        return f"no matched time on the card: {text!r}"
    start, end = parse_mmss(m.group(1)), parse_mmss(m.group(2))
    lo, hi = song.melody
    if not lo - 2.0 <= start < end <= hi + 2.0:
        return f"{m.group(0)} is outside the melody at {song.melody}"
    audio = card.locator("audio")
    if audio.count() != 1:
        return f"{audio.count()} players on the card"
    at = audio.first.evaluate("a => a.currentTime")
    if abs(at - int(start)) >= 1.01 and "#t=" not in (audio.first.get_attribute("src") or ""):
        return f"the player starts at {at:.1f} s, the match at {start} s"
    return None


def upload(page, path: Path) -> None:
    page.get_by_role("tab", name=re.compile("Upload")).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))


def shot(page, out: Path, name: str) -> Path:
    """Two PNGs: ``name`` (the whole page) and ``name-fold.png`` (what the viewport shows). Streamlit
    scrolls inside its own container, so for the whole page the viewport is made as tall as the
    content for the moment of the screenshot."""
    path = out / f"{name}.png"
    page.screenshot(path=str(out / f"{name}-fold.png"))
    vp = page.viewport_size
    height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
        ...[...document.querySelectorAll('[data-testid="stMain"], [data-testid="stSidebarContent"]')]
            .map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": vp["width"], "height": max(vp["height"], int(height) + 16)})
    page.wait_for_timeout(600)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(vp)
    return path


def test_hum_record_and_upload_in_chromium(server, catalogue, chromium_path, tmp_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    shots = tmp_path / "screenshots"
    shots.mkdir()
    mic = tmp_path / "hum.wav"
    mic_s = fake_mic_wav(mic, make_hum(RECORDED, transpose=-2.0, tempo=1.1, seed=11))
    mp3 = write_audio(tmp_path / "my hum.mp3", make_hum(UPLOADED, transpose=3.0, tempo=0.9, seed=12), 16_000)
    phone_mp3 = write_audio(tmp_path / "phone hum.mp3", make_hum(PHONE_UPLOAD, seed=13), 16_000)
    nomatch = write_audio(tmp_path / "no tune.wav", unconfident_hum(catalogue.store), 16_000)

    requests: list[str] = []
    with sync_playwright() as pw:
        browser = launch(pw, chromium_path, mic)
        try:
            # --- desktop: record through the fake microphone ---------------------------------------
            ctx, page = open_app(browser, server, DESKTOP, requests=requests)
            page.get_by_role("button", name="Record").click()
            page.get_by_role("button", name="Stop recording").wait_for()
            page.wait_for_timeout(int(1000 * mic_s))
            page.get_by_role("button", name="Stop recording").click()
            t_stop = time.monotonic()
            song = catalogue.songs[RECORDED]
            card = first_card(page, song.title)
            first_query_s = time.monotonic() - t_stop
            assert_matched_time(card, song)
            wait_for_charts(page)
            shot(page, shots, "desktop-recording-results")

            # --- desktop: upload an mp3 ----------------------------------------------------------------
            t_upload = time.monotonic()
            upload(page, mp3)
            song = catalogue.songs[UPLOADED]
            card = first_card(page, song.title)
            second_query_s = time.monotonic() - t_upload
            assert_matched_time(card, song)
            wait_for_charts(page)
            shot(page, shots, "desktop-results")

            # --- desktop: no confident match ---------------------------------------------------------
            upload(page, nomatch)  # replaces the mp3
            page.get_by_text("No confident match").first.wait_for(timeout=RESULT_TIMEOUT_MS)
            page.locator('[class*="st-key-guess_card_1"]').first.wait_for()
            # the previous answer's cards stay (greyed) until the rerun finishes: wait for them to go
            page.locator('[class*="st-key-match_card"]').first.wait_for(state="detached", timeout=RESULT_TIMEOUT_MS)
            assert page.locator('[class*="st-key-match_card"]').count() == 0
            opacity = page.locator('[class*="st-key-guess_card_1"]').first.evaluate("e => getComputedStyle(e).opacity")
            assert float(opacity) < 0.8  # muted
            wait_for_charts(page)
            shot(page, shots, "desktop-no-confident-match")

            # --- desktop: a file name that is a Markdown image stays plain text --------------------------
            page.get_by_role("tab", name=re.compile("Upload")).click()
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
                files=[{"name": MARKDOWN_NAME, "mimeType": "audio/mpeg", "buffer": b"not audio at all" * 64}])
            error = page.locator('[data-testid="stAlert"]', has_text="not a readable audio file").first
            error.wait_for(timeout=RESULT_TIMEOUT_MS)
            assert MARKDOWN_NAME in error.inner_text().replace("\u2060", ""), error.inner_text()
            assert error.locator("img, a").count() == 0, error.inner_html()
            ctx.close()

            # --- phone ---------------------------------------------------------------------------------
            ctx, page = open_app(browser, server, PHONE, phone=True, requests=requests)
            upload(page, phone_mp3)
            song = catalogue.songs[PHONE_UPLOAD]
            card = first_card(page, song.title)
            assert_matched_time(card, song)
            wait_for_charts(page)
            no_overflow = page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
            assert no_overflow, "the page scrolls sideways on a phone"
            # after a search the phone page scrolls the results into view
            page.wait_for_function("""() => { const r = document.querySelector('[class*="st-key-results"]');
                return r && r.getBoundingClientRect().top < window.innerHeight * 0.5; }""", timeout=10_000)
            shot_viewport = page.screenshot(path=str(shots / "phone-results-scrolled.png"))
            assert shot_viewport
            shot(page, shots, "phone-results")
            upload(page, nomatch)
            page.get_by_text("No confident match").first.wait_for(timeout=RESULT_TIMEOUT_MS)
            wait_for_charts(page)
            shot(page, shots, "phone-no-confident-match")
            ctx.close()
        finally:
            browser.close()
    for p in sorted(shots.iterdir()):
        assert p.stat().st_size > 10_000, p
    assert requests and all(is_local(u, server) for u in requests), [u for u in requests if not is_local(u, server)]
    print(f"\nscreenshots: {shots}\nfirst query after start: {first_query_s:.2f} s from 'stop' to the first card; "
          f"second (an upload): {second_query_s:.2f} s from choosing the file to the first card")
    # the warm-up query at start-up makes the first real query about as fast as later ones
    assert first_query_s < 3 * second_query_s + 2.0, (first_query_s, second_query_s)
    copy_to = os.environ.get("HUM_SEARCH_SCREENSHOT_DIR")
    if copy_to:
        shutil.copytree(shots, copy_to, dirs_exist_ok=True)
