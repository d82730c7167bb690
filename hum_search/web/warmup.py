"""A warm-up query at start-up, so that the first person to hum does not wait for imports, caches
and lazily built tables.

Measured (docs/app.md, "Loading once, warm-up"): without it, the first query in a fresh process
took about 70 ms more search time (200 ms against 130 ms), and its page paid 0.7–1.5 s more to
import Altair for the first plot. The warm-up itself takes about 1 s, mostly that import.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING

from ..demo.tunes import TUNES_BY_SLUG
from .format import redact

if TYPE_CHECKING:  # pragma: no cover
    from ..search.searcher import Searcher

log = logging.getLogger(__name__)

WARMUP_SECONDS = 5.0  # long enough for the pitch tracker, kNN and alignment to run as for a real hum
WARMUP_TUNE = "twinkle-twinkle"


def warmup_wav(sr: int, seconds: float = WARMUP_SECONDS) -> bytes:
    """A short hum-like melody (a demo tune's opening: a few harmonics with vibrato) as 16-bit WAV
    bytes at ``sr``, as a recording arrives from the browser. Built directly rather than with the
    demo's hum synthesizer, which takes seconds at 48 kHz."""
    import numpy as np
    import soundfile as sf

    notes = [n for n in TUNES_BY_SLUG[WARMUP_TUNE].notes() if n.start_s < seconds]
    n = int((notes[-1].end_s + 0.3) * sr)
    t = np.arange(n) / sr
    f0 = np.zeros(n)
    amp = np.zeros(n)
    for note in notes:
        a, b = int(note.start_s * sr), min(n, int((note.start_s + 0.92 * note.dur_s) * sr))
        f0[a:b] = 440.0 * 2 ** ((note.pitch - 12 - 69) / 12)
        amp[a:b] = 1.0
    idx = np.maximum.accumulate(np.where(f0 > 0, np.arange(n), 0))  # hold the last note through gaps
    f0 = np.maximum(f0[idx], f0[f0 > 0][0])
    f0 = f0 * 2 ** (0.15 * np.sin(2 * np.pi * 5.5 * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum(np.sin(k * phase) / k for k in (1, 2, 3, 4)) * np.convolve(amp, np.ones(480) / 480, "same")
    y = (0.3 * y / (np.max(np.abs(y)) + 1e-9)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def warm_up_searcher(searcher: "Searcher", sr: int) -> tuple[float | None, str | None]:
    """Run one query end to end (decode, pitch tracking, kNN, alignment, the plot data and the chart
    library). Returns (milliseconds, None) or (None, why it failed); never raises."""
    t0 = time.perf_counter()
    try:
        resp = searcher.search(io.BytesIO(warmup_wav(sr)), top=3, query_name="warm-up hum")
        for r in resp.results[:1]:
            searcher.explain(resp, r)
        import altair  # noqa: F401  (the first chart would otherwise pay for the import)
        import pandas  # noqa: F401
    except Exception as e:  # an empty or unreachable store is reported elsewhere
        reason = redact(e)[:200]
        log.info("warm-up query failed: %s", reason)
        return None, reason
    return 1e3 * (time.perf_counter() - t0), None
