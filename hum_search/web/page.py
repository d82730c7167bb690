"""The page: Streamlit calls that lay out the sidebar, the input, the controls and the result cards
(``app.py`` at the project root runs ``main`` on every rerun). The logic they show lives in the
other modules of this package, which the tests call directly.

Everything a user supplied (file names, song titles and tags, folder names) goes through
``format.plain`` or ``format.html_text`` before Streamlit sees it, and every failure is one line
(``session.failure_line``), so no name turns into Markdown and no traceback reaches the page.
``main`` is the last boundary: whatever escapes the code below becomes one line too.

No icon here comes from a CDN: the page icon is an emoji (Streamlit fetches a ``:material/...:``
page icon from fonts.gstatic.com for the favicon); the Material icons in the title and tabs use
the icon font bundled with Streamlit.
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from ..config import Settings
from ..errors import HumSearchError, StoreNotFoundError
from . import folders, session
from .chart import match_chart, plot_legend_html
from .format import (
    MODE_LABELS,
    backend_description,
    genre_options,
    html_text,
    index_summary,
    match_label,
    message,
    plain,
    score_badge,
    song_subtitle,
    song_title,
    sound_off_words,
    start_second,
)
from .media import playable

log = logging.getLogger(__name__)

PAGE_ICON = "🎵"  # an emoji favicon is a data: URL; a :material/...: one is fetched from a CDN
FAILED_FILES_SHOWN = 50
BUG_FIX = "reload the page; if it keeps failing, report it with the server log"

CSS = """
<style>
/* nearest guesses of a search without a confident match: shown, but muted */
[class*="st-key-guess_card"] { opacity: 0.62; filter: saturate(0.4); }
[class*="st-key-guess_card"]:hover { opacity: 0.9; }
/* the card title line */
.hs-title { font-size: 1.12rem; font-weight: 650; line-height: 1.3; margin: 0; overflow-wrap: anywhere; }
.hs-rank { color: rgba(128,128,128,0.9); font-weight: 500; margin-right: 0.35rem; }
.hs-legend { font-size: 0.85rem; color: rgba(49,51,63,0.65); line-height: 1.45; margin: 0 0 0.35rem 0; }
.hs-key { font-weight: 700; white-space: nowrap; }
[class*="st-key-results"] { scroll-margin-top: 3.75rem; }
.block-container { padding-top: 2.2rem; max-width: 1200px; }
@media (max-width: 640px) {
  .block-container { padding-left: 0.8rem; padding-right: 0.8rem; padding-top: 3rem; }
  h1 { font-size: 2rem !important; }
}
</style>
"""

# On a phone the search controls stack above the results: after a new search, bring the results
# into view (only on narrow screens, and only when they start below the middle of the screen).
SCROLL_TO_RESULTS = """<script>/* %s */ (() => {
  if (window.innerWidth > 700) return;
  const go = (n) => {
    const el = document.querySelector('[class*="st-key-results"]');
    if (!el) { if (n > 0) setTimeout(() => go(n - 1), 150); return; }
    if (el.getBoundingClientRect().top > window.innerHeight * 0.5) el.scrollIntoView({behavior: "smooth", block: "start"});
  };
  setTimeout(() => go(20), 300);
})();</script>"""


# --- resources, loaded once per process ------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def sound_model(key: tuple, _settings: Settings) -> session.SoundChannel:
    return session.load_sound_model(_settings)


@st.cache_resource(show_spinner=False)
def engine(key: tuple, _settings: Settings) -> session.AppEngine:
    """Store + Searcher (+ sound model) and a warm-up query. A failure (store missing, backend down)
    is not cached: the next rerun tries again."""
    return session.load_engine(_settings, sound_model(key, _settings))


@st.cache_data(ttl=30, show_spinner=False)
def count_files(folder: str, root: str) -> int:
    return folders.count_audio_files(folder, root, folders.UI_INDEX_MAX_FILES)


def load(settings: Settings) -> tuple[session.AppEngine | None, str | None, bool]:
    """(engine, error line, whether the error is a missing store)."""
    try:
        with st.spinner("Loading the index and the models (once per server start)…"):
            return engine(session.settings_key(settings), settings), None, False
    except StoreNotFoundError as e:
        return None, message(e, settings), True
    except Exception as e:
        return None, session.failure_line(e, "loading the index", "check HUM_SEARCH_STORE and the server log",
                                          settings), False


def store_stats(eng: session.AppEngine, settings: Settings):
    """(stats, error line)."""
    try:
        return eng.store.stats(), None
    except Exception as e:
        return None, session.failure_line(e, "reading the index", "check the server log", settings)


# --- sidebar ---------------------------------------------------------------------------------------
def sidebar(settings: Settings | None, eng: session.AppEngine | None, stats) -> None:
    with st.sidebar:
        st.header("Catalogue")
        if settings is None:
            return
        backend, where = backend_description(settings)
        st.markdown(f"**Backend** · {backend}")
        st.caption(plain(where))
        if stats is not None:
            st.markdown(f"**Songs** · {stats.songs}")
            if stats.genres:
                st.caption(" · ".join(f"{plain(g)} {n}" for g, n in sorted(stats.genres.items())))
        st.markdown("**Models**")
        melody = stats.spec.melody_model if stats is not None else "melody model"
        lines = [f"- Melody: {plain(melody)} — ready"]
        if eng is not None and eng.sound.embedder is not None:
            lines.append(f"- Sound: {plain(stats.spec.sound_model if stats else 'PANNs Cnn14')} — ready")
        else:
            lines.append("- Sound (PANNs): off")
        device = (eng.sound.device if eng is not None else None) or "cpu"
        lines.append(f"- Device: {'GPU (' + plain(device) + ')' if device.startswith('cuda') else 'CPU'}")
        st.markdown("\n".join(lines))
        if eng is not None and eng.warmup_ms is not None:
            st.caption(f"Ready: warm-up query in {eng.warmup_ms:.0f} ms")
        st.divider()
        index_section(settings, eng)


def index_section(settings: Settings, eng: session.AppEngine | None) -> None:
    st.subheader("Add music")
    done = st.session_state.pop("index_message", None)
    if done:
        st.success(plain(done))
    failed = st.session_state.pop("index_failed", None)
    if failed:
        with st.expander(f"{len(failed)} file(s) could not be indexed"):
            for path, reason in failed[:FAILED_FILES_SHOWN]:
                st.caption(f"{plain(os.path.basename(path))}: {plain(message(reason, settings))}")
    choices = folders.index_folder_choices(settings)
    if not choices:
        st.caption(plain(folders.music_root_problem(settings) or "The music folder cannot be read.")
                   + ". Or index from a terminal:")
        st.code(folders.cli_index_command(settings, "~/Music"), language="bash")
        return
    root = folders.allowed_roots(settings)[0]
    choice = st.selectbox("Folder", choices, key="index_folder",
                          format_func=lambda c: f"{root.name}/ (everything)" if c == "." else c,
                          help=plain(f"Folders inside the music folder {root}"))
    try:
        folder = folders.resolve_index_folder(settings, choice)
    except HumSearchError as e:
        st.error(plain(e))
        return
    n = count_files(str(folder), str(root))
    if n == 0:
        st.caption("No audio files in this folder.")
    elif n > folders.UI_INDEX_MAX_FILES:
        st.caption(f"More than {folders.UI_INDEX_MAX_FILES} audio files: index them from a terminal "
                   "(parallel, resumable, with progress):")
        st.code(folders.cli_index_command(settings, folder), language="bash")
    elif st.button(f"Index {n} audio file{'s' if n != 1 else ''}", key="index_button", width="stretch",
                   help="New and changed files are analysed; files already indexed are skipped"):
        run_indexing(settings, eng, folder)


def run_indexing(settings: Settings, eng: session.AppEngine | None, folder) -> None:
    bar = st.progress(0.0, text="Looking for audio files…")

    def progress(ev) -> None:
        if ev.total:
            name = os.path.basename(ev.outcome.path) if ev.outcome is not None else ""
            bar.progress(min(1.0, ev.done / ev.total), text=plain(f"{ev.done} / {ev.total} {name}"[:60]))

    try:
        report = folders.index_folder(settings, folder, store=eng.store if eng is not None else None,
                                      sound_embedder=eng.sound.embedder if eng is not None else None,
                                      progress=progress)
    except Exception as e:
        bar.empty()
        st.error(plain(session.failure_line(
            e, "indexing", f"index from a terminal: {folders.cli_index_command(settings, folder)}", settings)))
        return
    st.session_state["index_message"] = index_summary(report)
    if report.failed:
        st.session_state["index_failed"] = list(report.failed)
    st.session_state.pop("outcome", None)
    count_files.clear()
    st.rerun()


# --- input and controls ------------------------------------------------------------------------------
def mark_active(which: str) -> None:
    st.session_state["active_input"] = which


def pick_query(recording, upload) -> session.Query | None:
    """The input the person used last (a recording or an upload)."""
    inputs = {"recording": recording, "upload": upload}
    active = st.session_state.get("active_input")
    order = [active] if active in inputs else []
    order += [k for k in ("recording", "upload") if k not in order]
    for which in order:
        f = inputs[which]
        if f is not None:
            name = "your recording" if which == "recording" else (f.name or "the uploaded file")
            return session.Query(f.getvalue(), name, which)
    return None


def inputs():
    """The recorder and the uploader, in two tabs: (recording, upload)."""
    tab_rec, tab_up = st.tabs([":material/mic: Record", ":material/upload_file: Upload a file"])
    with tab_rec:
        recording = st.audio_input("Hum or sing the tune for 5–15 seconds, then stop",
                                   sample_rate=session.RECORD_SAMPLE_RATE, key="recording",
                                   on_change=mark_active, args=("recording",))
    with tab_up:
        upload = st.file_uploader(f"A recording of the tune ({', '.join(session.UPLOAD_TYPES)}; "
                                  f"up to {session.MAX_UPLOAD_MB} MB)", type=session.UPLOAD_TYPES,
                                  max_upload_size=session.MAX_UPLOAD_MB, key="upload",
                                  on_change=mark_active, args=("upload",))
    return recording, upload


def controls(eng: session.AppEngine, stats) -> tuple[str, list[str], int]:
    """The mode radio, the genre filter and the number of results: (mode, genres, top)."""
    sound_ok = eng.sound.embedder is not None
    mode_label = st.radio("Search by", list(MODE_LABELS.values()), horizontal=True, key="mode",
                          disabled=not sound_ok,
                          help="Hum / sing: the melody. Sounds like: instruments and texture (PANNs).")
    if not sound_ok:
        st.caption("“Sounds like” is off: " + plain(message(sound_off_words(eng.sound.off), eng.settings)))
    genres = st.multiselect("Genres", genre_options(stats.genres), key="genres", placeholder="All genres",
                            format_func=lambda g: f"{g} ({stats.genres.get(g, 0)})")
    top = st.slider("Number of results", 1, session.MAX_TOP, session.DEFAULT_TOP, key="top")
    mode = "sound" if (mode_label == MODE_LABELS["sound"] and sound_ok) else "hum"
    return mode, list(genres), int(top)


# --- results -------------------------------------------------------------------------------------------
def result_card(eng: session.AppEngine, resp, r, *, muted: bool, roots, no_root: str | None) -> None:
    mode = resp.mode
    with st.container(border=True, key=f"{'guess' if muted else 'match'}_card_{r.rank}"):
        if mode == "hum":
            info, plot = st.columns([2, 3], gap="medium")
        else:
            info, plot = st.container(), None
        with info:
            st.markdown(f'<p class="hs-title"><span class="hs-rank">{r.rank}</span>{html_text(song_title(r.song))}</p>',
                        unsafe_allow_html=True)
            st.caption(plain(song_subtitle(r.song)))
            badge, colour = score_badge(r.score, mode)
            st.badge(badge, color="gray" if muted else colour)
            label = match_label(r)
            if label:
                st.markdown(f"**{label}**")
            play = playable(r.song, roots, no_root=no_root)
            if play.data is not None:
                st.audio(play.data, format=play.mime, start_time=start_second(r))
            else:
                st.caption(plain(play.reason))
        if plot is not None:
            with plot:
                mp = session.explain_safely(eng.searcher, resp, r)
                if mp is not None:
                    st.altair_chart(match_chart(mp, legend=False), width="stretch")
                    st.markdown(plot_legend_html(r.transpose), unsafe_allow_html=True)
                else:
                    st.caption("No pitch plot for this song.")


def show_outcome(eng: session.AppEngine, outcome: session.Outcome, genres: list[str]) -> None:
    if outcome.error:
        st.error(plain(outcome.error))
        return
    settings = eng.settings
    roots, no_root = folders.allowed_roots(settings), folders.music_root_problem(settings)
    resp = outcome.response
    qa = resp.analysis
    about = []
    if qa is not None:
        about.append(f"{qa.duration_s:.1f} s recorded")
        if resp.mode == "hum":
            about.append(f"{qa.voiced_s:.1f} s of melody heard")
    about.append(f"searched in {resp.timing_ms.get('total', 0):.0f} ms")
    if not resp.results:
        where = f" in {', '.join(genres)}" if genres else ""
        st.warning(plain(f"No song{where} matches this recording. Fix: "
                         + ("choose more genres, or " if genres else "") + session.MIN_QUERY_HINT
                         + ", close to the microphone"))
        st.caption(" · ".join(about))
        return
    if resp.confident:
        st.subheader("Best matches" if resp.mode == "hum" else "Songs that sound alike")
    else:
        hint = resp.hint
        st.warning("**No confident match.** None of the songs matches clearly. Fix: "
                   + (plain(hint) if hint else f"{session.MIN_QUERY_HINT}, a part you know well, close to the microphone")
                   + ". The nearest guesses are below.")
        st.subheader("Nearest guesses")
    st.caption(" · ".join(about))
    for r in resp.results:
        result_card(eng, resp, r, muted=not resp.confident, roots=roots, no_root=no_root)


def search_section(eng: session.AppEngine, stats) -> None:
    """The input, the controls and, once there is a recording or an upload, its results."""
    col_in, col_opts = st.columns([3, 2], gap="medium")
    with col_in:
        recording, upload = inputs()
    with col_opts:
        mode, genres, top = controls(eng, stats)
    query = pick_query(recording, upload)
    if query is None:
        st.info("Press the microphone, hum a tune for 5–15 seconds, and press stop — or upload a "
                "recording. The best matches appear here.")
        return
    key = (query.digest, query.name, mode, tuple(sorted(genres)), top, stats.songs)
    outcome = st.session_state.get("outcome")
    fresh = outcome is None or outcome.key != key
    if fresh:
        with st.spinner("Listening to your tune…"):
            outcome = session.run_search(eng.searcher, query, mode=mode, genres=genres, top=top)
        outcome.key = key
        st.session_state["outcome"] = outcome
    with st.container(key="results"):
        show_outcome(eng, outcome, genres)
    if fresh:
        st.html(SCROLL_TO_RESULTS % query.digest[:12], unsafe_allow_javascript=True)


# --- the page --------------------------------------------------------------------------------------------
def render() -> None:
    st.html(CSS)
    try:
        settings = Settings.from_env()
    except Exception as e:
        settings, eng, stats, missing = None, None, None, False
        error = session.failure_line(e, "reading the settings", "check the HUM_SEARCH_* variables")
    else:
        session.configure_logging(settings)
        eng, error, missing = load(settings)
        stats = None
        if eng is not None:
            stats, error = store_stats(eng, settings)
    sidebar(settings, eng, stats)

    st.title(":material/graphic_eq: hum-search")
    st.markdown("Hum or sing a tune — find the song in your music collection, and where in it you are.")
    if error:
        st.error(plain(error))
        if missing and folders.allowed_roots(settings):
            st.info("Or index your music folder now: **Add music** in the sidebar.")
        return
    if stats.songs == 0:
        fix = ("**Add music** in the sidebar" if folders.allowed_roots(settings) else
               "`" + folders.cli_index_command(settings, "~/Music").replace("`", "'") + "`")
        st.info(f"The index at {plain(backend_description(settings)[1])} is empty: no songs to search yet. "
                f"Fix: index your music: {fix}.")
        return
    search_section(eng, stats)


def main() -> None:
    """The page, with the last error boundary: a bug anywhere below is one line, never a traceback
    (Streamlit's st.rerun and st.stop are BaseExceptions and pass through)."""
    st.set_page_config(page_title="hum-search", page_icon=PAGE_ICON, layout="wide", initial_sidebar_state="auto")
    try:
        render()
    except Exception as e:
        st.error(plain(session.failure_line(e, "drawing the page", BUG_FIX)))
