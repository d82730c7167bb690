"""hum-search web app: hum a tune into the microphone (or upload a recording) and see which songs of
your collection it matches, where in each song, and why.

    make run                      # demo collection, or MUSIC=~/Music
    streamlit run app.py          # with HUM_SEARCH_STORE / HUM_SEARCH_MUSIC_ROOT set

The logic lives in hum_search/webapp.py; this file only lays out the page (docs/app.md).
"""

from __future__ import annotations

import logging
import os

import streamlit as st

from hum_search.config import Settings
from hum_search.errors import HumSearchError, StoreNotFoundError
from hum_search.web import page as w

log = logging.getLogger("hum_search.app")

st.set_page_config(page_title="hum-search", page_icon=":material/graphic_eq:", layout="wide", initial_sidebar_state="auto")

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


# --- resources, loaded once per process ------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def sound_model(key: tuple, _settings: Settings) -> w.SoundChannel:
    return w.load_sound_model(_settings)


@st.cache_resource(show_spinner=False)
def engine(key: tuple, _settings: Settings) -> w.AppEngine:
    """Store + Searcher (+ sound model) and a warm-up query. A failure (store missing, backend down)
    is not cached: the next rerun tries again."""
    return w.load_engine(_settings, sound_model(key, _settings))


@st.cache_data(ttl=30, show_spinner=False)
def count_files(folder: str) -> int:
    return w.count_audio_files(folder, w.UI_INDEX_MAX_FILES)


def load() -> tuple[Settings | None, w.AppEngine | None, str | None, bool]:
    """(settings, engine, error message, whether the error is a missing store)."""
    try:
        settings = Settings.from_env()
    except HumSearchError as e:
        return None, None, str(e), False
    try:
        with st.spinner("Loading the index and the models (once per server start)…"):
            return settings, engine(w.settings_key(settings), settings), None, False
    except StoreNotFoundError as e:
        return settings, None, str(e), True
    except HumSearchError as e:
        return settings, None, str(e), False
    except Exception as e:  # never a traceback in the page
        log.exception("loading the index failed")
        return settings, None, (f"the index could not be opened ({type(e).__name__}: {w.one_line(e)[:200]}). "
                                "Fix: check HUM_SEARCH_STORE and the server log"), False


# --- sidebar ---------------------------------------------------------------------------------------
def sidebar(settings: Settings | None, eng: w.AppEngine | None, stats) -> None:
    with st.sidebar:
        st.header("Catalogue")
        if settings is None:
            return
        backend, where = w.backend_description(settings)
        st.markdown(f"**Backend** · {backend}")
        st.caption(f"`{where}`")
        if stats is not None:
            st.markdown(f"**Songs** · {stats.songs}")
            if stats.genres:
                st.caption(" · ".join(f"{w.md_escape(g)} {n}" for g, n in sorted(stats.genres.items())))
        st.markdown("**Models**")
        melody = stats.spec.melody_model if stats is not None else "melody model"
        lines = [f"- Melody: `{melody}` — ready"]
        if eng is not None and eng.sound.embedder is not None:
            lines.append(f"- Sound: `{stats.spec.sound_model if stats else 'PANNs Cnn14'}` — ready")
        else:
            lines.append("- Sound (PANNs): off")
        device = (eng.sound.device if eng is not None else None) or "cpu"
        lines.append(f"- Device: {'GPU (' + device + ')' if device.startswith('cuda') else 'CPU'}")
        st.markdown("\n".join(lines))
        if eng is not None and eng.warmup_ms is not None:
            st.caption(f"Ready: warm-up query in {eng.warmup_ms:.0f} ms")
        st.divider()
        index_section(settings, eng)


def index_section(settings: Settings, eng: w.AppEngine | None) -> None:
    st.subheader("Add music")
    message = st.session_state.pop("index_message", None)
    if message:
        st.success(message)
    failed = st.session_state.pop("index_failed", None)
    if failed:
        with st.expander(f"{len(failed)} file(s) could not be indexed"):
            for path, reason in failed[:50]:
                st.caption(f"{w.md_escape(os.path.basename(path))}: {w.md_escape(reason)}")
    choices = w.index_folder_choices(settings)
    if not choices:
        st.caption("To index and play songs from this page, set HUM_SEARCH_MUSIC_ROOT to your music "
                   "folder (`make run MUSIC=~/Music`). Or index from a terminal:")
        st.code(w.cli_index_command(settings, "~/Music"), language="bash")
        return
    root = w.allowed_roots(settings)[0]
    choice = st.selectbox("Folder", choices, key="index_folder",
                          format_func=lambda c: f"{root.name}/ (everything)" if c == "." else c,
                          help=f"Folders inside the music folder {root}")
    try:
        folder = w.resolve_index_folder(settings, choice)
    except HumSearchError as e:
        st.error(str(e))
        return
    n = count_files(str(folder))
    if n == 0:
        st.caption("No audio files in this folder.")
    elif n > w.UI_INDEX_MAX_FILES:
        st.caption(f"More than {w.UI_INDEX_MAX_FILES} audio files: index them from a terminal "
                   "(parallel, resumable, with progress):")
        st.code(w.cli_index_command(settings, folder), language="bash")
    elif st.button(f"Index {n} audio file{'s' if n != 1 else ''}", key="index_button", width="stretch",
                   help="New and changed files are analysed; files already indexed are skipped"):
        run_indexing(settings, eng, folder)


