"""The Elasticsearch index layout, read from the JSON files in ``mappings/``.

The JSON files are the only copy of the mapping. This module loads them, fills in what depends on
the code (the vector dims and the ``IndexSpec`` in ``_meta``) and checks an existing index against
them. It never imports the Elasticsearch client, so the mapping can be tested without it.

Field names used by queries are constants here; a unit test checks that each one exists in the
JSON with the expected type, so a renamed field cannot silently break search.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from pathlib import Path
from typing import Any

from ...errors import StoreError, StoreFormatError
from ...types import IndexSpec

log = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parents[3] / "mappings"
SONGS_FILE = "songs.json"
FAILURES_FILE = "failures.json"

SONGS_KIND = "hum-search-songs"
FAILURES_KIND = "hum-search-failures"
META_KEY = "hum_search"

# --- field names the code reads or queries (checked against mappings/songs.json by the tests) -----
F_SONG_ID = "song_id"
F_PATH = "path"
F_GENRE = "genre"
F_HASH = "content_hash"
F_DURATION = "duration_s"
F_INDEXED_AT = "indexed_at"
F_HAS_SOUND = "has_sound"
F_N_SEGMENTS = "melody.n_segments"
SEGMENTS = "melody_segments"  # nested path
F_SEG_VECTOR = "melody_segments.vector"
F_SEG_START = "melody_segments.start_s"
F_SEG_END = "melody_segments.end_s"
F_SOUND = "sound_embedding"

META_FIELDS = ("song_id", "path", "title", "artist", "album", "genre", "duration_s", "content_hash", "file_size",
               "file_mtime", "indexed_at")
MELODY_SOURCE_FIELDS = ("melody.fps", "melody.n_segments", "melody.contour_f16", "melody.vectors_f16",
                        "melody.seg_start_f32", "melody.seg_end_f32")
MELODY_CONTOUR_FIELDS = ("melody.fps", "melody.contour_f16")  # the copy's contour alone (no segments)
# (field, expected mapping type); test_es_mapping.py asserts each against the JSON
QUERIED_FIELDS: dict[str, str] = {
    F_SONG_ID: "keyword", F_PATH: "keyword", F_GENRE: "keyword", F_HASH: "keyword", F_DURATION: "float",
    F_INDEXED_AT: "date", F_HAS_SOUND: "boolean", F_N_SEGMENTS: "integer", SEGMENTS: "nested",
    F_SEG_VECTOR: "dense_vector", F_SEG_START: "float", F_SEG_END: "float", F_SOUND: "dense_vector",
    "title": "text", "title.keyword": "keyword", "artist": "keyword", "album": "keyword", "file_size": "long",
    "file_mtime": "double", "melody.contour_f16": "binary", "melody.vectors_f16": "binary",
    "melody.seg_start_f32": "binary", "melody.seg_end_f32": "binary", "melody.fps": "float",
}

FAILURE_FIELDS = ("path", "reason", "failed_at")

_INDEX_SUFFIX = re.compile(r"^(?P<alias>.+)-(?P<n>\d{6})$")


def load(name: str, directory: Path | None = None) -> dict[str, Any]:
    """One index body (settings + mappings) from the mappings directory."""
    path = (directory or MAPPINGS_DIR) / name
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StoreError(
            f"the Elasticsearch mapping file {path} is missing",
            "run hum-search from a full checkout or installation that includes the mappings/ folder",
        ) from None
    except json.JSONDecodeError as e:
        raise StoreError(f"{path} is not valid JSON ({e})", "restore it from the repository") from None


def field(mapping: dict[str, Any], dotted: str) -> dict[str, Any] | None:
    """The mapping of a dotted field name (``melody_segments.vector``, ``title.keyword``), or None."""
    props = mapping.get("properties", {})
    prev: dict[str, Any] | None = None
    for part in dotted.split("."):
        node = props.get(part)
        if node is None and prev is not None:  # a multi-field such as title.keyword
            node = prev.get("fields", {}).get(part)
        if node is None:
            return None
        prev = node
        props = node.get("properties", {})
    return prev


def songs_index_body(spec: IndexSpec, directory: Path | None = None) -> dict[str, Any]:
    """The create-index body for the songs index: the JSON file with the spec's dims and the spec
    recorded in ``_meta``. The file holds the production dims; a spec with other dims (tests, or a
    retuned melody channel) gets its own dims here, so the index always matches the vectors."""
    body = copy.deepcopy(load(SONGS_FILE, directory))
    mapping = body["mappings"]
    for name, dims in ((F_SEG_VECTOR, spec.melody_dim), (F_SOUND, spec.sound_dim)):
        f = field(mapping, name)
        if f is None or f.get("type") != "dense_vector":
            raise StoreError(f"{SONGS_FILE} has no dense_vector field {name}", "restore mappings/ from the repository")
        if f.get("dims") != dims:
            log.debug("%s: mapping file has dims %s, the spec %s; using the spec's", name, f.get("dims"), dims)
            f["dims"] = int(dims)
    meta = mapping.setdefault("_meta", {}).setdefault(META_KEY, {})
    meta["spec"] = spec.to_dict()
    return body


def failures_index_body(directory: Path | None = None) -> dict[str, Any]:
    return copy.deepcopy(load(FAILURES_FILE, directory))


def mapping_version(directory: Path | None = None) -> int:
    return int(load(SONGS_FILE, directory)["mappings"]["_meta"][META_KEY]["mapping_version"])


def stored_spec(index_mapping: dict[str, Any], location: str) -> IndexSpec:
    """The IndexSpec recorded in an existing index's mapping (the ``mappings`` object of a
    GET /<index>/_mapping response), or StoreFormatError when it is not a hum-search index."""
    meta = (index_mapping.get("_meta") or {}).get(META_KEY) or {}
    if meta.get("kind") != SONGS_KIND or not isinstance(meta.get("spec"), dict):
        raise StoreFormatError(
            f"{location} is not a hum-search songs index (no _meta.{META_KEY}.spec)",
            "choose another index name with HUM_SEARCH_ES_INDEX, or delete that index",
        )
    return IndexSpec.from_dict(meta["spec"])


def check_index(index_mapping: dict[str, Any], spec: IndexSpec, location: str) -> None:
    """Refuse an index built with another spec, or whose vector dims disagree with it."""
    stored_spec(index_mapping, location).check_compatible(
        spec, location, "analyse your music again into a new index: HUM_SEARCH_ES_INDEX=NEW_NAME hum-search index "
        "DIR, then search with HUM_SEARCH_ES_INDEX=NEW_NAME (or point the alias at the new index)")
    for name, dims in ((F_SEG_VECTOR, spec.melody_dim), (F_SOUND, spec.sound_dim)):
        f = field(index_mapping, name)
        if f is None or f.get("type") != "dense_vector" or int(f.get("dims", -1)) != dims:
            raise StoreFormatError(
                f"the index at {location} maps {name} as {f!r}, the code needs a dense_vector of {dims} dims",
                "re-index into a new index (set HUM_SEARCH_ES_INDEX to a new name and run hum-search index)",
            )


def concrete_name(alias: str, n: int) -> str:
    """The n-th concrete index behind an alias: hum-songs -> hum-songs-000001."""
    return f"{alias}-{n:06d}"


def next_concrete_name(alias: str, current: str) -> str:
    m = _INDEX_SUFFIX.match(current)
    n = int(m.group("n")) + 1 if m and m.group("alias") == alias else 1
    return concrete_name(alias, n)


def failures_index_name(alias: str) -> str:
    return f"{alias}-failures"
