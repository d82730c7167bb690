"""``hum-search stats``: what the index holds (songs, genres, segments, sound embeddings, failures),
which models and format it was built with, where it is and how much disk it takes."""

from __future__ import annotations

import argparse
import shlex

from ..engine import open_engine
from ..features.sound import sound_status
from ..indexing.run import default_failures_file
from ._common import add_store_arg, human_bytes, json_line, settings_from_args, stderr


def register(subparsers) -> None:
    p = subparsers.add_parser("stats", help="what the index holds: songs per genre, models, store format",
                              description="Show what the index holds: songs, songs per genre, melody segments, "
                                          "songs with sound embeddings, files that failed to index, the models and "
                                          "store format it was built with, its location and size.",
                              epilog="exit status: 0 shown (an empty index too, with a note on stderr saying how to "
                                     "fill it); 2 the index could not be opened (missing, damaged, ...).")
    add_store_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    with open_engine(settings, sound="off") as engine:
        st = engine.store.stats()
    sound_ok, sound_line = sound_status(settings)
    extra = dict(st.extra or {})
    disk = extra.pop("disk_bytes", None)
    if disk is None:
        disk = extra.pop("primary_store_bytes", None)
    failures_file = None
    if st.kind == "embedded":
        path = default_failures_file(settings.store)
        failures_file = str(path) if path.exists() else None
    spec = st.spec.to_dict()
    data = {
        "location": st.location,
        "kind": st.kind,
        "songs": st.songs,
        "genres": dict(sorted(st.genres.items())),
        "songs_without_genre": max(0, st.songs - sum(st.genres.values())),
        "segments": st.segments,
        "with_sound": st.with_sound,
        "failures": st.failures,
        "failures_file": failures_file,
        "total_duration_s": extra.pop("total_duration_s", None),
        "disk_bytes": disk,
        "format_version": spec.get("format_version"),
        "models": {"melody": spec.get("melody_model"), "melody_dim": spec.get("melody_dim"),
                   "sound": spec.get("sound_model"), "sound_dim": spec.get("sound_dim")},
        "spec": spec,
        "sound_search_available": sound_ok,
        "sound_status": sound_line,
        "extra": extra,
    }
    if args.json:
        json_line(data)
    else:
        print(format_stats(data), flush=True)
    if st.songs == 0:
        stderr(f"note: the index at {st.location} holds no songs. Fix: index a music folder: "
               f"hum-search index DIR --store {shlex.quote(st.location)}")
    return 0


def format_stats(d: dict) -> str:
    m = d["models"]
    dur = d.get("total_duration_s")
    hours = ""
    if isinstance(dur, (int, float)) and dur:
        hours = f" ({dur / 3600:.1f} h of audio)" if dur >= 3600 else f" ({dur / 60:.1f} min of audio)"
    rows = [
        ("store", f"{d['location']} ({d['kind']}, format version {d['format_version']})"),
        ("songs", f"{d['songs']}{hours}"),
        ("melody", f"{d['segments']} segments, model {m['melody']} ({m['melody_dim']}-d)"),
        ("sound", f"{d['with_sound']} of {d['songs']} songs have an embedding, "
                  f"model {m['sound']} ({m['sound_dim']}-d)"),
        ("sound model", d["sound_status"]),
        ("failures", f"{d['failures']} files could not be indexed"
                     + (f" (see {d['failures_file']})" if d["failures"] and d.get("failures_file") else "")),
        ("disk", human_bytes(d["disk_bytes"])),
    ]
    for key, value in sorted(d.get("extra", {}).items()):
        rows.append((key.replace("_", " "), str(value)))
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    genres = d["genres"]
    lines.append(f"{'genres:'.ljust(width)} {len(genres)}" + ("" if genres else " (no genre tags or folders)"))
    gw = max((len(g) for g in genres), default=0)
    for g, n in sorted(genres.items(), key=lambda kv: (-kv[1], kv[0].lower())):
        lines.append(f"  {g.ljust(gw)}  {n}")
    if d["songs_without_genre"]:
        lines.append(f"  {'(none)'.ljust(gw)}  {d['songs_without_genre']}")
    return "\n".join(lines)
