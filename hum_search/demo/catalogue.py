"""The demo catalogue: the tunes of ``tunes.py`` rendered into a small music folder, with example hums.

``build_demo_catalogue(out_dir)`` renders every tune as a song with accompaniment into
``out_dir/<genre>/<slug>.<fmt>`` (formats taken in turn from ``formats``), tagged with title,
artist, album "hum-search demo" and genre; example hummed queries go to ``out_dir/hums/<slug>.wav``,
and ``out_dir/catalogue.json`` says where in each song its melody and its example hum sound. The
hums folder holds a ``.hum-search-ignore`` marker: it holds queries, not songs to index.
``hum_spec`` says which notes of a tune its example hum sings, and how (key, tempo, voice, syllable).
"""

from __future__ import annotations

import json
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from ..config import IGNORE_MARKER  # the indexer skips folders holding this file
from ..errors import HumSearchError
from .arrange import Arrangement, arrange
from .audio_files import write_audio, write_tags
from .hum import synth_hum
from .notation import excerpt
from .render import fluidsynth_available, render
from .tunes import TUNES, TUNES_BY_SLUG, Tune

log = logging.getLogger(__name__)

ALBUM = "hum-search demo"
HUMS_DIR = "hums"
CATALOGUE_FILE = "catalogue.json"
HUM_SR = 16000
ENGINES = ("auto", "fluidsynth", "additive")


@dataclass(frozen=True)
class HumSpec:
    start_note: int
    n_notes: int
    transpose: float
    tempo: float
    voice: str
    syllable: str
    seed: int


_VARIANTS = (  # (transpose, tempo, voice, syllable), taken in turn
    (0.0, 1.0, "male", "mm"),
    (3.0, 1.0, "female", "la"),
    (0.0, 0.85, "male", "da"),
    (-2.0, 1.15, "female", "mm"),
    (0.0, 1.0, "female", "la"),
    (5.0, 0.9, "male", "mm"),
)


def hum_spec(tune: Tune, index: int, *, min_s: float = 6.0, max_notes: int = 16) -> HumSpec:
    """The example hum of a tune: from its start (even ``index``) or from the first note of its second
    half (odd ``index``), at least 8 notes and about ``min_s`` seconds, with a variant of key, tempo,
    voice and syllable."""
    notes = tune.notes()
    start = 0
    if index % 2 == 1:
        half = notes[-1].end_s / 2
        start = next((i for i, n in enumerate(notes) if n.start_s >= half), 0)
        if len(notes) - start < 8:
            start = 0
    end = start
    while end < len(notes) and (end - start < 8 or notes[end - 1].end_s - notes[start].start_s < min_s):
        if end - start >= max_notes:
            break
        end += 1
    transpose, tempo, voice, syllable = _VARIANTS[index % len(_VARIANTS)]
    return HumSpec(start, end - start, transpose, tempo, voice, syllable, seed=1000 + index)


def arrangement_for(tune: Tune, *, seed: int = 0, passes: int | None = None) -> Arrangement:
    """The tune as a song: an intro bar, the melody twice (three times when it is under 15 s), an
    ending bar; instruments by genre."""
    notes = tune.notes()
    if passes is None:
        passes = 3 if notes[-1].end_s < 15.0 else 2
    return arrange(
        notes,
        key_root=tune.key_root,
        mode=tune.mode,
        style=tune.style,
        passes=passes,
        intro_beats=tune.beats_per_bar,
        seed=seed,
        lead_program=tune.lead_program,
        bpm=tune.bpm,
        beats_per_bar=tune.beats_per_bar,
        pickup_beats=tune.pickup_beats,
        pulse_beats=tune.pulse_beats,
    )


def select_tunes(slugs: Iterable[str] | None) -> list[Tune]:
    if slugs is None:
        return list(TUNES)
    out = []
    for s in slugs:
        if s not in TUNES_BY_SLUG:
            raise HumSearchError(f"no demo tune is called {s!r}", f"use one of: {', '.join(TUNES_BY_SLUG)}")
        out.append(TUNES_BY_SLUG[s])
    return out