def run_indexing(settings: Settings, eng: w.AppEngine | None, folder) -> None:
    bar = st.progress(0.0, text="Looking for audio files…")

    def progress(ev) -> None:
        if ev.total:
            name = os.path.basename(ev.outcome.path) if ev.outcome is not None else ""
            bar.progress(min(1.0, ev.done / ev.total), text=f"{ev.done} / {ev.total} {name}"[:60])

    try:
        report = w.index_folder(settings, folder, store=eng.store if eng is not None else None,
                                sound_embedder=eng.sound.embedder if eng is not None else None, progress=progress)
    except HumSearchError as e:
        bar.empty()
        st.error(str(e))
        return
    except Exception as e:
        log.exception("indexing %s failed", folder)
        bar.empty()
        st.error(f"indexing stopped ({type(e).__name__}: {w.one_line(e)[:200]}). Fix: index from a terminal: "
                 f"{w.cli_index_command(settings, folder)}")
        return
    st.session_state["index_message"] = w.index_summary(report)
    if report.failed:
        st.session_state["index_failed"] = list(report.failed)
    st.session_state.pop("outcome", None)
    count_files.clear()
    st.rerun()


# --- main ------------------------------------------------------------------------------------------
def mark_active(which: str) -> None:
    st.session_state["active_input"] = which


def pick_query(recording, upload) -> w.Query | None:
    """The input the person used last (a recording or an upload)."""
    inputs = {"recording": recording, "upload": upload}
    active = st.session_state.get("active_input")
    order = [active] if active in inputs else []
    order += [k for k in ("recording", "upload") if k not in order]
    for which in order:
        f = inputs[which]
        if f is not None:
            name = "your recording" if which == "recording" else (f.name or "the uploaded file")
            return w.Query(f.getvalue(), name, which)
    return None


def result_card(eng: w.Engine, resp, r, *, muted: bool, roots) -> None:
    mode = resp.mode
    with st.container(border=True, key=f"{'guess' if muted else 'match'}_card_{r.rank}"):
        if mode == "hum":
            info, plot = st.columns([2, 3], gap="medium")
        else:
            info, plot = st.container(), None
        with info:
            st.markdown(f'<p class="hs-title"><span class="hs-rank">{r.rank}</span>{w.html_escape(w.song_title(r.song))}</p>',
                        unsafe_allow_html=True)
            st.caption(w.md_escape(w.song_subtitle(r.song)))
            words, pct = w.score_words(r.score, mode)
            st.badge(f"{words} · {pct}", color=w.score_color(r.score, mode) if not muted else "gray")
            label = w.match_label(r)
            if label:
                st.markdown(f"**{label[0].upper() + label[1:]}**")
            play = w.playable(r.song, roots)
            if play.data is not None:
                st.audio(play.data, format=play.mime, start_time=w.start_second(r))
            else:
                st.caption(play.reason)
        if plot is not None:
            with plot:
                mp = w.explain_safely(eng.searcher, resp, r)
                if mp is not None:
                    st.altair_chart(w.match_chart(mp, legend=False), width="stretch")
                    st.markdown(w.plot_legend_html(r.transpose), unsafe_allow_html=True)
                else:
                    st.caption("No pitch plot for this song.")


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


