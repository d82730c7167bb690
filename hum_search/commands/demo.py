"""``hum-search demo``: render the demo catalogue (public-domain tunes with accompaniment) and
example hums into a folder, ready to index."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..demo.catalogue import ENGINES, HUMS_DIR, build_demo_catalogue, hum_paths
from ..demo.render import fluidsynth_available
from ..demo.tunes import TUNES

DEFAULT_OUT = "demo-music"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="render the demo music collection and example hums",
        description=(
            "Render about 25 public-domain tunes as songs with accompaniment into OUT/<genre>/ "
            "(mp3, flac and wav, tagged), example hummed queries into OUT/hums/, and OUT/catalogue.json "
            "saying where each melody and hum sit in the songs. Existing files are kept unless --force."
        ),
    )
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument(
        "--engine",
        choices=ENGINES,
        default="auto",
        help="renderer: fluidsynth with a General MIDI soundfont, the built-in additive synthesizer, or "
        "auto (fluidsynth when installed; default)",
    )
    p.add_argument("--force", action="store_true", help="render again even where files exist")
    p.add_argument("--tune", action="append", metavar="SLUG", dest="tunes",
                   help="only this tune (repeatable); see --list")
    p.add_argument("--list", action="store_true", help="list the tunes and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.list:
        for t in TUNES:
            print(f"{t.slug:32s} {t.title} ({t.artist}) [{t.genre}]")
        return 0
    engine = args.engine
    if engine == "auto":
        engine = "fluidsynth" if fluidsynth_available() else "additive"
        if engine == "additive":
            print("fluidsynth or its soundfont is not installed: using the built-in additive synthesizer")
    out = Path(args.out)
    started = time.monotonic()
    written: list[str] = []

    def progress(line: str) -> None:
        written.append(line)
        print(f"  wrote {line.split(maxsplit=1)[1]}", flush=True)

    songs = build_demo_catalogue(out, engine=engine, force=args.force, tunes=args.tunes, progress=progress)
    n_new = sum(1 for w in written if w.startswith("song"))
    print(
        f"{len(songs)} demo songs in {out}/ ({n_new} rendered with {engine}, {len(songs) - n_new} already there) "
        f"in {time.monotonic() - started:.0f} s"
    )
    hums = hum_paths(out)
    if hums:
        example = next((h for h in hums if h.stem == "twinkle-twinkle"), hums[0])
        print(f"example hums in {out / HUMS_DIR}/, e.g.: hum-search query {example}")
    return 0
