"""Why a result matched: the hum warped onto the song's melody along the alignment path."""

from __future__ import annotations

import numpy as np

from ..features import melody
from ..store.base import Store
from . import align
from .results import MatchPlot, Result, SearchResponse


def explain(store: Store, response: SearchResponse, result: Result) -> MatchPlot | None:
    """The picture of why ``result`` matched: the hum's contour transposed into the song's key and
    warped onto song time along the alignment path, over the song's contour around the match."""
    qa = response.analysis
    if qa is None or result.cost is None or result.match_start_s is None or result.transpose is None:
        return None
    rec = store.get([result.song.song_id], sound=False, segments=False).get(result.song.song_id)
    if rec is None or rec.melody is None:
        return None
    fps = melody.CONTOUR_FPS
    query = align.hum_query(qa.contour)
    a = int(result.match_start_s * fps)
    b = int(np.ceil(result.match_end_s * fps)) + 1
    region = rec.melody.contour[a:b] - result.transpose  # song in the hum's key
    if np.all(np.isnan(query)) or np.all(np.isnan(region)):
        return None
    # A match that runs off the song's end (its last hum frames aligned past it, as a wrong note
    # would be) is reported up to the end: the path needs at least one song frame per two hum
    # frames, so the region is made that long (frames without melody), and the path's points past
    # the song's end are not drawn.
    need = (len(query) + 1) // 2 + 1
    if len(region) < need:
        region = np.concatenate([region, np.full(need - len(region), np.nan, region.dtype)])
    qi, rj = align.alignment_path(query, region)
    inside = a + rj < len(rec.melody.contour)
    qi, rj = qi[inside], rj[inside]
    pad = int(2 * fps)
    lo, hi = max(0, a - pad), min(len(rec.melody.contour), b + pad)
    song_pitch = rec.melody.contour[lo:hi]
    # show the hum in the song's octave: shift by whole octaves to sit on the song's line
    hum = query[qi] + result.transpose
    ref = region[rj] + result.transpose
    ok = ~np.isnan(ref) & ~np.isnan(hum)
    octave = 12.0 * np.round(np.nanmedian(ref[ok] - hum[ok]) / 12.0) if ok.any() else 0.0
    return MatchPlot(song_time_s=np.arange(lo, hi) / fps, song_pitch=song_pitch,
                     hum_time_s=(a + rj) / fps, hum_pitch=hum + octave,
                     match_start_s=result.match_start_s, match_end_s=result.match_end_s)