def show_outcome(eng: w.Engine, outcome: w.Outcome, genres: list[str], roots) -> None:
    if outcome.error:
        st.error(outcome.error)
        return
    resp = outcome.response
    qa = resp.analysis
    about = []
    if qa is not None:
        about.append(f"{qa.duration_s:.1f} s recorded")
        if resp.mode == "hum":
            about.append(f"{qa.voiced_s:.1f} s of melody heard")
    about.append(f"searched in {resp.timing_ms.get('total', 0):.0f} ms")
    where = f" in {', '.join(genres)}" if genres else ""
    if not resp.results:
        st.warning(f"No song{w.md_escape(where)} matches this recording. Fix: "
                   + ("choose more genres, or " if genres else "") + w.MIN_QUERY_HINT + ", close to the microphone")
        st.caption(" · ".join(about))
        return
    if resp.confident:
        st.subheader("Best matches" if resp.mode == "hum" else "Songs that sound alike")
        st.caption(" · ".join(about))
        for r in resp.results:
            result_card(eng, resp, r, muted=False, roots=roots)
    else:
        st.warning("**No confident match.** None of the songs matches clearly. Fix: "
                   f"{w.MIN_QUERY_HINT}, a part you know well, close to the microphone. "
                   "The nearest guesses are below.")
        st.subheader("Nearest guesses")
        st.caption(" · ".join(about))
        for r in resp.results:
            result_card(eng, resp, r, muted=True, roots=roots)


def main() -> None:
    st.html(CSS)
    settings, eng, error, missing = load()
    stats, stats_error = None, None
    if eng is not None:
        try:
            stats = eng.store.stats()
        except HumSearchError as e:
            stats_error = str(e)
        except Exception as e:
            log.exception("store stats failed")
            stats_error = f"the index could not be read ({type(e).__name__}). Fix: check the server log"
    sidebar(settings, eng, stats)

    st.title(":material/graphic_eq: hum-search")
    st.markdown("Hum or sing a tune — find the song in your music collection, and where in it you are.")
    if error or stats_error:
        st.error(error or stats_error)
        if missing and settings is not None and settings.music_root:
            st.info("Or index your music folder now: **Add music** in the sidebar.")
        return
    if stats.songs == 0:
        fix = ("**Add music** in the sidebar" if settings.music_root else
               f"`{w.cli_index_command(settings, '~/Music')}`")
        st.info(f"The index at `{w.backend_description(settings)[1]}` is empty: no songs to search yet. Fix: index "
                f"your music: {fix}.")
        return

    col_in, col_opts = st.columns([3, 2], gap="medium")
    with col_in:
        tab_rec, tab_up = st.tabs([":material/mic: Record", ":material/upload_file: Upload a file"])
        with tab_rec:
            recording = st.audio_input("Hum or sing the tune for 5–15 seconds, then stop",
                                       sample_rate=w.RECORD_SAMPLE_RATE, key="recording",
                                       on_change=mark_active, args=("recording",))
        with tab_up:
            upload = st.file_uploader(f"A recording of the tune ({', '.join(w.UPLOAD_TYPES)}; "
                                      f"up to {w.MAX_UPLOAD_MB} MB)", type=w.UPLOAD_TYPES,
                                      max_upload_size=w.MAX_UPLOAD_MB, key="upload",
                                      on_change=mark_active, args=("upload",))
    sound_ok = eng.sound.embedder is not None
    with col_opts:
        mode_label = st.radio("Search by", list(w.MODE_LABELS.values()), horizontal=True, key="mode",
                              disabled=not sound_ok,
                              help="Hum / sing: the melody. Sounds like: instruments and texture (PANNs).")
        if not sound_ok:
            st.caption(f"“Sounds like” is off: {w.md_escape(w.sound_off_words(str(eng.sound.off) if eng.sound.off else None))}")
        options = w.genre_options(stats.genres)
        genres = st.multiselect("Genres", options, key="genres", placeholder="All genres",
                                format_func=lambda g: f"{g} ({stats.genres.get(g, 0)})")
        top = st.slider("Number of results", 1, w.MAX_TOP, w.DEFAULT_TOP, key="top")
    mode = "sound" if (mode_label == w.MODE_LABELS["sound"] and sound_ok) else "hum"

    query = pick_query(recording, upload)
    if query is None:
        st.info("Press the microphone, hum a tune for 5–15 seconds, and press stop — or upload a "
                "recording. The best matches appear here.")
        return
    key = (query.digest, query.name, mode, tuple(sorted(genres)), int(top), stats.songs)
    outcome = st.session_state.get("outcome")
    if outcome is None or outcome.key != key:
        with st.spinner("Listening to your tune…"):
            outcome = w.run_search(eng.searcher, query, mode=mode, genres=genres, top=int(top))
        outcome.key = key
        st.session_state["outcome"] = outcome
        fresh = True
    else:
        fresh = False
    with st.container(key="results"):
        show_outcome(eng, outcome, genres, w.allowed_roots(settings))
    if fresh:
        st.html(SCROLL_TO_RESULTS % query.digest[:12], unsafe_allow_javascript=True)


main()