def build_demo_catalogue(
    out_dir: str | os.PathLike,
    *,
    engine: str = "auto",
    formats: Sequence[str] = ("mp3", "flac", "wav"),
    sr: int = 44100,
    seed: int = 0,
    force: bool = False,
    tunes: Iterable[str] | None = None,
    hums: bool = True,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Render the demo songs into ``out_dir/<genre>/<slug>.<fmt>`` and return their paths (songs
    only; the example hums go to ``out_dir/hums/<slug>.wav``). Files that exist are kept unless
    ``force``. ``tunes``: slugs to build (default all). ``workers``: songs rendered at once (default:
    up to 4, one per CPU core). ``progress`` is called with a short line per file written."""
    if engine not in ENGINES:
        raise HumSearchError(f"unknown render engine {engine!r}", f"use one of {', '.join(ENGINES)}")
    formats = [f.lower().lstrip(".") for f in formats]
    if not formats:
        raise HumSearchError("no audio formats given", "give at least one of mp3, flac, wav, ogg, m4a")
    out = Path(out_dir)
    if engine == "auto":
        engine = "fluidsynth" if fluidsynth_available() else "additive"
        log.info("demo catalogue: rendering with %s", engine)
    selected = select_tunes(tunes)
    order = {t.slug: i for i, t in enumerate(TUNES)}
    jobs = [(tune, order[tune.slug]) for tune in selected]

    def build(job: tuple[Tune, int]) -> tuple[Path, dict, list[str]]:
        tune, i = job
        return _build_one(tune, i, out, engine=engine, fmt=formats[i % len(formats)], sr=sr, seed=seed,
                          force=force, hums=hums)

    n_workers = max(1, min(len(jobs), workers or min(4, os.cpu_count() or 1)))
    songs: list[Path] = []
    entries: list[dict] = []
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for path, entry, written in pool.map(build, jobs):
            songs.append(path)
            entries.append(entry)
            for line in written:
                if progress:
                    progress(line)
    if hums:
        marker = out / HUMS_DIR / IGNORE_MARKER
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("Example hummed queries, not songs: hum-search does not index this folder.\n")
    _write_catalogue(out, entries)
    return songs


def _build_one(tune: Tune, i: int, out: Path, *, engine: str, fmt: str, sr: int, seed: int, force: bool,
               hums: bool) -> tuple[Path, dict, list[str]]:
    written = []
    path = out / tune.genre / f"{tune.slug}.{fmt}"
    arr = arrangement_for(tune, seed=seed + i)
    if force or not path.exists():
        y = render(arr, sr=sr, engine=engine, seed=seed + i)
        write_audio(path, y, sr)
        write_tags(path, title=tune.title, artist=tune.artist, album=ALBUM, genre=tune.genre)
        written.append(f"song {path}")
    entry = {
        "slug": tune.slug,
        "title": tune.title,
        "artist": tune.artist,
        "genre": tune.genre,
        "file": path.relative_to(out).as_posix(),
        "duration_s": round(arr.duration_s, 3),
        "melody_passes": [
            {"pass": o.pass_index, "start_s": round(o.start_s, 3), "end_s": round(o.end_s, 3),
             "transpose": arr.pass_transpose[o.pass_index]}
            for o in arr.occurrences
        ],
    }
    if hums:
        spec = hum_spec(tune, i)
        hum_path = out / HUMS_DIR / f"{tune.slug}.wav"
        notes = excerpt(tune.notes(), spec.start_note, spec.n_notes)
        if force or not hum_path.exists():
            y = synth_hum(notes, transpose=spec.transpose, tempo=spec.tempo, voice=spec.voice,
                          syllable=spec.syllable, seed=spec.seed)
            write_audio(hum_path, y, HUM_SR)
            written.append(f"hum  {hum_path}")
        entry["hum"] = {
            "file": hum_path.relative_to(out).as_posix(),
            **asdict(spec),
            "song_times_s": [
                [round(o.offset_s + notes[0].start_s, 3), round(o.offset_s + notes[-1].end_s, 3)]
                for o in arr.occurrences
            ],
        }
    return path, entry, written


def _write_catalogue(out: Path, entries: list[dict]) -> None:
    path = out / CATALOGUE_FILE
    existing = {}
    if path.exists():
        try:
            existing = {e["slug"]: e for e in json.loads(path.read_text())["songs"]}
        except (ValueError, KeyError, TypeError):
            existing = {}
    for e in entries:
        existing[e["slug"]] = e
    order = {t.slug: i for i, t in enumerate(TUNES)}
    songs = sorted(existing.values(), key=lambda e: order.get(e["slug"], math.inf))
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"album": ALBUM, "songs": songs}, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def hum_paths(out_dir: str | os.PathLike) -> list[Path]:
    """The example hums written by ``build_demo_catalogue``."""
    return sorted((Path(out_dir) / HUMS_DIR).glob("*.wav"))
