"""The "why it matched" plot: the song's melody around the match (grey, gaps where no melody is
heard), the matched span shaded, and the hum over it, transposed into the song's key and warped
onto song time (Altair / Vega-Lite, from ``Searcher.explain``'s MatchPlot)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .format import html_text, transpose_words

if TYPE_CHECKING:  # pragma: no cover
    from ..search.results import MatchPlot

NOTE_NAMES_JS = "['C','C♯','D','D♯','E','F','F♯','G','G♯','A','A♯','B']"
SONG_COLOR = "#9AA3B2"
SONG_TEXT_COLOR = "#6B7385"  # the same grey, dark enough for text
HUM_COLOR = "#E4572E"
MAX_PLOT_POINTS = 1200  # per line: more adds nothing visible at card width and slows the browser


def _thin(n: int, limit: int = MAX_PLOT_POINTS) -> slice:
    return slice(None, None, max(1, math.ceil(n / limit)))


def plot_frames(mp: "MatchPlot", hum_label: str = "your hum"):
    """Two tidy DataFrames (song, hum) with columns t (s), pitch (MIDI, NaN = none), line."""
    import numpy as np
    import pandas as pd

    s = _thin(len(mp.song_time_s))
    h = _thin(len(mp.hum_time_s))
    song = pd.DataFrame({"t": np.asarray(mp.song_time_s, float)[s], "pitch": np.asarray(mp.song_pitch, float)[s],
                         "line": "song melody"})
    hum = pd.DataFrame({"t": np.asarray(mp.hum_time_s, float)[h], "pitch": np.asarray(mp.hum_pitch, float)[h],
                        "line": hum_label})
    return song, hum


def match_chart(mp: "MatchPlot", *, hum_label: str = "your hum", height: int = 170, legend: bool = True):
    """The Altair chart (see the module docstring)."""
    import altair as alt
    import numpy as np
    import pandas as pd

    song, hum = plot_frames(mp, hum_label)
    pitches = np.concatenate([song["pitch"].to_numpy(), hum["pitch"].to_numpy()])
    pitches = pitches[np.isfinite(pitches)]
    lo, hi = (float(pitches.min()) - 1.5, float(pitches.max()) + 1.5) if len(pitches) else (55.0, 75.0)
    t_lo = float(np.nanmin(song["t"])) if len(song) else float(mp.match_start_s)
    t_hi = float(np.nanmax(song["t"])) if len(song) else float(mp.match_end_s)
    x = alt.X("t:Q", title=None, scale=alt.Scale(domain=[t_lo, t_hi], nice=False),
              axis=alt.Axis(labelExpr="floor(datum.value / 60) + ':' + format(floor(datum.value % 60), '02d')",
                            tickCount=6, grid=False))
    y = alt.Y("pitch:Q", title=None, scale=alt.Scale(domain=[lo, hi], nice=False, zero=False),
              axis=alt.Axis(labelExpr=f"{NOTE_NAMES_JS}[round(datum.value) % 12] + (floor(round(datum.value) / 12) - 1)",
                            tickMinStep=1, tickCount=5, gridOpacity=0.35))
    color = alt.Color("line:N", title=None,
                      scale=alt.Scale(domain=["song melody", hum_label], range=[SONG_COLOR, HUM_COLOR]),
                      legend=alt.Legend(orient="bottom", direction="horizontal", symbolType="stroke",
                                        labelFontSize=12, symbolStrokeWidth=3) if legend else None)
    band = alt.Chart(pd.DataFrame({"t": [mp.match_start_s], "b": [mp.match_end_s]})).mark_rect(
        color=HUM_COLOR, opacity=0.08).encode(x=x, x2="b:Q")
    song_line = alt.Chart(song).mark_line(strokeWidth=4, strokeCap="round", opacity=0.85).encode(
        x=x, y=y, color=color, tooltip=[alt.Tooltip("t:Q", title="song time (s)", format=".1f")])
    hum_line = alt.Chart(hum).mark_line(strokeWidth=2, strokeCap="round").encode(x=x, y=y, color=color)
    return (band + song_line + hum_line).properties(height=height).configure_view(stroke=None)


def plot_legend_html(transpose: float | None) -> str:
    """The plot's key, under it, in the lines' colours (HTML for st.markdown)."""
    shift = transpose_words(transpose)
    return (f'<p class="hs-legend"><span class="hs-key" style="color:{HUM_COLOR}">━ your hum</span>'
            f'{" (" + html_text(shift) + ")" if shift else ""} over '
            f'<span class="hs-key" style="color:{SONG_TEXT_COLOR}">━ the song\'s melody</span>; shaded: the match</p>')
